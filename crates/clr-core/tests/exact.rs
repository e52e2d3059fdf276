//! Exact sequences with easy numbers for every policy, and the cycle bookkeeping.

use clr_core::{Cyclic, LrSchedule, Scale, ScaleFn, ScaleMode, Schedule, ScheduleConfig};

fn build(text: &str) -> Schedule {
    let cfg: ScheduleConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    cfg.build(None).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn lrs(s: &impl LrSchedule, n: u64) -> Vec<f64> {
    (0..n).map(|t| s.lr(t)).collect()
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "[{i}] {g} != {w}\n{got:?}"
        );
    }
}

const EASY: &str = "base_lr = 1.0\nmax_lr = 5.0\nstep_size = 4\n";

#[test]
fn triangular_easy_numbers() {
    let s = build(&format!("policy = \"triangular\"\n{EASY}"));
    let want = [
        1., 2., 3., 4., 5., 4., 3., 2., 1., 2., 3., 4., 5., 4., 3., 2., 1., 2.,
    ];
    assert_eq!(lrs(&s, 18), want);
    assert_eq!(s.momentum(3), None);
    assert_eq!(s.describe(), "triangular 1-5 step 4");
}

#[test]
fn triangular2_halves_the_amplitude() {
    let s = build(&format!("policy = \"triangular2\"\n{EASY}"));
    let want = [
        1., 2., 3., 4., 5., 4., 3., 2., 1., 1.5, 2., 2.5, 3., 2.5, 2., 1.5, 1., 1.25, 1.5, 1.75, 2.,
    ];
    assert_eq!(lrs(&s, 21), want);
}

#[test]
fn exp_range_decays_the_amplitude_or_both_bounds() {
    let amp = build(&format!("policy = \"exp_range\"\n{EASY}gamma = 0.5"));
    assert_close(&lrs(&amp, 5), &[1.0, 1.5, 1.5, 1.375, 1.25]);
    let both = build(&format!(
        "policy = \"exp_range\"\n{EASY}gamma = 0.5\ndecay = \"both\""
    ));
    assert_close(&lrs(&both, 5), &[1.0, 1.0, 0.75, 0.5, 0.3125]);
    assert_eq!(both.lr_bounds(), (0.0, 5.0));
}

/// The paper's Table 1 exp_range (0.001-0.006, step 2000, gamma 0.99994) as the paper
/// describes it: both bounds decline by `gamma^iteration`, so the rate oscillates around the
/// `exp` policy `0.001 * gamma^t`, between it and six times it.
#[test]
fn exp_range_both_is_the_papers_formula() {
    let both = build(
        "policy = \"exp_range\"\nbase_lr = 0.001\nmax_lr = 0.006\nstep_size = 2000\n\
         gamma = 0.99994\ndecay = \"both\"",
    );
    let amplitude = build(
        "policy = \"exp_range\"\nbase_lr = 0.001\nmax_lr = 0.006\nstep_size = 2000\n\
         gamma = 0.99994",
    );
    let g: f64 = 0.99994;
    for t in (0..70_000u64).step_by(250) {
        // The paper: a triangle between the bounds, each bound times gamma^t.
        let x = (t as f64 / 2000.0 - 2.0 * (t as f64 / 4000.0).floor() - 1.0).abs();
        let tri = 1.0 - x;
        let lo = 0.001 * g.powf(t as f64);
        let hi = 0.006 * g.powf(t as f64);
        let want = lo + (hi - lo) * tri;
        let got = both.lr(t);
        assert!((got - want).abs() <= 1e-12 * want, "t={t}: {got} != {want}");
        assert!(got >= lo * (1.0 - 1e-12) && got <= hi * (1.0 + 1e-12));
    }
    // At 42,000 (a peak) the two conventions are far apart: 4.8e-4 against 1.4e-3.
    let peak = 0.006 * g.powi(42_000);
    assert!(
        (both.lr(42_000) - peak).abs() < 1e-15,
        "{}",
        both.lr(42_000)
    );
    assert!((both.lr(42_000) - 4.83e-4).abs() < 1e-6);
    assert!((amplitude.lr(42_000) - (0.001 + 0.005 * g.powi(42_000))).abs() < 1e-15);
    assert!((amplitude.lr(42_000) - 1.40e-3).abs() < 1e-5);
}

