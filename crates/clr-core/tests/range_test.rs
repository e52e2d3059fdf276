//! LR range test analysis on synthetic curves: clean, noisy, and without a rise.

use clr_core::{suggest_from_accuracy, suggest_from_loss, RangeTestError};

/// The paper's Figure-3-like curve: flat at 0.1 up to lr 0.002, linear rise to 0.6 at 0.006,
/// flat plateau to 0.009, then falling.
fn accuracy(lr: f64) -> f64 {
    if lr < 0.002 {
        0.1
    } else if lr < 0.006 {
        0.1 + (lr - 0.002) * 125.0
    } else if lr < 0.009 {
        0.6
    } else {
        0.6 - (lr - 0.009) * 200.0
    }
}

fn lrs() -> Vec<f64> {
    (1..=150).map(|i| i as f64 * 1e-4).collect()
}

/// Deterministic pseudo-random noise in [-1, 1] (xorshift).
fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 52) as f64 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn clean_rise_plateau_fall() {
    let lrs = lrs();
    let acc: Vec<f64> = lrs.iter().map(|&l| accuracy(l)).collect();
    let s = suggest_from_accuracy(&lrs, &acc).unwrap();
    assert!((0.0020..=0.0028).contains(&s.base_lr), "base {}", s.base_lr);
    assert!((0.0055..=0.0065).contains(&s.max_lr), "max {}", s.max_lr);
    assert_eq!(s.base_lr_third, s.max_lr / 3.0);
    assert_eq!(s.base_lr_quarter, s.max_lr / 4.0);
    assert!(
        s.reason.contains("base_lr") && s.reason.contains("max_lr"),
        "{}",
        s.reason
    );
    assert_eq!(s.smoothed.len(), lrs.len());
}

#[test]
fn noisy_curve_gives_nearly_the_same_suggestion() {
    let lrs = lrs();
    for seed in [1, 7, 42, 1234] {
        let acc: Vec<f64> = lrs
            .iter()
            .zip(noise(lrs.len(), seed))
            .map(|(&l, e)| accuracy(l) + 0.04 * e)
            .collect();
        let s = suggest_from_accuracy(&lrs, &acc).unwrap();
        assert!(
            (0.0015..=0.0033).contains(&s.base_lr),
            "seed {seed}: base {}",
            s.base_lr
        );
        assert!(
            (0.0050..=0.0075).contains(&s.max_lr),
            "seed {seed}: max {}",
            s.max_lr
        );
        assert!(
            s.noise > 0.005 && s.noise < 0.06,
            "seed {seed}: noise {}",
            s.noise
        );
    }
}

#[test]
fn spike_does_not_become_max_lr() {
    let lrs = lrs();
    let mut acc: Vec<f64> = lrs.iter().map(|&l| accuracy(l)).collect();
    acc[10] = 0.95; // a single lucky evaluation at lr 0.0011
    let s = suggest_from_accuracy(&lrs, &acc).unwrap();
    assert!(s.max_lr > 0.005, "{}", s.max_lr);
}

#[test]
fn no_rise_is_an_error() {
    let lrs = lrs();
    let acc: Vec<f64> = noise(lrs.len(), 3).iter().map(|e| 0.1 + 0.02 * e).collect();
    let e = suggest_from_accuracy(&lrs, &acc).unwrap_err();
    assert!(matches!(e, RangeTestError::NoRise { .. }), "{e:?}");
    assert!(e.to_string().contains("never rises"));
    let falling: Vec<f64> = lrs.iter().map(|l| 0.9 - l * 10.0).collect();
    assert!(matches!(
        suggest_from_accuracy(&lrs, &falling),
        Err(RangeTestError::NoRise { .. })
    ));
}

#[test]
fn bad_inputs_are_errors() {
    assert!(matches!(
        suggest_from_accuracy(&[0.1, 0.2], &[0.1]),
        Err(RangeTestError::LengthMismatch {
            lrs: 2,
            values: 1,
            ..
        })
    ));
    assert!(matches!(
        suggest_from_accuracy(&[0.1, 0.2, 0.3], &[0.1, 0.2, 0.3]),
        Err(RangeTestError::TooFewPoints { n: 3, min: 5 })
    ));
    assert!(matches!(
        suggest_from_accuracy(&[0.1, 0.2, 0.3, 0.3, 0.5], &[0.1; 5]),
        Err(RangeTestError::LrNotIncreasing { index: 3, .. })
    ));
    assert!(matches!(
        suggest_from_accuracy(&[0.1, 0.2, 0.3, 0.4, 0.5], &[0.1, f64::NAN, 0.1, 0.1, 0.1]),
        Err(RangeTestError::NotFinite {
            what: "accuracy",
            index: 1,
            ..
        })
    ));
}

