//! Monotone ramps between two learning rates: the paper's `linear_decay` baseline and the LR
//! range test's sweeps (`range_linear`, the paper's; `range_exp`, fastai's).

use serde::{Deserialize, Serialize};

use super::config::{required, resolve_epochs};
use super::validate::{count, lr_range, positive};
use super::{LrSchedule, ScheduleError};

/// Which ramp a [`Ramp`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RampKind {
    /// The paper's `decay` baseline: linear from `max_lr` down to `base_lr`, then constant.
    LinearDecay,
    /// LR range test sweep, linear from `min_lr` up to `max_lr` (the paper).
    RangeLinear,
    /// LR range test sweep, geometric from `min_lr` up to `max_lr` (fastai).
    RangeExp,
}

/// A ramp from one LR to another over `span` iterations, constant afterwards.
///
/// # Formula
/// With `t = min(iteration, span) / span`:
/// - `linear_decay`: `lr = max_lr + (base_lr - max_lr) * t`, `span = step_size`;
/// - `range_linear`: `lr = min_lr + (max_lr - min_lr) * t`, `span = iterations - 1`;
/// - `range_exp`: `lr = min_lr * (max_lr / min_lr)^t`, `span = iterations - 1`.
///
/// The sweeps reach `max_lr` exactly on their last iteration `iterations - 1`.
///
/// # Errors
/// `base_lr`/`min_lr` negative (or zero for `range_exp`), `max_lr` below it, a zero
/// `step_size`, fewer than 2 sweep `iterations`.
///
/// # Example
/// ```
/// use clr_core::{LrSchedule, Ramp};
/// let d = Ramp::linear_decay(1.0, 5.0, 4).unwrap();
/// assert_eq!([d.lr(0), d.lr(1), d.lr(4), d.lr(9)], [5.0, 4.0, 1.0, 1.0]);
/// let s = Ramp::range_exp(1e-5, 1e-1, 5).unwrap();
/// assert!((s.lr(2) - 1e-3).abs() < 1e-15 && s.lr(4) == 1e-1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Ramp {
    kind: RampKind,
    from: f64,
    to: f64,
    span: u64,
}

impl Ramp {
    /// The paper's linear decay from `max_lr` to `base_lr` over `step_size` iterations.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn linear_decay(base_lr: f64, max_lr: f64, step_size: u64) -> Result<Self, ScheduleError> {
        lr_range(base_lr, max_lr)?;
        Ok(Self {
            kind: RampKind::LinearDecay,
            from: max_lr,
            to: base_lr,
            span: count("step_size", step_size)?,
        })
    }

    /// Linear LR range test sweep from `min_lr` to `max_lr` in `iterations` updates.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn range_linear(min_lr: f64, max_lr: f64, iterations: u64) -> Result<Self, ScheduleError> {
        Self::sweep(RampKind::RangeLinear, min_lr, max_lr, iterations)
    }

    /// Exponential LR range test sweep from `min_lr` to `max_lr` in `iterations` updates.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn range_exp(min_lr: f64, max_lr: f64, iterations: u64) -> Result<Self, ScheduleError> {
        positive("min_lr", min_lr)?;
        Self::sweep(RampKind::RangeExp, min_lr, max_lr, iterations)
    }

    fn sweep(
        kind: RampKind,
        min_lr: f64,
        max_lr: f64,
        iterations: u64,
    ) -> Result<Self, ScheduleError> {
        super::validate::non_negative("min_lr", min_lr)?;
        positive("max_lr", max_lr)?;
        if max_lr < min_lr {
            return Err(ScheduleError::OutOfRange {
                key: "max_lr",
                value: max_lr,
                allowed: "a number >= min_lr",
            });
        }
        if iterations < 2 {
            return Err(ScheduleError::OutOfRange {
                key: "iterations",
                value: iterations as f64,
                allowed: "at least 2 iterations",
            });
        }
        Ok(Self {
            kind,
            from: min_lr,
            to: max_lr,
            span: iterations - 1,
        })
    }

    /// Which ramp this is.
    pub fn kind(&self) -> RampKind {
        self.kind
    }
}

impl LrSchedule for Ramp {
    fn lr(&self, iteration: u64) -> f64 {
        let t = iteration.min(self.span) as f64 / self.span as f64;
        match self.kind {
            RampKind::LinearDecay | RampKind::RangeLinear => {
                if iteration >= self.span {
                    self.to
                } else {
                    self.from + (self.to - self.from) * t
                }
            }
            RampKind::RangeExp => {
                if iteration >= self.span {
                    self.to
                } else {
                    self.from * (self.to / self.from).powf(t)
                }
            }
        }
    }

    fn lr_bounds(&self) -> (f64, f64) {
        (self.from.min(self.to), self.from.max(self.to))
    }

    fn describe(&self) -> String {
        match self.kind {
            RampKind::LinearDecay => {
                format!("linear_decay {}-{} over {}", self.from, self.to, self.span)
            }
            RampKind::RangeLinear => {
                format!(
                    "range_linear {}-{} over {}",
                    self.from,
                    self.to,
                    self.span + 1
                )
            }
            RampKind::RangeExp => {
                format!("range_exp {}-{} over {}", self.from, self.to, self.span + 1)
            }
        }
    }
}

/// `[schedule]` of `policy = "linear_decay"`: `base_lr`, `max_lr`, `step_size` (or
/// `step_size_epochs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearDecayConfig {
    /// The rate at the end.
    pub base_lr: Option<f64>,
    /// The rate at the start.
    pub max_lr: Option<f64>,
    /// The length of the decay in iterations.
    pub step_size: Option<u64>,
    /// `step_size` in epochs.
    pub step_size_epochs: Option<f64>,
}

/// `[schedule]` of `policy = "range_linear"` or `"range_exp"` (the LR range test's sweep):
/// `min_lr`, `max_lr`, `iterations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RangeConfig {
    /// The rate at the start.
    pub min_lr: Option<f64>,
    /// The rate at the end.
    pub max_lr: Option<f64>,
    /// The sweep's length.
    pub iterations: Option<u64>,
}

impl LinearDecayConfig {
    pub(crate) fn build(&self, ipe: Option<u64>) -> Result<Ramp, ScheduleError> {
        let p = "linear_decay";
        let step_size = resolve_epochs(
            ("step_size", self.step_size),
            ("step_size_epochs", self.step_size_epochs),
            ipe,
        )?;
        Ramp::linear_decay(
            required(self.base_lr, p, "base_lr")?,
            required(self.max_lr, p, "max_lr")?,
            required(step_size, p, "step_size")?,
        )
    }
}

impl RangeConfig {
    /// The sweep; `stage_iterations` stands in for a missing `iterations` inside a sequence.
    pub(crate) fn build(
        &self,
        exp: bool,
        stage_iterations: Option<u64>,
    ) -> Result<Ramp, ScheduleError> {
        let p = if exp { "range_exp" } else { "range_linear" };
        let min_lr = required(self.min_lr, p, "min_lr")?;
        let max_lr = required(self.max_lr, p, "max_lr")?;
        let n = required(self.iterations.or(stage_iterations), p, "iterations")?;
        if exp {
            Ramp::range_exp(min_lr, max_lr, n)
        } else {
            Ramp::range_linear(min_lr, max_lr, n)
        }
    }
}
