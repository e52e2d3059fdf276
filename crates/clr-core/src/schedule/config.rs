//! The `[schedule]` configuration table and its validation into a [`Schedule`].

use serde::{Deserialize, Serialize};

use super::validate::positive;
use super::{
    CyclicConfig, ExpConfig, FixedConfig, InvConfig, LinearDecayConfig, MultistepConfig,
    OneCycleConfig, PolyConfig, RangeConfig, Schedule, ScheduleError, SequenceConfig, SgdrConfig,
    StepConfig,
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
}

/// A `[schedule]` table: `policy = "…"` plus the keys that policy uses (PyTorch's names where
/// it has them), one struct per family beside its schedule. Keys a policy does not use are
/// rejected while parsing (naming the keys it does use); missing keys and bad values by
/// [`build`](Self::build).
///
/// | policy | keys (optional ones in brackets) |
/// |---|---|
/// | `fixed` | [`FixedConfig`] |
/// | `step`, `sigmoid` | [`StepConfig`] |
/// | `multistep` | [`MultistepConfig`] |
/// | `exp` | [`ExpConfig`] |
/// | `inv` | [`InvConfig`] |
/// | `poly` | [`PolyConfig`] |
/// | `linear_decay` | [`LinearDecayConfig`] |
/// | `triangular`, `triangular2`, `exp_range` | [`CyclicConfig`] |
/// | `one_cycle` | [`OneCycleConfig`] |
/// | `sgdr` | [`SgdrConfig`] |
/// | `range_linear`, `range_exp` | [`RangeConfig`] |
/// | `sequence` | [`SequenceConfig`]: `stages`, a list of tables, each a schedule plus its `iterations` |
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
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum ScheduleConfig {
    /// Caffe `fixed`.
    Fixed(FixedConfig),
    /// Caffe `step`.
    Step(StepConfig),
    /// Caffe `multistep`.
    Multistep(MultistepConfig),
    /// Caffe `exp`.
    Exp(ExpConfig),
    /// Caffe `inv`.
    Inv(InvConfig),
    /// Caffe `poly`.
    Poly(PolyConfig),
    /// Caffe `sigmoid`.
    Sigmoid(StepConfig),
    /// The paper's linear decay baseline.
    LinearDecay(LinearDecayConfig),
    /// CLR triangular.
    Triangular(CyclicConfig),
    /// CLR triangular2 (amplitude halves every cycle).
    Triangular2(CyclicConfig),
    /// CLR exp_range.
    ExpRange(CyclicConfig),
    /// 1cycle.
    OneCycle(OneCycleConfig),
    /// Cosine annealing with warm restarts.
    Sgdr(SgdrConfig),
    /// Linear LR range test sweep.
    RangeLinear(RangeConfig),
    /// Exponential LR range test sweep.
    RangeExp(RangeConfig),
    /// Stages run one after the other.
    Sequence(SequenceConfig),
}

impl ScheduleConfig {
    /// The policy.
    pub fn policy(&self) -> Policy {
        match self {
            Self::Fixed(_) => Policy::Fixed,
            Self::Step(_) => Policy::Step,
            Self::Multistep(_) => Policy::Multistep,
            Self::Exp(_) => Policy::Exp,
            Self::Inv(_) => Policy::Inv,
            Self::Poly(_) => Policy::Poly,
            Self::Sigmoid(_) => Policy::Sigmoid,
            Self::LinearDecay(_) => Policy::LinearDecay,
            Self::Triangular(_) => Policy::Triangular,
            Self::Triangular2(_) => Policy::Triangular2,
            Self::ExpRange(_) => Policy::ExpRange,
            Self::OneCycle(_) => Policy::OneCycle,
            Self::Sgdr(_) => Policy::Sgdr,
            Self::RangeLinear(_) => Policy::RangeLinear,
            Self::RangeExp(_) => Policy::RangeExp,
            Self::Sequence(_) => Policy::Sequence,
        }
    }

    /// The policy's name as written in configuration files.
    pub fn policy_name(&self) -> &'static str {
        self.policy().name()
    }

    /// Validates the configuration and builds the schedule. Lengths given in epochs are
    /// resolved with `iterations_per_epoch`.
    ///
    /// # Errors
    /// A missing key, a bad value (see [`ScheduleError`]), or a length in epochs when
    /// `iterations_per_epoch` is `None`.
    pub fn build(&self, iterations_per_epoch: Option<u64>) -> Result<Schedule, ScheduleError> {
        self.build_stage(iterations_per_epoch, None)
    }

    /// [`build`](Self::build) for a stage of `stage_iterations` of a sequence (a range sweep
    /// without its own `iterations` spans the stage).
    pub(crate) fn build_stage(
        &self,
        ipe: Option<u64>,
        stage_iterations: Option<u64>,
    ) -> Result<Schedule, ScheduleError> {
        let p = self.policy();
        Ok(match self {
            Self::Fixed(c) => c.build()?.into(),
            Self::Step(c) | Self::Sigmoid(c) => c.build(p, ipe)?.into(),
            Self::Multistep(c) => c.build()?.into(),
            Self::Exp(c) => c.build()?.into(),
            Self::Inv(c) => c.build()?.into(),
            Self::Poly(c) => c.build()?.into(),
            Self::LinearDecay(c) => c.build(ipe)?.into(),
            Self::Triangular(c) | Self::Triangular2(c) | Self::ExpRange(c) => {
                c.build(p, ipe)?.into()
            }
            Self::OneCycle(c) => c.build()?.into(),
            Self::Sgdr(c) => c.build()?.into(),
            Self::RangeLinear(c) => c.build(false, stage_iterations)?.into(),
            Self::RangeExp(c) => c.build(true, stage_iterations)?.into(),
            Self::Sequence(c) => c.build(ipe)?.into(),
        })
    }
}

/// `value`, or [`ScheduleError::MissingKey`] naming `policy` and `key`.
pub(crate) fn required<T>(
    value: Option<T>,
    policy: &'static str,
    key: &'static str,
) -> Result<T, ScheduleError> {
    value.ok_or(ScheduleError::MissingKey { policy, key })
}

/// The momentum bounds to cycle, if any, from `(base_momentum, max_momentum,
/// cycle_momentum)`; with `default_on` (`one_cycle`) PyTorch's 0.85-0.95 when none are given.
pub(crate) fn momenta_of(
    (base, max, cycle): (Option<f64>, Option<f64>, Option<bool>),
    default_on: bool,
    policy: &'static str,
) -> Result<Option<(f64, f64)>, ScheduleError> {
    let pair = match (base, max) {
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
    match (cycle, pair) {
        (Some(false), _) => Ok(None),
        (Some(true), None) => Err(ScheduleError::MissingKey {
            policy,
            key: "base_momentum",
        }),
        (_, pair) => Ok(pair),
    }
}

/// Resolves a length given either in iterations or in epochs.
pub(crate) fn resolve_epochs(
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
