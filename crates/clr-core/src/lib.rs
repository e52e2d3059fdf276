//! Learning-rate schedules as pure functions of the iteration: the cyclical policies of
//! Smith's "Cyclical Learning Rates for Training Neural Networks" (`triangular`,
//! `triangular2`, `exp_range`), Caffe's policies, 1cycle, SGDR, multi-stage sequences, the LR
//! range test's sweeps, and the range test analysis.
//!
//! ```
//! let cfg: clr_core::ScheduleConfig = toml::from_str(
//!     "policy = \"triangular2\"\nbase_lr = 0.001\nmax_lr = 0.006\nstep_size = 2000\n",
//! ).unwrap();
//! let s = cfg.build(None).unwrap();
//! assert_eq!(s.lr(0), 0.001);
//! assert!((s.lr(2000) - 0.006).abs() < 1e-15 && (s.lr(6000) - 0.0035).abs() < 1e-15);
//! assert_eq!(s.describe(), "triangular2 0.001-0.006 step 2000");
//! ```

#![warn(missing_docs)]

pub mod budget;
pub mod range_test;
pub mod schedule;

pub use budget::{policy_length, PolicyLength};
pub use range_test::{
    suggest_from_accuracy, suggest_from_loss, LossSuggestion, RangeTestError, Suggestion,
};
pub use schedule::*;
