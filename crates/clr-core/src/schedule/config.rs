//! The `[schedule]` configuration table and its validation into a [`Schedule`].

use serde::{Deserialize, Serialize};

use super::validate::positive;
use super::{
    Anneal, Caffe, CaffeRule, Cyclic, ExpRangeDecay, OneCycle, OneCycleParams, Ramp, Scale,
    Schedule, ScheduleError, Sequence, Sgdr, Shape, Stage,
};

/// The learning-rate policy a [`ScheduleConfig`] selects (`policy = "…"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Caffe `fixed`.
    Fixed,
    /// Caffe `step`.
    Step,
    /// Caffe `multistep`.
    Multistep,
    /// Caffe `exp`.
    Exp,
    /// Caffe `inv`.
    Inv,
    /// Caffe `poly`.
    Poly,
    /// Caffe `sigmoid`.
    Sigmoid,
    /// The paper's linear decay baseline.
    LinearDecay,
    /// CLR triangular.
    Triangular,
    /// CLR triangular2 (amplitude halves every cycle).
    Triangular2,
    /// CLR exp_range (amplitude scaled by `gamma^iteration`).
    ExpRange,
    /// 1cycle.
    OneCycle,
    /// Cosine annealing with warm restarts.
    Sgdr,
    /// Linear LR range test sweep.
    RangeLinear,
    /// Exponential LR range test sweep.
    RangeExp,
    /// Stages run one after the other.
    Sequence,
}

impl Policy {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Fixed => "fixed",
            Policy::Step => "step",
            Policy::Multistep => "multistep",
            Policy::Exp => "exp",
            Policy::Inv => "inv",
            Policy::Poly => "poly",
            Policy::Sigmoid => "sigmoid",
            Policy::LinearDecay => "linear_decay",
            Policy::Triangular => "triangular",
            Policy::Triangular2 => "triangular2",
            Policy::ExpRange => "exp_range",
            Policy::OneCycle => "one_cycle",
            Policy::Sgdr => "sgdr",
            Policy::RangeLinear => "range_linear",
            Policy::RangeExp => "range_exp",
            Policy::Sequence => "sequence",
        }
    }

    /// Every key the policy accepts (`policy` itself excluded).
    pub fn keys(self) -> Vec<&'static str> {
        const CYCLIC: &[&str] = &[
            "base_lr",
            "max_lr",
            "step_size",
            "step_size_epochs",
            "step_size_down",
            "step_size_down_epochs",
            "shape",
            "base_momentum",
            "max_momentum",
            "cycle_momentum",
        ];
        let keys: &[&str] = match self {
            Policy::Fixed => &["base_lr"],
            Policy::Step | Policy::Sigmoid => {
                &["base_lr", "gamma", "step_size", "step_size_epochs"]
            }
            Policy::Multistep => &["base_lr", "gamma", "step_values"],
            Policy::Exp => &["base_lr", "gamma"],
            Policy::Inv => &["base_lr", "gamma", "power"],
            Policy::Poly => &["base_lr", "power", "max_iterations"],
            Policy::LinearDecay => &["base_lr", "max_lr", "step_size", "step_size_epochs"],
            Policy::Triangular | Policy::Triangular2 => CYCLIC,
            Policy::ExpRange => return [CYCLIC, &["gamma", "decay"]].concat(),
            Policy::OneCycle => &[
                "max_lr",
                "total_iterations",
                "pct_start",
                "anneal",
                "div_factor",
                "final_div_factor",
                "three_phase",
                "base_momentum",
                "max_momentum",
                "cycle_momentum",
            ],
            Policy::Sgdr => &["max_lr", "t0", "t_mult", "eta_min"],
            Policy::RangeLinear | Policy::RangeExp => &["min_lr", "max_lr", "iterations"],
            Policy::Sequence => &["stages"],
        };
        keys.to_vec()
    }
}

