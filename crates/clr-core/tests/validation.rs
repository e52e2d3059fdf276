//! One test per validation error: each names the key, the value and what is allowed.

use clr_core::{ScheduleConfig, ScheduleError};

fn parse(text: &str) -> ScheduleConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> ScheduleError {
    match parse(text).build(None) {
        Ok(s) => panic!("{text} was accepted: {}", s.describe()),
        Err(e) => e,
    }
}

fn err_ipe(text: &str, ipe: Option<u64>) -> ScheduleError {
    match parse(text).build(ipe) {
        Ok(s) => panic!("{text} was accepted: {}", s.describe()),
        Err(e) => e,
    }
}

const TRI: &str = "policy = \"triangular\"\nbase_lr = 0.001\nmax_lr = 0.006\n";

fn out_of_range_key(e: &ScheduleError) -> &'static str {
    match e {
        ScheduleError::OutOfRange { key, .. } => key,
        other => panic!("expected OutOfRange, got {other:?}"),
    }
}

#[test]
fn base_above_max() {
    let e = err("policy = \"triangular\"\nbase_lr = 0.01\nmax_lr = 0.001\nstep_size = 10");
    assert_eq!(
        e,
        ScheduleError::MaxBelowBase {
            base_lr: 0.01,
            max_lr: 0.001
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("max_lr") && msg.contains("0.001") && msg.contains("base_lr"));
}

#[test]
fn zero_step_size() {
    let e = err(&format!("{TRI}step_size = 0"));
    assert_eq!(e, ScheduleError::Zero { key: "step_size" });
    assert!(e.to_string().contains("`step_size` = 0"));
    let e = err(&format!("{TRI}step_size = 5\nstep_size_down = 0"));
    assert_eq!(
        e,
        ScheduleError::Zero {
            key: "step_size_down"
        }
    );
}

#[test]
fn non_positive_gamma() {
    for (policy, extra) in [
        ("step", "step_size = 10"),
        ("exp", ""),
        ("multistep", "step_values = [5]"),
    ] {
        for gamma in ["0.0", "-0.5"] {
            let e = err(&format!(
                "policy = \"{policy}\"\nbase_lr = 0.1\ngamma = {gamma}\n{extra}"
            ));
            assert_eq!(out_of_range_key(&e), "gamma", "{policy}");
            assert!(e.to_string().contains("> 0"), "{e}");
        }
    }
    let e = err(&format!("{TRI}step_size = 4\ngamma = 0.0").replace("triangular", "exp_range"));
    assert_eq!(out_of_range_key(&e), "gamma");
}

#[test]
fn exp_range_gamma_above_one() {
    let e = err("policy = \"exp_range\"\nbase_lr = 0.1\nmax_lr = 1.0\nstep_size = 4\ngamma = 1.5");
    assert_eq!(out_of_range_key(&e), "gamma");
    assert!(e.to_string().contains("(0, 1]"));
}

#[test]
fn sigmoid_zero_gamma() {
    let e = err("policy = \"sigmoid\"\nbase_lr = 0.1\ngamma = 0.0\nstep_size = 4");
    assert_eq!(out_of_range_key(&e), "gamma");
}

#[test]
fn inv_negative_power() {
    let e = err("policy = \"inv\"\nbase_lr = 0.1\ngamma = 0.1\npower = -1.0");
    assert_eq!(out_of_range_key(&e), "power");
}

#[test]
fn poly_zero_max_iterations() {
    let e = err("policy = \"poly\"\nbase_lr = 0.1\npower = 1.0\nmax_iterations = 0");
    assert_eq!(
        e,
        ScheduleError::Zero {
            key: "max_iterations"
        }
    );
}

#[test]
fn nan_and_infinity() {
    let e = err("policy = \"fixed\"\nbase_lr = nan");
    assert!(matches!(e, ScheduleError::NotFinite { key: "base_lr", value } if value.is_nan()));
    assert!(e.to_string().contains("base_lr"));
    let e = err(&format!("{TRI}step_size = 4").replace("0.006", "inf"));
    assert!(
        matches!(e, ScheduleError::NotFinite { key: "max_lr", .. }),
        "{e:?}"
    );
    let e = err("policy = \"exp\"\nbase_lr = 0.1\ngamma = -inf");
    assert!(
        matches!(e, ScheduleError::NotFinite { key: "gamma", .. }),
        "{e:?}"
    );
}

#[test]
fn negative_base_lr() {
    let e = err("policy = \"fixed\"\nbase_lr = -0.1");
    assert_eq!(out_of_range_key(&e), "base_lr");
}

#[test]
fn empty_step_values() {
    let e = err("policy = \"multistep\"\nbase_lr = 0.1\ngamma = 0.1\nstep_values = []");
    assert_eq!(e, ScheduleError::EmptyStepValues);
}

#[test]
fn unsorted_step_values() {
    let e = err("policy = \"multistep\"\nbase_lr = 0.1\ngamma = 0.1\nstep_values = [10, 30, 20]");
    assert_eq!(
        e,
        ScheduleError::UnsortedStepValues {
            index: 2,
            previous: 30,
            value: 20
        }
    );
    let e = err("policy = \"multistep\"\nbase_lr = 0.1\ngamma = 0.1\nstep_values = [10, 10]");
    assert!(matches!(
        e,
        ScheduleError::UnsortedStepValues { index: 1, .. }
    ));
}

#[test]
fn pct_start_outside_open_interval() {
    for pct in ["0.0", "1.0", "1.5", "-0.2", "nan"] {
        let e = err(&format!(
            "policy = \"one_cycle\"\nmax_lr = 0.1\ntotal_iterations = 100\npct_start = {pct}"
        ));
        assert_eq!(out_of_range_key(&e), "pct_start", "{pct}");
        assert!(e.to_string().contains("between 0 and 1"), "{e}");
    }
}

#[test]
fn pct_start_leaving_an_empty_phase() {
    let e = err("policy = \"one_cycle\"\nmax_lr = 0.1\ntotal_iterations = 3\npct_start = 0.3");
    assert_eq!(out_of_range_key(&e), "pct_start");
    let e = err(
        "policy = \"one_cycle\"\nmax_lr = 0.1\ntotal_iterations = 100\npct_start = 0.6\nthree_phase = true",
    );
    assert!(e.to_string().contains("three phases"), "{e}");
}

#[test]
fn one_cycle_non_positive_div_factor() {
    let e = err("policy = \"one_cycle\"\nmax_lr = 0.1\ntotal_iterations = 100\ndiv_factor = 0.0");
    assert_eq!(out_of_range_key(&e), "div_factor");
}

#[test]
fn unknown_policy_is_a_parse_error_listing_the_policies() {
    let e = toml::from_str::<ScheduleConfig>("policy = \"triangle\"\nbase_lr = 0.1")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("triangle") && e.contains("triangular2") && e.contains("one_cycle"),
        "{e}"
    );
}