/// A loss that falls from 2.3 to 0.3 around lr 1e-2 (in ln(lr)) and diverges above 3e-1.
fn loss(lr: f64) -> f64 {
    let x = lr.log10() + 2.0;
    let base = 2.3 - 2.0 / (1.0 + (-3.0 * x).exp());
    if lr > 0.3 {
        base + 50.0 * (lr - 0.3)
    } else {
        base
    }
}

fn log_lrs() -> Vec<f64> {
    (0..100)
        .map(|i| 1e-6 * 10f64.powf(i as f64 / 15.0))
        .collect()
}

#[test]
fn loss_steepest_and_valley() {
    let lrs = log_lrs();
    let l: Vec<f64> = lrs.iter().map(|&x| loss(x)).collect();
    let s = suggest_from_loss(&lrs, &l).unwrap();
    assert!(
        (5e-3..=2e-2).contains(&s.steepest),
        "steepest {}",
        s.steepest
    );
    assert!(
        s.valley > 1e-4 && s.valley < s.min_loss_lr,
        "valley {}",
        s.valley
    );
    assert!(s.min_loss_lr > s.steepest);
    assert!(s.reason.contains("steepest") && s.reason.contains("valley"));
}

#[test]
fn noisy_and_diverging_loss() {
    let lrs = log_lrs();
    let mut l: Vec<f64> = lrs
        .iter()
        .zip(noise(lrs.len(), 9))
        .map(|(&x, e)| loss(x) + 0.05 * e)
        .collect();
    l[95] = f64::INFINITY;
    let s = suggest_from_loss(&lrs, &l).unwrap();
    assert!(
        (3e-3..=3e-2).contains(&s.steepest),
        "steepest {}",
        s.steepest
    );
    assert!(s.smoothed.len() <= 95);
}

#[test]
fn rising_loss_is_an_error() {
    let lrs = log_lrs();
    let l: Vec<f64> = lrs.iter().map(|x| 1.0 + x).collect();
    assert!(matches!(
        suggest_from_loss(&lrs, &l),
        Err(RangeTestError::NoDescent)
    ));
}

/// An exponential sweep of a model that learns fast: accuracy rises early
/// (training, not the rate), keeps creeping up, then turns ragged and falls.
#[test]
fn saturating_exponential_sweep_puts_max_near_the_peak_and_clamps_the_range() {
    let lrs: Vec<f64> = (0..40)
        .map(|i| 1e-4 * 10f64.powf(i as f64 * 4.0 / 39.0))
        .collect();
    let acc: Vec<f64> = lrs
        .iter()
        .map(|&lr| {
            let x = lr.log10();
            let rise = 0.15
                + 0.75 / (1.0 + (-3.0 * (x + 3.0)).exp())
                + 0.04 * ((x + 4.0) / 3.0).clamp(0.0, 1.0);
            if x > -0.5 {
                rise - 1.5 * (x + 0.5)
            } else {
                rise
            }
        })
        .collect();
    let s = clr_core::suggest_from_accuracy(&lrs, &acc).unwrap();
    // Accuracy peaks at lr 0.1-0.3: max_lr is near it, not where the fast early rise ends.
    assert!(s.max_lr > 0.03 && s.max_lr <= 0.32, "max_lr {}", s.max_lr);
    // The 10%-of-rise point lies far below (about 3e-4): base_lr falls back to max_lr/4.
    assert!(
        (s.base_lr - s.max_lr / 4.0).abs() < 1e-15,
        "base_lr {} max_lr {}",
        s.base_lr,
        s.max_lr
    );
    assert!(s.reason.contains("max_lr/4"), "{}", s.reason);
}

/// A sweep that stops inside the plateau says so: its end is a lower bound.
#[test]
fn a_sweep_ending_on_the_plateau_says_its_end_is_open() {
    let lrs = lrs();
    let acc: Vec<f64> = lrs.iter().map(|&l| accuracy(l.min(0.008))).collect();
    let s = suggest_from_accuracy(&lrs, &acc).unwrap();
    assert!(s.reason.contains("higher --max-lr"), "{}", s.reason);
    let acc: Vec<f64> = lrs.iter().map(|&l| accuracy(l)).collect();
    let s = suggest_from_accuracy(&lrs, &acc).unwrap();
    assert!(!s.reason.contains("higher --max-lr"), "{}", s.reason);
}
