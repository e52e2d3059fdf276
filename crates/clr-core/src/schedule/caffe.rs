//! Caffe's learning-rate policies: `fixed`, `step`, `multistep`, `exp`, `inv`, `poly`,
//! `sigmoid`.

use serde::{Deserialize, Serialize};

use super::config::{required, resolve_epochs, Policy};
use super::validate::{count, finite, non_negative, positive};
use super::{LrSchedule, ScheduleError};

/// The decay rule of a [`Caffe`] schedule (Caffe's `lr_policy`).
#[derive(Clone, Debug, PartialEq)]
pub enum CaffeRule {
    /// `lr = base_lr`.
    Fixed,
    /// `lr = base_lr * gamma^floor(iteration / step_size)`.
    Step {
        /// Factor applied every `step_size` iterations (> 0).
        gamma: f64,
        /// Iterations between two drops (>= 1).
        step_size: u64,
    },
    /// `lr = base_lr * gamma^k`, `k` = number of `step_values` `<= iteration`.
    MultiStep {
        /// Factor applied at each step value (> 0).
        gamma: f64,
        /// Strictly increasing iterations at which the LR drops.
        step_values: Vec<u64>,
    },
    /// `lr = base_lr * gamma^iteration`.
    Exp {
        /// Factor per iteration (> 0).
        gamma: f64,
    },
    /// `lr = base_lr * (1 + gamma * iteration)^(-power)`.
    Inv {
        /// Time scale (>= 0).
        gamma: f64,
        /// Decay exponent (>= 0).
        power: f64,
    },
    /// `lr = base_lr * (1 - iteration / max_iterations)^power`, 0 from `max_iterations` on.
    Poly {
        /// Decay exponent (> 0).
        power: f64,
        /// Iteration at which the LR reaches 0 (>= 1).
        max_iterations: u64,
    },
    /// `lr = base_lr / (1 + exp(-gamma * (iteration - step_size)))`.
    Sigmoid {
        /// Slope; negative decays, positive warms up (non-zero).
        gamma: f64,
        /// Iteration of the sigmoid's midpoint.
        step_size: u64,
    },
}

/// One of Caffe's learning-rate policies.
///
/// # Formula
/// See the variants of [`CaffeRule`]; they are Caffe's `SGDSolver::GetLearningRate`.
///
/// # Errors
/// [`Caffe::new`] rejects a negative or non-finite `base_lr`, a non-positive `gamma` for
/// `step`/`multistep`/`exp`, a negative `gamma`/`power` for `inv`, a zero `gamma` for
/// `sigmoid`, a zero `step_size`/`max_iterations`, and empty or unsorted `step_values`.
///
/// # Example
/// ```
/// use clr_core::{Caffe, CaffeRule, LrSchedule};
/// let s = Caffe::new(0.01, CaffeRule::Step { gamma: 0.1, step_size: 100 }).unwrap();
/// assert_eq!(s.lr(99), 0.01);
/// assert!((s.lr(100) - 0.001).abs() < 1e-18);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Caffe {
    base_lr: f64,
    rule: CaffeRule,
}

