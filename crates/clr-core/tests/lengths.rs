//! Lengths that do not fit 64 bits are validation errors, not silently saturated or wrapped
//! counts: a cycle of `step_size + step_size_down` iterations wrapped to 0 divided by zero in
//! `cycle_of` (found by the config fuzz target of the trainer).

use clr_core::{Cyclic, LrSchedule, Scale, ScheduleConfig, ScheduleError};

fn build(text: &str, ipe: u64) -> Result<clr_core::Schedule, ScheduleError> {
    toml::from_str::<ScheduleConfig>(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .build(Some(ipe))
}

fn out_of_range(e: ScheduleError) -> &'static str {
    match e {
        ScheduleError::OutOfRange { key, .. } => key,
        other => panic!("expected OutOfRange, got {other:?}"),
    }
}

const TRI: &str = "policy = \"triangular\"\nbase_lr = 0.001\nmax_lr = 0.006\n";

#[test]
fn epoch_lengths_beyond_64_bits_of_iterations_are_out_of_range() {
    // 5e296 epochs saturated to u64::MAX iterations; with step_size = 2000 the cycle wrapped.
    let e = build(
        &format!("{TRI}step_size = 2000\nstep_size_down_epochs = 5e296\n"),
        600,
    )
    .unwrap_err();
    assert_eq!(out_of_range(e.clone()), "step_size_down_epochs");
    assert!(e.to_string().contains("fewer than 2^64 iterations"), "{e}");
    let e = build(&format!("{TRI}step_size_epochs = 1e20\n"), 1).unwrap_err();
    assert_eq!(out_of_range(e), "step_size_epochs");
    let step = build(
        "policy = \"step\"\nbase_lr = 0.1\ngamma = 0.5\nstep_size_epochs = 3.1e16\n",
        600,
    );
    assert_eq!(out_of_range(step.unwrap_err()), "step_size_epochs");
    // The longest that fits is fine.
    let s = build(&format!("{TRI}step_size_epochs = 1e18\n"), 1).unwrap();
    assert_eq!(s.cycle_length(), Some(2_000_000_000_000_000_000));
}

#[test]
fn cycles_of_2_pow_64_iterations_or_more_are_out_of_range() {
    let half = u64::MAX / 2;
    let c = Cyclic::new(1.0, 5.0, half, Scale::Constant).unwrap();
    assert_eq!(c.cycle_length(), Some(u64::MAX - 1));
    assert_eq!(c.cycles_completed(u64::MAX), 1);
    let e = Cyclic::new(1.0, 5.0, half + 1, Scale::Constant).unwrap_err();
    assert_eq!(out_of_range(e), "step_size");
    let c = Cyclic::new(1.0, 5.0, 1, Scale::Constant).unwrap();
    assert!(c.clone().with_step_size_down(u64::MAX - 1).is_ok());
    let e = c.with_step_size_down(u64::MAX).unwrap_err();
    assert_eq!(out_of_range(e), "step_size_down");
    // Through a config: step_size + step_size_down_epochs that no longer fit together.
    let e = build(
        &format!("{TRI}step_size = 9223372036854775807\nstep_size_down_epochs = 1.5e19\n"),
        1,
    )
    .unwrap_err();
    assert_eq!(out_of_range(e), "step_size_down");
}