#[test]
fn asymmetric_cycle() {
    let s = build(
        "policy = \"triangular\"\nbase_lr = 1.0\nmax_lr = 5.0\nstep_size = 2\nstep_size_down = 4",
    );
    assert_close(&lrs(&s, 10), &[1., 3., 5., 4., 3., 2., 1., 3., 5., 4.]);
    assert_eq!(s.cycle_length(), Some(6));
    assert_eq!(s.describe(), "triangular 1-5 step 2 down 4");
}

#[test]
fn window_shapes() {
    let shape = |name: &str| {
        build(&format!(
            "policy = \"triangular\"\nbase_lr = 0.0\nmax_lr = 1.0\nstep_size = 2\nshape = \"{name}\""
        ))
    };
    assert_close(&lrs(&shape("triangle"), 5), &[0., 0.5, 1., 0.5, 0.]);
    assert_close(&lrs(&shape("welch"), 5), &[0., 0.75, 1., 0.75, 0.]);
    assert_close(&lrs(&shape("parabolic"), 5), &[0., 0.75, 1., 0.75, 0.]);
    assert_close(&lrs(&shape("hann"), 5), &[0., 0.5, 1., 0.5, 0.]);
    let h = shape("sinusoidal");
    let quarter = (std::f64::consts::PI / 8.0).sin().powi(2);
    let s4 = build(
        "policy = \"triangular\"\nbase_lr = 0.0\nmax_lr = 1.0\nstep_size = 4\nshape = \"hann\"",
    );
    assert_close(&[s4.lr(1), s4.lr(7)], &[quarter, quarter]);
    assert_eq!(h.lr(2), 1.0);
}

#[test]
fn momentum_cycles_inversely() {
    let s = build(&format!(
        "policy = \"triangular\"\n{EASY}base_momentum = 0.8\nmax_momentum = 0.9"
    ));
    let m: Vec<f64> = (0..9).map(|t| s.momentum(t).unwrap()).collect();
    assert_close(&m, &[0.9, 0.875, 0.85, 0.825, 0.8, 0.825, 0.85, 0.875, 0.9]);
    let off = build(&format!(
        "policy = \"triangular\"\n{EASY}base_momentum = 0.8\nmax_momentum = 0.9\ncycle_momentum = false"
    ));
    assert_eq!(off.momentum(2), None);
}

#[test]
fn custom_scale_function_by_cycle_and_by_iteration() {
    let by_cycle = Cyclic::new(
        1.0,
        5.0,
        4,
        Scale::Custom {
            f: ScaleFn::new(|cycle| 1.0 / cycle),
            mode: ScaleMode::Cycle,
        },
    )
    .unwrap();
    assert_close(
        &[by_cycle.lr(4), by_cycle.lr(12), by_cycle.lr(20)],
        &[5.0, 3.0, 1.0 + 4.0 / 3.0],
    );
    let by_iteration = Cyclic::new(
        1.0,
        5.0,
        4,
        Scale::Custom {
            f: ScaleFn::new(|t| if t < 8.0 { 1.0 } else { 0.0 }),
            mode: ScaleMode::Iterations,
        },
    )
    .unwrap();
    assert_close(
        &lrs(&by_iteration, 12),
        &[1., 2., 3., 4., 5., 4., 3., 2., 1., 1., 1., 1.],
    );
    let s = Schedule::from(by_cycle.with_momentum(0.8, 0.9).unwrap());
    assert_close(&[s.momentum(12).unwrap()], &[0.85]);
}

#[test]
fn caffe_policies() {
    let s = build("policy = \"fixed\"\nbase_lr = 0.5");
    assert_eq!(lrs(&s, 3), [0.5; 3]);
    let s = build("policy = \"step\"\nbase_lr = 1.0\ngamma = 0.5\nstep_size = 2");
    assert_eq!(lrs(&s, 6), [1., 1., 0.5, 0.5, 0.25, 0.25]);
    let s = build("policy = \"multistep\"\nbase_lr = 1.0\ngamma = 0.5\nstep_values = [2, 5]");
    assert_eq!(lrs(&s, 7), [1., 1., 0.5, 0.5, 0.5, 0.25, 0.25]);
    let s = build("policy = \"exp\"\nbase_lr = 1.0\ngamma = 0.5");
    assert_eq!(lrs(&s, 4), [1., 0.5, 0.25, 0.125]);
    let s = build("policy = \"inv\"\nbase_lr = 1.0\ngamma = 1.0\npower = 1.0");
    assert_close(&lrs(&s, 4), &[1., 0.5, 1. / 3., 0.25]);
    let s = build("policy = \"poly\"\nbase_lr = 1.0\npower = 2.0\nmax_iterations = 4");
    assert_eq!(lrs(&s, 6), [1., 0.5625, 0.25, 0.0625, 0., 0.]);
    let s = build("policy = \"sigmoid\"\nbase_lr = 1.0\ngamma = -1.0\nstep_size = 3");
    assert_eq!(s.lr(3), 0.5);
    assert_close(
        &[s.lr(4), s.lr(2)],
        &[1.0 / (1.0 + 1f64.exp()), 1.0 / (1.0 + (-1f64).exp())],
    );
}