impl Caffe {
    /// Checks the parameters and builds the schedule.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn new(base_lr: f64, rule: CaffeRule) -> Result<Self, ScheduleError> {
        non_negative("base_lr", base_lr)?;
        match &rule {
            CaffeRule::Fixed => {}
            CaffeRule::Step { gamma, step_size } => {
                positive("gamma", *gamma)?;
                count("step_size", *step_size)?;
            }
            CaffeRule::MultiStep { gamma, step_values } => {
                positive("gamma", *gamma)?;
                if step_values.is_empty() {
                    return Err(ScheduleError::EmptyStepValues);
                }
                for (index, w) in step_values.windows(2).enumerate() {
                    if w[1] <= w[0] {
                        return Err(ScheduleError::UnsortedStepValues {
                            index: index + 1,
                            previous: w[0],
                            value: w[1],
                        });
                    }
                }
            }
            CaffeRule::Exp { gamma } => {
                positive("gamma", *gamma)?;
            }
            CaffeRule::Inv { gamma, power } => {
                non_negative("gamma", *gamma)?;
                non_negative("power", *power)?;
            }
            CaffeRule::Poly {
                power,
                max_iterations,
            } => {
                positive("power", *power)?;
                count("max_iterations", *max_iterations)?;
            }
            CaffeRule::Sigmoid { gamma, .. } => {
                if finite("gamma", *gamma)? == 0.0 {
                    return Err(ScheduleError::OutOfRange {
                        key: "gamma",
                        value: *gamma,
                        allowed: "a non-zero number (negative decays, positive warms up)",
                    });
                }
            }
        }
        Ok(Self { base_lr, rule })
    }

    /// Caffe's name of the policy.
    pub fn policy_name(&self) -> &'static str {
        match self.rule {
            CaffeRule::Fixed => "fixed",
            CaffeRule::Step { .. } => "step",
            CaffeRule::MultiStep { .. } => "multistep",
            CaffeRule::Exp { .. } => "exp",
            CaffeRule::Inv { .. } => "inv",
            CaffeRule::Poly { .. } => "poly",
            CaffeRule::Sigmoid { .. } => "sigmoid",
        }
    }
}

impl LrSchedule for Caffe {
    fn lr(&self, iteration: u64) -> f64 {
        let it = iteration as f64;
        let b = self.base_lr;
        match &self.rule {
            CaffeRule::Fixed => b,
            CaffeRule::Step { gamma, step_size } => b * gamma.powf((iteration / step_size) as f64),
            CaffeRule::MultiStep { gamma, step_values } => {
                let k = step_values.partition_point(|&s| s <= iteration);
                b * gamma.powf(k as f64)
            }
            CaffeRule::Exp { gamma } => b * gamma.powf(it),
            CaffeRule::Inv { gamma, power } => b * (1.0 + gamma * it).powf(-power),
            CaffeRule::Poly {
                power,
                max_iterations,
            } => {
                if iteration >= *max_iterations {
                    0.0
                } else {
                    b * (1.0 - it / *max_iterations as f64).powf(*power)
                }
            }
            CaffeRule::Sigmoid { gamma, step_size } => {
                b * (1.0 / (1.0 + (-gamma * (it - *step_size as f64)).exp()))
            }
        }
    }

    fn lr_bounds(&self) -> (f64, f64) {
        let b = self.base_lr;
        match &self.rule {
            CaffeRule::Fixed => (b, b),
            CaffeRule::MultiStep { gamma, step_values } => {
                let last = b * gamma.powi(step_values.len() as i32);
                (b.min(last), b.max(last))
            }
            CaffeRule::Step { gamma, .. } | CaffeRule::Exp { gamma } => {
                if *gamma >= 1.0 {
                    (b, if *gamma == 1.0 { b } else { f64::INFINITY })
                } else {
                    (0.0, b)
                }
            }
            CaffeRule::Inv { .. } | CaffeRule::Poly { .. } | CaffeRule::Sigmoid { .. } => (0.0, b),
        }
    }

    fn describe(&self) -> String {
        let b = self.base_lr;
        match &self.rule {
            CaffeRule::Fixed => format!("fixed {b}"),
            CaffeRule::Step { gamma, step_size } => {
                format!("step {b} gamma {gamma} every {step_size}")
            }
            CaffeRule::MultiStep { gamma, step_values } => {
                format!("multistep {b} gamma {gamma} at {step_values:?}")
            }
            CaffeRule::Exp { gamma } => format!("exp {b} gamma {gamma}"),
            CaffeRule::Inv { gamma, power } => format!("inv {b} gamma {gamma} power {power}"),
            CaffeRule::Poly {
                power,
                max_iterations,
            } => format!("poly {b} power {power} to {max_iterations}"),
            CaffeRule::Sigmoid { gamma, step_size } => {
                format!("sigmoid {b} gamma {gamma} at {step_size}")
            }
        }
    }
}

/// `[schedule]` of `policy = "fixed"`: `base_lr`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FixedConfig {
    /// The rate.
    pub base_lr: Option<f64>,
}