#[test]
fn unknown_key_is_a_parse_error_listing_the_keys() {
    let e = toml::from_str::<ScheduleConfig>(&format!("{TRI}step_size = 4\ngama = 0.9"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown field `gama`") && e.contains("gamma"),
        "{e}"
    );
}

#[test]
fn unknown_shape_value_is_a_parse_error() {
    let e = toml::from_str::<ScheduleConfig>(&format!("{TRI}step_size = 4\nshape = \"square\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("square") && e.contains("welch"), "{e}");
}

#[test]
fn key_not_used_by_policy() {
    let e = err(&format!("{TRI}step_size = 4\ngamma = 0.9"));
    match &e {
        ScheduleError::KeyNotUsed {
            policy: "triangular",
            key: "gamma",
            allowed,
        } => assert!(allowed.contains("step_size_down")),
        other => panic!("{other:?}"),
    }
    // Keys outside a policy's family are refused while parsing, with the family's keys.
    let parse_err = |text: &str| {
        toml::from_str::<ScheduleConfig>(text)
            .unwrap_err()
            .to_string()
    };
    let e = parse_err("policy = \"one_cycle\"\nbase_lr = 0.1\nmax_lr = 1.0\ntotal_iterations = 10");
    assert!(
        e.contains("unknown field `base_lr`") && e.contains("total_iterations"),
        "{e}"
    );
    let e = parse_err(&format!("{TRI}step_size = 4\niterations = 10"));
    assert!(
        e.contains("unknown field `iterations`") && e.contains("step_size_down"),
        "{e}"
    );
}

#[test]
fn missing_key() {
    let e = err("policy = \"triangular\"\nbase_lr = 0.001\nstep_size = 4");
    assert_eq!(
        e,
        ScheduleError::MissingKey {
            policy: "triangular",
            key: "max_lr"
        }
    );
    let e = err(TRI);
    assert_eq!(
        e,
        ScheduleError::MissingKey {
            policy: "triangular",
            key: "step_size"
        }
    );
}

#[test]
fn step_size_in_iterations_and_epochs() {
    let e = err(&format!("{TRI}step_size = 4\nstep_size_epochs = 2"));
    assert_eq!(
        e,
        ScheduleError::Conflicting {
            key: "step_size",
            other: "step_size_epochs"
        }
    );
}

#[test]
fn epochs_without_iterations_per_epoch() {
    let e = err_ipe(&format!("{TRI}step_size_epochs = 2"), None);
    assert_eq!(
        e,
        ScheduleError::NeedsIterationsPerEpoch {
            key: "step_size_epochs"
        }
    );
}

#[test]
fn epochs_shorter_than_an_iteration() {
    let e = err_ipe(&format!("{TRI}step_size_epochs = 0.1"), Some(2));
    assert!(matches!(
        e,
        ScheduleError::EpochsTooShort {
            iterations_per_epoch: 2,
            ..
        }
    ));
    let e = err_ipe(&format!("{TRI}step_size_epochs = -1.0"), Some(2));
    assert_eq!(out_of_range_key(&e), "step_size_epochs");
}

#[test]
fn momentum_pair_incomplete() {
    let e = err(&format!("{TRI}step_size = 4\nbase_momentum = 0.8"));
    assert_eq!(
        e,
        ScheduleError::MomentumPair {
            given: "base_momentum",
            missing: "max_momentum"
        }
    );
    let e = err(&format!("{TRI}step_size = 4\ncycle_momentum = true"));
    assert!(matches!(
        e,
        ScheduleError::MissingKey {
            key: "base_momentum",
            ..
        }
    ));
}

#[test]
fn momentum_max_below_base() {
    let e = err(&format!(
        "{TRI}step_size = 4\nbase_momentum = 0.9\nmax_momentum = 0.8"
    ));
    assert_eq!(
        e,
        ScheduleError::MomentumMaxBelowBase {
            base_momentum: 0.9,
            max_momentum: 0.8
        }
    );
}

#[test]
fn momentum_above_one() {
    let e = err(&format!(
        "{TRI}step_size = 4\nbase_momentum = 0.9\nmax_momentum = 1.2"
    ));
    assert_eq!(out_of_range_key(&e), "max_momentum");
}

#[test]
fn sgdr_eta_min_above_max_and_zero_t0() {
    let e = err("policy = \"sgdr\"\nmax_lr = 0.1\nt0 = 10\neta_min = 0.2");
    assert_eq!(out_of_range_key(&e), "eta_min");
    let e = err("policy = \"sgdr\"\nmax_lr = 0.1\nt0 = 0");
    assert_eq!(e, ScheduleError::Zero { key: "t0" });
    let e = err("policy = \"sgdr\"\nmax_lr = 0.1\nt0 = 5\nt_mult = 0");
    assert_eq!(e, ScheduleError::Zero { key: "t_mult" });
}

#[test]
fn range_sweep_too_short_or_from_zero() {
    let e = err("policy = \"range_linear\"\nmin_lr = 0.0\nmax_lr = 0.1\niterations = 1");
    assert_eq!(out_of_range_key(&e), "iterations");
    let e = err("policy = \"range_exp\"\nmin_lr = 0.0\nmax_lr = 0.1\niterations = 10");
    assert_eq!(out_of_range_key(&e), "min_lr");
    let e = err("policy = \"range_linear\"\nmin_lr = 0.2\nmax_lr = 0.1\niterations = 10");
    assert_eq!(out_of_range_key(&e), "max_lr");
}

#[test]
fn empty_sequence() {
    let e = err("policy = \"sequence\"\nstages = []");
    assert_eq!(e, ScheduleError::EmptySequence);
}

#[test]
fn sequence_stage_errors_name_the_stage() {
    let e = err(
        "policy = \"sequence\"\nstages = [\n{ policy = \"fixed\", base_lr = 0.1, iterations = 5 },\n\
         { policy = \"fixed\", base_lr = 0.1 },\n]",
    );
    match &e {
        ScheduleError::Stage { index: 1, source } => {
            assert!(matches!(
                **source,
                ScheduleError::MissingKey {
                    key: "iterations",
                    ..
                }
            ))
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("stage 1"));
    let e = err(
        "policy = \"sequence\"\nstages = [{ policy = \"triangular\", base_lr = 0.2, max_lr = 0.1, \
         step_size = 2, iterations = 4 }]",
    );
    assert!(
        e.to_string().contains("stage 0") && e.to_string().contains("max_lr"),
        "{e}"
    );
    let e = err(
        "policy = \"sequence\"\nstages = [{ policy = \"fixed\", base_lr = 0.1, iterations = 0 }]",
    );
    assert!(matches!(e, ScheduleError::Stage { index: 0, .. }), "{e:?}");
}