/// A `[schedule]` table: `policy = "…"` plus the keys that policy uses (PyTorch's names where
/// it has them). Unknown keys are rejected while parsing; keys the policy does not use, missing
/// keys and bad values are rejected by [`build`](Self::build).
///
/// Policies and their keys (optional ones in brackets):
///
/// | policy | keys |
/// |---|---|
/// | `fixed` | `base_lr` |
/// | `step`, `sigmoid` | `base_lr`, `gamma`, `step_size` or `step_size_epochs` |
/// | `multistep` | `base_lr`, `gamma`, `step_values` |
/// | `exp` | `base_lr`, `gamma` |
/// | `inv` | `base_lr`, `gamma`, `power` |
/// | `poly` | `base_lr`, `power`, `max_iterations` |
/// | `linear_decay` | `base_lr`, `max_lr`, `step_size`/`step_size_epochs` |
/// | `triangular`, `triangular2` | `base_lr`, `max_lr`, `step_size`/`step_size_epochs`, [`step_size_down`/`step_size_down_epochs`, `shape`, `base_momentum` + `max_momentum`, `cycle_momentum`] |
/// | `exp_range` | as `triangular` plus `gamma`, [`decay` = `amplitude` \| `both`] |
/// | `one_cycle` | `max_lr`, `total_iterations`, [`pct_start`, `anneal`, `div_factor`, `final_div_factor`, `three_phase`, `base_momentum`, `max_momentum`, `cycle_momentum`] |
/// | `sgdr` | `max_lr`, `t0`, [`t_mult`, `eta_min`] |
/// | `range_linear`, `range_exp` | `min_lr`, `max_lr`, `iterations` |
/// | `sequence` | `stages`: a list of tables, each a schedule plus its `iterations` |
///
/// # Example
/// ```
/// use clr_core::ScheduleConfig;
/// let cfg: ScheduleConfig = toml::from_str(
///     "policy = \"triangular\"\nbase_lr = 1.0\nmax_lr = 5.0\nstep_size_epochs = 2\n",
/// ).unwrap();
/// let s = cfg.build(Some(2)).unwrap();
/// assert_eq!((s.lr(0), s.lr(2), s.lr(4), s.lr(6)), (1.0, 3.0, 5.0, 3.0));
/// assert!(cfg.build(None).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The policy.
    pub policy: Policy,
    /// Lower LR bound (cyclic, linear decay) or the LR Caffe policies decay from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_lr: Option<f64>,
    /// Upper LR bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lr: Option<f64>,
    /// Start of a range test sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
    /// Half a cycle (cyclic), the decay length (`linear_decay`) or Caffe's `stepsize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size: Option<u64>,
    /// `step_size` in epochs, resolved with the iterations per epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size_epochs: Option<f64>,
    /// Length of the falling half of a cycle (defaults to `step_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size_down: Option<u64>,
    /// `step_size_down` in epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size_down_epochs: Option<f64>,
    /// Decay factor (Caffe policies, `exp_range`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Exponent (`inv`, `poly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
    /// Iterations at which `multistep` drops the LR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_values: Option<Vec<u64>>,
    /// Iteration at which `poly` reaches 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// Window shape of a cycle (`triangle`, `welch`/`parabolic`, `hann`/`sinusoidal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// What `exp_range` decays (`amplitude`, the default, or `both` bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<ExpRangeDecay>,
    /// Lower momentum (reached at the LR peak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_momentum: Option<f64>,
    /// Upper momentum (at the LR minimum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_momentum: Option<f64>,
    /// Whether momentum is cycled (default: `true` for `one_cycle`, and for cyclic policies
    /// when momenta are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_momentum: Option<bool>,
    /// Length of the one-cycle schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_iterations: Option<u64>,
    /// Fraction of the one cycle spent rising.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct_start: Option<f64>,
    /// One-cycle interpolation (`cos` or `linear`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anneal: Option<Anneal>,
    /// One-cycle `initial_lr = max_lr / div_factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub div_factor: Option<f64>,
    /// One-cycle `min_lr = initial_lr / final_div_factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_div_factor: Option<f64>,
    /// One-cycle three-phase variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub three_phase: Option<bool>,
    /// SGDR first cycle length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t0: Option<u64>,
    /// SGDR cycle length multiplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_mult: Option<u64>,
    /// SGDR minimum LR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_min: Option<f64>,
    /// Sweep length of a range test; inside `stages`, the stage's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Stages of a `sequence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<ScheduleConfig>>,
}