/// `[schedule]` of `policy = "step"` or `"sigmoid"`: `base_lr`, `gamma`, `step_size` (or
/// `step_size_epochs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepConfig {
    /// The rate decayed from.
    pub base_lr: Option<f64>,
    /// The factor per step (`step`) or the sigmoid's slope (`sigmoid`).
    pub gamma: Option<f64>,
    /// Caffe's `stepsize` in iterations.
    pub step_size: Option<u64>,
    /// `step_size` in epochs.
    pub step_size_epochs: Option<f64>,
}

/// `[schedule]` of `policy = "multistep"`: `base_lr`, `gamma`, `step_values`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultistepConfig {
    /// The rate decayed from.
    pub base_lr: Option<f64>,
    /// The factor at each step value.
    pub gamma: Option<f64>,
    /// Iterations at which the rate drops.
    pub step_values: Option<Vec<u64>>,
}

/// `[schedule]` of `policy = "exp"`: `base_lr`, `gamma`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpConfig {
    /// The rate decayed from.
    pub base_lr: Option<f64>,
    /// The factor per iteration.
    pub gamma: Option<f64>,
}

/// `[schedule]` of `policy = "inv"`: `base_lr`, `gamma`, `power`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvConfig {
    /// The rate decayed from.
    pub base_lr: Option<f64>,
    /// `lr = base_lr * (1 + gamma * iteration)^-power`.
    pub gamma: Option<f64>,
    /// The exponent.
    pub power: Option<f64>,
}

/// `[schedule]` of `policy = "poly"`: `base_lr`, `power`, `max_iterations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolyConfig {
    /// The rate decayed from.
    pub base_lr: Option<f64>,
    /// The exponent.
    pub power: Option<f64>,
    /// The iteration at which the rate reaches 0.
    pub max_iterations: Option<u64>,
}

impl FixedConfig {
    pub(crate) fn build(&self) -> Result<Caffe, ScheduleError> {
        Caffe::new(
            required(self.base_lr, "fixed", "base_lr")?,
            CaffeRule::Fixed,
        )
    }
}

impl StepConfig {
    pub(crate) fn build(&self, kind: Policy, ipe: Option<u64>) -> Result<Caffe, ScheduleError> {
        let (sigmoid, policy) = (kind == Policy::Sigmoid, kind.name());
        let gamma = required(self.gamma, policy, "gamma")?;
        let step_size = required(
            resolve_epochs(
                ("step_size", self.step_size),
                ("step_size_epochs", self.step_size_epochs),
                ipe,
            )?,
            policy,
            "step_size",
        )?;
        let rule = if sigmoid {
            CaffeRule::Sigmoid { gamma, step_size }
        } else {
            CaffeRule::Step { gamma, step_size }
        };
        Caffe::new(required(self.base_lr, policy, "base_lr")?, rule)
    }
}

impl MultistepConfig {
    pub(crate) fn build(&self) -> Result<Caffe, ScheduleError> {
        let p = "multistep";
        let rule = CaffeRule::MultiStep {
            gamma: required(self.gamma, p, "gamma")?,
            step_values: required(self.step_values.clone(), p, "step_values")?,
        };
        Caffe::new(required(self.base_lr, p, "base_lr")?, rule)
    }
}

impl ExpConfig {
    pub(crate) fn build(&self) -> Result<Caffe, ScheduleError> {
        let rule = CaffeRule::Exp {
            gamma: required(self.gamma, "exp", "gamma")?,
        };
        Caffe::new(required(self.base_lr, "exp", "base_lr")?, rule)
    }
}

impl InvConfig {
    pub(crate) fn build(&self) -> Result<Caffe, ScheduleError> {
        let rule = CaffeRule::Inv {
            gamma: required(self.gamma, "inv", "gamma")?,
            power: required(self.power, "inv", "power")?,
        };
        Caffe::new(required(self.base_lr, "inv", "base_lr")?, rule)
    }
}

impl PolyConfig {
    pub(crate) fn build(&self) -> Result<Caffe, ScheduleError> {
        let rule = CaffeRule::Poly {
            power: required(self.power, "poly", "power")?,
            max_iterations: required(self.max_iterations, "poly", "max_iterations")?,
        };
        Caffe::new(required(self.base_lr, "poly", "base_lr")?, rule)
    }
}