#[test]
fn linear_decay_and_range_sweeps() {
    let s = build("policy = \"linear_decay\"\nbase_lr = 1.0\nmax_lr = 5.0\nstep_size = 4");
    assert_eq!(lrs(&s, 7), [5., 4., 3., 2., 1., 1., 1.]);
    let s = build("policy = \"range_linear\"\nmin_lr = 1.0\nmax_lr = 5.0\niterations = 5");
    assert_eq!(lrs(&s, 6), [1., 2., 3., 4., 5., 5.]);
    let s = build("policy = \"range_exp\"\nmin_lr = 1.0\nmax_lr = 16.0\niterations = 5");
    assert_close(&lrs(&s, 6), &[1., 2., 4., 8., 16., 16.]);
    assert_eq!(s.cycle_length(), None);
}

#[test]
fn one_cycle_linear_two_phases() {
    let s = build(
        "policy = \"one_cycle\"\nmax_lr = 1.0\ntotal_iterations = 10\npct_start = 0.5\n\
         anneal = \"linear\"\ndiv_factor = 4.0\nfinal_div_factor = 2.0",
    );
    // Up from 0.25 to 1 over iterations 0..=4, down to 0.125 over 4..=9.
    assert_close(
        &lrs(&s, 12),
        &[
            0.25, 0.4375, 0.625, 0.8125, 1.0, 0.825, 0.65, 0.475, 0.3, 0.125, 0.125, 0.125,
        ],
    );
    let m: Vec<f64> = (0..10).map(|t| s.momentum(t).unwrap()).collect();
    assert_close(
        &m,
        &[0.95, 0.925, 0.9, 0.875, 0.85, 0.87, 0.89, 0.91, 0.93, 0.95],
    );
    assert_eq!(
        (s.cycle_length(), s.next_cycle_end(0)),
        (Some(10), Some(10))
    );
    assert!(s.is_cycle_end(10) && !s.is_cycle_end(9));
    assert_eq!(s.next_cycle_end(11), None);
    let off = build(
        "policy = \"one_cycle\"\nmax_lr = 1.0\ntotal_iterations = 10\ncycle_momentum = false",
    );
    assert_eq!(off.momentum(0), None);
}

#[test]
fn sgdr_warm_restarts() {
    let s = build("policy = \"sgdr\"\nmax_lr = 1.0\nt0 = 4\nt_mult = 2");
    let c = |t: f64, len: f64| 0.5 * (1.0 + (std::f64::consts::PI * t / len).cos());
    let want: Vec<f64> = (0..4)
        .map(|t| c(t as f64, 4.0))
        .chain((0..8).map(|t| c(t as f64, 8.0)))
        .chain([1.0])
        .collect();
    assert_close(&lrs(&s, 13), &want);
    assert_eq!(
        [s.cycle_of(3), s.cycle_of(4), s.cycle_of(11), s.cycle_of(12)],
        [0, 1, 1, 2]
    );
    assert_eq!(
        [
            s.next_cycle_end(0),
            s.next_cycle_end(4),
            s.next_cycle_end(5)
        ],
        [Some(4), Some(4), Some(12)]
    );
    let flat = build("policy = \"sgdr\"\nmax_lr = 1.0\nt0 = 4\neta_min = 0.5");
    assert_close(&[flat.lr(2), flat.lr(4), flat.lr(8)], &[0.75, 1.0, 1.0]);
}