impl ScheduleConfig {
    /// A configuration of `policy` with no keys set.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            base_lr: None,
            max_lr: None,
            min_lr: None,
            step_size: None,
            step_size_epochs: None,
            step_size_down: None,
            step_size_down_epochs: None,
            gamma: None,
            power: None,
            step_values: None,
            max_iterations: None,
            shape: None,
            decay: None,
            base_momentum: None,
            max_momentum: None,
            cycle_momentum: None,
            total_iterations: None,
            pct_start: None,
            anneal: None,
            div_factor: None,
            final_div_factor: None,
            three_phase: None,
            t0: None,
            t_mult: None,
            eta_min: None,
            iterations: None,
            stages: None,
        }
    }

    /// The policy's name as written in configuration files.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// Validates the configuration and builds the schedule. Lengths given in epochs are
    /// resolved with `iterations_per_epoch`.
    ///
    /// # Errors
    /// A key the policy does not use, a missing key, a bad value (see [`ScheduleError`]), or a
    /// length in epochs when `iterations_per_epoch` is `None`.
    pub fn build(&self, iterations_per_epoch: Option<u64>) -> Result<Schedule, ScheduleError> {
        self.build_in(iterations_per_epoch, false)
    }

    /// Names of the keys that are set.
    fn given_keys(&self) -> Vec<&'static str> {
        let flags = [
            ("base_lr", self.base_lr.is_some()),
            ("max_lr", self.max_lr.is_some()),
            ("min_lr", self.min_lr.is_some()),
            ("step_size", self.step_size.is_some()),
            ("step_size_epochs", self.step_size_epochs.is_some()),
            ("step_size_down", self.step_size_down.is_some()),
            (
                "step_size_down_epochs",
                self.step_size_down_epochs.is_some(),
            ),
            ("gamma", self.gamma.is_some()),
            ("power", self.power.is_some()),
            ("step_values", self.step_values.is_some()),
            ("max_iterations", self.max_iterations.is_some()),
            ("shape", self.shape.is_some()),
            ("decay", self.decay.is_some()),
            ("base_momentum", self.base_momentum.is_some()),
            ("max_momentum", self.max_momentum.is_some()),
            ("cycle_momentum", self.cycle_momentum.is_some()),
            ("total_iterations", self.total_iterations.is_some()),
            ("pct_start", self.pct_start.is_some()),
            ("anneal", self.anneal.is_some()),
            ("div_factor", self.div_factor.is_some()),
            ("final_div_factor", self.final_div_factor.is_some()),
            ("three_phase", self.three_phase.is_some()),
            ("t0", self.t0.is_some()),
            ("t_mult", self.t_mult.is_some()),
            ("eta_min", self.eta_min.is_some()),
            ("iterations", self.iterations.is_some()),
            ("stages", self.stages.is_some()),
        ];
        flags
            .iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| *k)
            .collect()
    }

    fn build_in(&self, ipe: Option<u64>, in_stage: bool) -> Result<Schedule, ScheduleError> {
        let policy = self.policy.name();
        let allowed = self.policy.keys();
        for key in self.given_keys() {
            if !(allowed.contains(&key) || in_stage && key == "iterations") {
                let mut list = allowed.clone();
                if in_stage && !list.contains(&"iterations") {
                    list.push("iterations");
                }
                return Err(ScheduleError::KeyNotUsed {
                    policy,
                    key,
                    allowed: list.join(", "),
                });
            }
        }
        let need = |key: &'static str| ScheduleError::MissingKey { policy, key };
        let base_lr = || self.base_lr.ok_or_else(|| need("base_lr"));
        let max_lr = || self.max_lr.ok_or_else(|| need("max_lr"));
        let gamma = || self.gamma.ok_or_else(|| need("gamma"));
        let power = || self.power.ok_or_else(|| need("power"));
        let step_size = || {
            resolve_epochs(
                ("step_size", self.step_size),
                ("step_size_epochs", self.step_size_epochs),
                ipe,
            )?
            .ok_or_else(|| need("step_size"))
        };
        let caffe = |rule| Ok(Schedule::from(Caffe::new(base_lr()?, rule)?));
        match self.policy {
            Policy::Fixed => caffe(CaffeRule::Fixed),
            Policy::Step => caffe(CaffeRule::Step {
                gamma: gamma()?,
                step_size: step_size()?,
            }),
            Policy::Multistep => caffe(CaffeRule::MultiStep {
                gamma: gamma()?,
                step_values: self
                    .step_values
                    .clone()
                    .ok_or_else(|| need("step_values"))?,
            }),
            Policy::Exp => caffe(CaffeRule::Exp { gamma: gamma()? }),
            Policy::Inv => caffe(CaffeRule::Inv {
                gamma: gamma()?,
                power: power()?,
            }),
            Policy::Poly => caffe(CaffeRule::Poly {
                power: power()?,
                max_iterations: self.max_iterations.ok_or_else(|| need("max_iterations"))?,
            }),
            Policy::Sigmoid => caffe(CaffeRule::Sigmoid {
                gamma: gamma()?,
                step_size: step_size()?,
            }),
            Policy::LinearDecay => {
                Ok(Ramp::linear_decay(base_lr()?, max_lr()?, step_size()?)?.into())
            }
            Policy::Triangular | Policy::Triangular2 | Policy::ExpRange => {
                let scale = match self.policy {
                    Policy::Triangular => Scale::Constant,
                    Policy::Triangular2 => Scale::Halving,
                    _ => Scale::ExpRange {
                        gamma: gamma()?,
                        decay: self.decay.unwrap_or_default(),
                    },
                };
                let mut c = Cyclic::new(base_lr()?, max_lr()?, step_size()?, scale)?
                    .with_shape(self.shape.unwrap_or_default());
                if let Some(down) = resolve_epochs(
                    ("step_size_down", self.step_size_down),
                    ("step_size_down_epochs", self.step_size_down_epochs),
                    ipe,
                )? {
                    c = c.with_step_size_down(down)?;
                }
                if let Some((base_m, max_m)) = self.momenta(false)? {
                    c = c.with_momentum(base_m, max_m)?;
                }
                Ok(c.into())
            }
            Policy::OneCycle => {
                let mut p = OneCycleParams::new(
                    max_lr()?,
                    self.total_iterations
                        .ok_or_else(|| need("total_iterations"))?,
                );
                p.pct_start = self.pct_start.unwrap_or(p.pct_start);
                p.anneal = self.anneal.unwrap_or(p.anneal);
                p.div_factor = self.div_factor.unwrap_or(p.div_factor);
                p.final_div_factor = self.final_div_factor.unwrap_or(p.final_div_factor);
                p.three_phase = self.three_phase.unwrap_or(p.three_phase);
                p.momentum = self.momenta(true)?;
                Ok(OneCycle::new(p)?.into())
            }
            Policy::Sgdr => Ok(Sgdr::new(
                max_lr()?,
                self.eta_min.unwrap_or(0.0),
                self.t0.ok_or_else(|| need("t0"))?,
                self.t_mult.unwrap_or(1),
            )?
            .into()),
            Policy::RangeLinear | Policy::RangeExp => {
                let min_lr = self.min_lr.ok_or_else(|| need("min_lr"))?;
                let n = self.iterations.ok_or_else(|| need("iterations"))?;
                let ramp = if self.policy == Policy::RangeLinear {
                    Ramp::range_linear(min_lr, max_lr()?, n)?
                } else {
                    Ramp::range_exp(min_lr, max_lr()?, n)?
                };
                Ok(ramp.into())
            }
            Policy::Sequence => {
                let stages = self.stages.as_ref().ok_or_else(|| need("stages"))?;
                let built = stages
                    .iter()
                    .enumerate()
                    .map(|(index, cfg)| {
                        let in_stage = |e| ScheduleError::Stage {
                            index,
                            source: Box::new(e),
                        };
                        let iterations = cfg.iterations.ok_or(ScheduleError::MissingKey {
                            policy: cfg.policy.name(),
                            key: "iterations",
                        });
                        Ok(Stage {
                            iterations: iterations.map_err(in_stage)?,
                            schedule: cfg.build_in(ipe, true).map_err(in_stage)?,
                        })
                    })
                    .collect::<Result<Vec<_>, ScheduleError>>()?;
                Ok(Sequence::new(built)?.into())
            }
        }
    }

    /// The momentum bounds to cycle, if any. `one_cycle` defaults to PyTorch's 0.85-0.95.
    fn momenta(&self, default_on: bool) -> Result<Option<(f64, f64)>, ScheduleError> {
        let pair = match (self.base_momentum, self.max_momentum) {
            (Some(b), Some(m)) => Some((b, m)),
            (Some(_), None) => {
                return Err(ScheduleError::MomentumPair {
                    given: "base_momentum",
                    missing: "max_momentum",
                })
            }
            (None, Some(_)) => {
                return Err(ScheduleError::MomentumPair {
                    given: "max_momentum",
                    missing: "base_momentum",
                })
            }
            (None, None) if default_on => Some((0.85, 0.95)),
            (None, None) => None,
        };
        match (self.cycle_momentum, pair) {
            (Some(false), _) => Ok(None),
            (Some(true), None) => Err(ScheduleError::MissingKey {
                policy: self.policy.name(),
                key: "base_momentum",
            }),
            (_, pair) => Ok(pair),
        }
    }
}

