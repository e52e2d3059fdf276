//! Property tests: bounds, periodicity, triangular2 halving, one-cycle endpoints, symmetric
//! window shapes, and cycle bookkeeping that agrees with itself.

use clr_core::{
    Cyclic, ExpRangeDecay, LrSchedule, OneCycle, OneCycleParams, Ramp, Scale, Schedule, Sequence,
    Sgdr, Shape, Stage,
};
use proptest::prelude::*;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![Just(Shape::Triangle), Just(Shape::Welch), Just(Shape::Hann)]
}

fn scale() -> impl Strategy<Value = Scale> {
    prop_oneof![
        Just(Scale::Constant),
        Just(Scale::Halving),
        (0.9f64..=1.0).prop_map(|gamma| Scale::ExpRange {
            gamma,
            decay: ExpRangeDecay::Amplitude
        }),
        (0.9f64..=1.0).prop_map(|gamma| Scale::ExpRange {
            gamma,
            decay: ExpRangeDecay::Both
        }),
    ]
}

/// `(base_lr, max_lr)` with `0 <= base <= max`.
fn lr_pair() -> impl Strategy<Value = (f64, f64)> {
    (1e-6f64..1.0, 0.0f64..1.0).prop_map(|(max, frac)| (max * frac, max))
}

proptest! {
    #[test]
    fn cyclic_lr_and_momentum_stay_in_bounds(
        (base, max) in lr_pair(), up in 1u64..50, down in 1u64..50,
        shape in shape(), scale in scale(), t in 0u64..5000,
    ) {
        let s = Cyclic::new(base, max, up, scale).unwrap()
            .with_step_size_down(down).unwrap()
            .with_shape(shape)
            .with_momentum(0.8, 0.95).unwrap();
        let (lo, hi) = s.lr_bounds();
        let lr = s.lr(t);
        prop_assert!(lr >= lo * (1.0 - 1e-12) && lr <= hi * (1.0 + 1e-12), "{lr} not in {lo}..{hi}");
        let m = s.momentum(t).unwrap();
        prop_assert!((0.8 - 1e-12..=0.95 + 1e-12).contains(&m), "{m}");
    }

    #[test]
    fn triangular_is_periodic(
        (base, max) in lr_pair(), up in 1u64..100, down in 1u64..100,
        shape in shape(), t in 0u64..10_000, k in 1u64..20,
    ) {
        let s = Cyclic::new(base, max, up, Scale::Constant).unwrap()
            .with_step_size_down(down).unwrap().with_shape(shape);
        let len = up + down;
        prop_assert!(close(s.lr(t), s.lr(t + k * len), 1e-9) || (s.lr(t) - s.lr(t + k * len)).abs() < 1e-15 * max);
    }

    #[test]
    fn triangular2_peaks_halve(
        (base, max) in lr_pair(), step in 1u64..200, k in 0u64..12,
    ) {
        let s = Cyclic::new(base, max, step, Scale::Halving).unwrap();
        let peak = |c: u64| s.lr(step + c * 2 * step) - base;
        // `lr - base` is only exact to a few ulps of `max`: that much absolute error is allowed.
        let near = |a: f64, b: f64| close(a, b, 1e-9) || (a - b).abs() < 1e-14 * max;
        prop_assert!(near(peak(0), max - base));
        prop_assert!(near(peak(k + 1), peak(k) / 2.0));
        prop_assert_eq!(s.lr(2 * step * (k + 1)), base);
    }

    #[test]
    fn window_shapes_are_symmetric_with_peak_at_step_size(
        (base, max) in lr_pair(), step in 1u64..500, shape in shape(), d in 0u64..500,
    ) {
        let s = Cyclic::new(base, max, step, Scale::Constant).unwrap().with_shape(shape);
        let d = d % (step + 1);
        let tol = 1e-12 * max;
        prop_assert!((s.lr(step - d) - s.lr(step + d)).abs() <= tol);
        prop_assert!((s.lr(step) - max).abs() <= tol);
        prop_assert!((s.lr(0) - base).abs() <= tol);
        prop_assert!(s.lr(step) >= s.lr(d.min(step)) - tol);
    }

    #[test]
    fn one_cycle_endpoints(
        max in 1e-4f64..10.0, total in 10u64..5000, pct in 0.05f64..0.45,
        div in 1.0f64..100.0, final_div in 1.0f64..1e5, three in any::<bool>(),
    ) {
        let mut p = OneCycleParams::new(max, total);
        p.pct_start = pct;
        p.div_factor = div;
        p.final_div_factor = final_div;
        p.three_phase = three;
        let Ok(s) = OneCycle::new(p) else { return Ok(()) };
        prop_assert!(close(s.lr(0), max / div, 1e-9));
        prop_assert!(close(s.lr(total - 1), max / div / final_div, 1e-9));
        prop_assert_eq!(s.momentum(0), Some(0.95));
        prop_assert!(close(s.momentum(total - 1).unwrap(), 0.95, 1e-12));
        let peak = (0..total).map(|t| s.lr(t)).fold(0.0, f64::max);
        prop_assert!(peak <= max * (1.0 + 1e-12));
        let up_end = pct * total as f64 - 1.0;
        if up_end.fract() == 0.0 {
            prop_assert!(close(s.lr(up_end as u64), max, 1e-12));
        }
    }

    #[test]
    fn next_cycle_end_agrees_with_is_cycle_end(
        step in 1u64..6, t0 in 1u64..6, t_mult in 1u64..4, stage_len in 1u64..30, n in 0u64..80,
    ) {
        let cyc = Schedule::from(Cyclic::new(0.1, 1.0, step, Scale::Halving).unwrap());
        let sgdr = Schedule::from(Sgdr::new(1.0, 0.0, t0, t_mult).unwrap());
        let fixed = Schedule::from(Ramp::linear_decay(0.1, 1.0, 3).unwrap());
        let seq = Schedule::from(Sequence::new(vec![
            Stage { iterations: stage_len, schedule: cyc.clone() },
            Stage { iterations: stage_len, schedule: fixed },
            Stage { iterations: 7, schedule: sgdr.clone() },
        ]).unwrap());
        for s in [&cyc, &sgdr, &seq] {
            let brute = (n.max(1)..n + 200).find(|&m| s.is_cycle_end(m));
            prop_assert_eq!(s.next_cycle_end(n), brute, "{}", s.describe());
            prop_assert_eq!(
                s.cycle_of(n),
                (1..=n).filter(|&m| s.is_cycle_end(m)).count() as u64,
                "{}", s.describe()
            );
        }
    }

    #[test]
    fn range_sweeps_rise_monotonically_from_min_to_max(
        min in 1e-7f64..1e-3, factor in 1.0f64..1e5, n in 2u64..500, exp in any::<bool>(),
    ) {
        let max = min * factor;
        let s = if exp { Ramp::range_exp(min, max, n) } else { Ramp::range_linear(min, max, n) }.unwrap();
        prop_assert_eq!(s.lr(0), min);
        prop_assert_eq!(s.lr(n - 1), max);
        for t in 1..n {
            prop_assert!(s.lr(t) >= s.lr(t - 1));
        }
    }
}