#[test]
fn paper_three_stage_triangular2_sequence() {
    let s = build(
        r#"policy = "sequence"
[[stages]]
iterations = 16000
policy = "triangular2"
base_lr = 0.001
max_lr = 0.005
step_size = 2000
[[stages]]
iterations = 6000
policy = "triangular2"
base_lr = 0.0001
max_lr = 0.0005
step_size = 1000
[[stages]]
iterations = 3000
policy = "triangular2"
base_lr = 0.00001
max_lr = 0.00005
step_size = 500
"#,
    );
    assert_close(
        &[
            s.lr(0),
            s.lr(2000),
            s.lr(6000),
            s.lr(16000),
            s.lr(17000),
            s.lr(22000),
            s.lr(22500),
        ],
        &[0.001, 0.005, 0.003, 0.0001, 0.0005, 0.00001, 0.00005],
    );
    assert_eq!(
        [
            s.cycle_of(15999),
            s.cycle_of(16000),
            s.cycle_of(22000),
            s.cycle_of(25000)
        ],
        [3, 4, 7, 10]
    );
    assert!(s.is_cycle_end(16000) && s.is_cycle_end(18000) && s.is_cycle_end(25000));
    assert!(!s.is_cycle_end(17000));
    assert_eq!(
        [
            s.next_cycle_end(16001),
            s.next_cycle_end(21999),
            s.next_cycle_end(22001)
        ],
        [Some(18000), Some(22000), Some(23000)]
    );
    assert_eq!(s.lr_bounds(), (0.00001, 0.005));
    assert_eq!(s.cycle_length(), Some(4000));
    assert!(s
        .describe()
        .starts_with("sequence [triangular2 0.001-0.005 step 2000 for 16000;"));
}

#[test]
fn step_size_in_epochs_is_resolved() {
    let cfg: ScheduleConfig = toml::from_str(
        "policy = \"triangular\"\nbase_lr = 1.0\nmax_lr = 5.0\nstep_size_epochs = 2.5\nstep_size_down_epochs = 1",
    )
    .unwrap();
    let s = cfg.build(Some(2)).unwrap();
    // 2.5 epochs * 2 = 5 iterations up, 2 down.
    assert_eq!(s.cycle_length(), Some(7));
    assert_close(&[s.lr(5), s.lr(7)], &[5.0, 1.0]);
}

#[test]
fn cycle_bookkeeping_of_cyclic_and_non_cyclic() {
    let s = build(&format!("policy = \"triangular\"\n{EASY}"));
    assert_eq!(s.cycle_length(), Some(8));
    assert_eq!(
        [s.cycle_of(0), s.cycle_of(7), s.cycle_of(8), s.cycle_of(17)],
        [0, 0, 1, 2]
    );
    assert!(!s.is_cycle_end(0) && !s.is_cycle_end(4) && s.is_cycle_end(8) && s.is_cycle_end(16));
    assert_eq!(
        [
            s.next_cycle_end(0),
            s.next_cycle_end(8),
            s.next_cycle_end(9)
        ],
        [Some(8), Some(8), Some(16)]
    );
    assert_eq!(
        s.lr(8),
        1.0,
        "the LR after a cycle end is back at its minimum"
    );
    let f = build("policy = \"exp\"\nbase_lr = 1.0\ngamma = 0.5");
    assert_eq!(
        (
            f.cycle_length(),
            f.cycle_of(100),
            f.is_cycle_end(8),
            f.next_cycle_end(3)
        ),
        (None, 0, false, None)
    );
    assert_eq!(f.lr_bounds(), (0.0, 1.0));
}

#[test]
fn config_round_trips_through_toml() {
    let text = format!("policy = \"exp_range\"\n{EASY}gamma = 0.5\nshape = \"welch\"\n");
    let cfg: ScheduleConfig = toml::from_str(&text).unwrap();
    let back: ScheduleConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(cfg, back);
    assert_eq!(cfg.policy_name(), "exp_range");
}

#[test]
fn schedule_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<Schedule>();
}

#[test]
fn multistep_bounds_end_at_the_last_drop() {
    let cfg: ScheduleConfig = toml::from_str(
        "policy = \"multistep\"\nbase_lr = 0.001\ngamma = 0.1\nstep_values = [60000, 65000]\n",
    )
    .unwrap();
    let s = cfg.build(None).unwrap();
    let (lo, hi) = s.lr_bounds();
    assert_eq!(hi, 0.001);
    assert!((lo - 0.00001).abs() < 1e-18, "{lo}");
    assert!((s.lr(69_999) - lo).abs() < 1e-18);
}