/// Resolves a length given either in iterations or in epochs.
fn resolve_epochs(
    (key, iterations): (&'static str, Option<u64>),
    (epochs_key, epochs): (&'static str, Option<f64>),
    iterations_per_epoch: Option<u64>,
) -> Result<Option<u64>, ScheduleError> {
    match (iterations, epochs) {
        (Some(_), Some(_)) => Err(ScheduleError::Conflicting {
            key,
            other: epochs_key,
        }),
        (Some(n), None) => Ok(Some(n)),
        (None, None) => Ok(None),
        (None, Some(e)) => {
            positive(epochs_key, e)?;
            let ipe = iterations_per_epoch
                .ok_or(ScheduleError::NeedsIterationsPerEpoch { key: epochs_key })?;
            let n = (e * ipe as f64).round();
            if n < 1.0 {
                return Err(ScheduleError::EpochsTooShort {
                    key: epochs_key,
                    epochs: e,
                    iterations_per_epoch: ipe,
                });
            }
            // `as` would saturate a longer length to u64::MAX silently.
            if n >= u64::MAX as f64 {
                return Err(ScheduleError::OutOfRange {
                    key: epochs_key,
                    value: e,
                    allowed: "a length of fewer than 2^64 iterations",
                });
            }
            Ok(Some(n as u64))
        }
    }
}
