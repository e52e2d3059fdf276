//! The paper's cyclical policies (`triangular`, `triangular2`, `exp_range`), window shapes,
//! asymmetric cycles, custom scale functions and momentum cycling, with PyTorch `CyclicLR`
//! semantics.

use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::{momenta_of, required, resolve_epochs, Policy};
use super::validate::{count, lr_range, momentum_range, positive};
use super::{LrSchedule, ScheduleError};

/// Window shape of one cycle. Every shape starts at `base_lr`, reaches `max_lr` at
/// `step_size` and is symmetric for symmetric cycles.
///
/// With `f` the triangle's position in `[0, 1]` (PyTorch's `scale_factor`), the shape maps
/// it to `triangle: f`, `welch: 1 - (1 - f)^2`, `hann: (1 - cos(pi f)) / 2`; over a symmetric
/// cycle of length `L` at position `p = t / L` these are the triangle `1 - |2p - 1|`, the Welch
/// window `1 - (2p - 1)^2` and the Hann window `sin^2(pi p)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Linear up, linear down (the paper).
    #[default]
    Triangle,
    /// Parabolic (Welch window).
    #[serde(alias = "parabolic")]
    Welch,
    /// Sinusoidal (Hann window).
    #[serde(alias = "sinusoidal")]
    Hann,
}

impl Shape {
    /// Maps the triangle position `f` in `[0, 1]` to the shape's height in `[0, 1]`.
    pub fn apply(self, f: f64) -> f64 {
        match self {
            Shape::Triangle => f,
            Shape::Welch => f * (2.0 - f),
            Shape::Hann => (1.0 - (PI * f).cos()) / 2.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Triangle => "triangle",
            Shape::Welch => "welch",
            Shape::Hann => "hann",
        }
    }
}

/// What a custom scale function receives (PyTorch's `scale_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// The 1-based cycle number.
    Cycle,
    /// The iteration number.
    Iterations,
}

/// What `exp_range`'s `gamma^iteration` multiplies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpRangeDecay {
    /// Only the amplitude `max_lr - base_lr` decays, the lower bound stays: PyTorch's
    /// `CyclicLR(mode="exp_range")` and the Keras `CyclicLR` callback.
    #[default]
    Amplitude,
    /// The whole LR decays, both bounds included: the paper's description ("each boundary
    /// value declines by an exponential factor of gamma^iteration"), under which `exp_range`
    /// oscillates around the `exp` policy with the same `gamma`.
    Both,
}

/// A user-supplied scale function `x -> factor` (PyTorch's `scale_fn`), shareable across
/// threads. It should return values in `[0, 1]` for the LR to stay within its bounds.
#[derive(Clone)]
pub struct ScaleFn(Arc<dyn Fn(f64) -> f64 + Send + Sync>);

impl ScaleFn {
    /// Wraps a closure.
    pub fn new(f: impl Fn(f64) -> f64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl fmt::Debug for ScaleFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScaleFn(..)")
    }
}

/// How the amplitude of successive cycles is scaled.
#[derive(Clone, Debug)]
pub enum Scale {
    /// `triangular`: every cycle has the full amplitude.
    Constant,
    /// `triangular2`: the amplitude halves every cycle, `1 / 2^(cycle - 1)`.
    Halving,
    /// `exp_range`: the amplitude (or the whole LR) is scaled by `gamma^iteration`.
    ExpRange {
        /// Decay per iteration, in `(0, 1]`.
        gamma: f64,
        /// What decays.
        decay: ExpRangeDecay,
    },
    /// A custom scale function of the cycle number or of the iteration.
    Custom {
        /// The function.
        f: ScaleFn,
        /// Its argument.
        mode: ScaleMode,
    },
}

/// A cyclical learning rate (the paper's CLR) with PyTorch `CyclicLR` semantics.
///
/// # Formula
/// With `L = step_size + step_size_down`, `cycle = floor(1 + t / L)`,
/// `x = 1 + t / L - cycle` and `r = step_size / L`:
/// `f = x / r` if `x <= r`, else `(x - 1) / (r - 1)`; then
/// `lr = base_lr + (max_lr - base_lr) * shape(f) * scale`, where `scale` is 1
/// (`triangular`), `1 / 2^(cycle - 1)` (`triangular2`), `gamma^t` (`exp_range`) or a custom
/// function of `cycle` or `t`. With [`ExpRangeDecay::Both`] the whole LR is multiplied by
/// `gamma^t`. Momentum, when cycled, moves inversely:
/// `momentum = max_momentum - (max_momentum - base_momentum) * shape(f) * scale`.
///
/// PyTorch: `torch.optim.lr_scheduler.CyclicLR(mode=..., step_size_up=step_size, ...)`.
///
/// # Errors
/// `base_lr` negative or `max_lr` not positive, `max_lr < base_lr`, zero step sizes or a
/// cycle of 2^64 iterations or more, `gamma` outside `(0, 1]`, momenta outside `[0, 1]` or
/// `max_momentum < base_momentum`, any NaN or infinity.
///
/// # Example
/// ```
/// use clr_core::{Cyclic, LrSchedule, Scale};
/// let s = Cyclic::new(1.0, 5.0, 4, Scale::Constant).unwrap();
/// let lrs: Vec<f64> = (0..10).map(|t| s.lr(t)).collect();
/// assert_eq!(lrs, [1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0, 2.0]);
/// let s2 = Cyclic::new(1.0, 5.0, 4, Scale::Halving).unwrap();
/// assert_eq!((s2.lr(4), s2.lr(12)), (5.0, 3.0));
/// ```
#[derive(Clone, Debug)]
pub struct Cyclic {
    base_lr: f64,
    max_lr: f64,
    step_up: u64,
    step_down: u64,
    shape: Shape,
    scale: Scale,
    momentum: Option<(f64, f64)>,
}

impl Cyclic {
    /// A symmetric triangle-shaped cycle of half-length `step_size`.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn new(
        base_lr: f64,
        max_lr: f64,
        step_size: u64,
        scale: Scale,
    ) -> Result<Self, ScheduleError> {
        lr_range(base_lr, max_lr)?;
        if let Scale::ExpRange { gamma, .. } = scale {
            if positive("gamma", gamma)? > 1.0 {
                return Err(ScheduleError::OutOfRange {
                    key: "gamma",
                    value: gamma,
                    allowed: "a decay factor in (0, 1]",
                });
            }
        }
        if step_size.checked_mul(2).is_none() {
            return Err(ScheduleError::OutOfRange {
                key: "step_size",
                value: step_size as f64,
                allowed:
                    "a half cycle of at most 2^63 - 1 iterations (a cycle must fit in 64 bits)",
            });
        }
        Ok(Self {
            base_lr,
            max_lr,
            step_up: count("step_size", step_size)?,
            step_down: step_size,
            shape: Shape::Triangle,
            scale,
            momentum: None,
        })
    }

    /// Makes the cycle asymmetric: `step_size_down` iterations from `max_lr` back down.
    ///
    /// # Errors
    /// A zero `step_size_down`, or a cycle (`step_size + step_size_down`) of 2^64 iterations
    /// or more.
    pub fn with_step_size_down(mut self, step_size_down: u64) -> Result<Self, ScheduleError> {
        self.step_down = count("step_size_down", step_size_down)?;
        if self.step_up.checked_add(self.step_down).is_none() {
            return Err(ScheduleError::OutOfRange {
                key: "step_size_down",
                value: step_size_down as f64,
                allowed: "step_size + step_size_down of fewer than 2^64 iterations",
            });
        }
        Ok(self)
    }

    /// Selects the window shape.
    pub fn with_shape(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    /// Cycles momentum inversely to the LR between `base_momentum` and `max_momentum`.
    ///
    /// # Errors
    /// Momenta outside `[0, 1]`, not finite, or `max_momentum < base_momentum`.
    pub fn with_momentum(
        mut self,
        base_momentum: f64,
        max_momentum: f64,
    ) -> Result<Self, ScheduleError> {
        momentum_range(base_momentum, max_momentum)?;
        self.momentum = Some((base_momentum, max_momentum));
        Ok(self)
    }

    /// The policy name: `triangular`, `triangular2`, `exp_range` or `custom`.
    pub fn policy_name(&self) -> &'static str {
        match self.scale {
            Scale::Constant => "triangular",
            Scale::Halving => "triangular2",
            Scale::ExpRange { .. } => "exp_range",
            Scale::Custom { .. } => "custom",
        }
    }

    fn total(&self) -> u64 {
        self.step_up + self.step_down
    }

    /// Shaped position in the cycle `shape(f)` and the amplitude scale, as PyTorch computes
    /// them.
    fn height_and_scale(&self, iteration: u64) -> (f64, f64) {
        let total = self.total() as f64;
        let ratio = self.step_up as f64 / total;
        let t = iteration as f64;
        let cycle = (1.0 + t / total).floor();
        let x = 1.0 + t / total - cycle;
        let f = if x <= ratio {
            x / ratio
        } else {
            (x - 1.0) / (ratio - 1.0)
        };
        let scale = match &self.scale {
            Scale::Constant => 1.0,
            Scale::Halving => 1.0 / 2f64.powf(cycle - 1.0),
            Scale::ExpRange { gamma, .. } => gamma.powf(t),
            Scale::Custom { f, mode } => match mode {
                ScaleMode::Cycle => (f.0)(cycle),
                ScaleMode::Iterations => (f.0)(t),
            },
        };
        (self.shape.apply(f), scale)
    }
}

impl LrSchedule for Cyclic {
    fn lr(&self, iteration: u64) -> f64 {
        let (h, scale) = self.height_and_scale(iteration);
        let base_height = (self.max_lr - self.base_lr) * h;
        match self.scale {
            Scale::ExpRange {
                decay: ExpRangeDecay::Both,
                ..
            } => (self.base_lr + base_height) * scale,
            _ => self.base_lr + base_height * scale,
        }
    }

    fn momentum(&self, iteration: u64) -> Option<f64> {
        let (base_m, max_m) = self.momentum?;
        let (h, scale) = self.height_and_scale(iteration);
        Some(max_m - (max_m - base_m) * h * scale)
    }

    fn cycles_completed(&self, iterations_done: u64) -> u64 {
        iterations_done / self.total()
    }

    fn next_cycle_end(&self, iterations_done: u64) -> Option<u64> {
        let total = self.total();
        iterations_done.max(1).div_ceil(total).checked_mul(total)
    }

    fn cycle_length(&self) -> Option<u64> {
        Some(self.total())
    }

    fn lr_bounds(&self) -> (f64, f64) {
        match self.scale {
            Scale::ExpRange {
                gamma,
                decay: ExpRangeDecay::Both,
            } if gamma < 1.0 => (0.0, self.max_lr),
            _ => (self.base_lr, self.max_lr),
        }
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "{} {}-{} step {}",
            self.policy_name(),
            self.base_lr,
            self.max_lr,
            self.step_up
        );
        if self.step_down != self.step_up {
            s.push_str(&format!(" down {}", self.step_down));
        }
        if let Scale::ExpRange { gamma, decay } = self.scale {
            s.push_str(&format!(" gamma {gamma}"));
            if decay == ExpRangeDecay::Both {
                s.push_str(" (both bounds)");
            }
        }
        if self.shape != Shape::Triangle {
            s.push_str(&format!(" {}", self.shape.name()));
        }
        s
    }
}

/// `[schedule]` of `policy = "triangular"`, `"triangular2"` or `"exp_range"`: `base_lr`,
/// `max_lr`, `step_size` (or `step_size_epochs`), [`step_size_down`/`step_size_down_epochs`,
/// `shape`, `base_momentum` + `max_momentum`, `cycle_momentum`]; `exp_range` also `gamma`
/// and [`decay`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CyclicConfig {
    /// The lower bound.
    pub base_lr: Option<f64>,
    /// The upper bound.
    pub max_lr: Option<f64>,
    /// Half a cycle (the rising half) in iterations.
    pub step_size: Option<u64>,
    /// `step_size` in epochs.
    pub step_size_epochs: Option<f64>,
    /// The falling half in iterations (default `step_size`).
    pub step_size_down: Option<u64>,
    /// `step_size_down` in epochs.
    pub step_size_down_epochs: Option<f64>,
    /// The window shape of a cycle (default `triangle`).
    pub shape: Option<Shape>,
    /// `exp_range`: the amplitude (or both bounds) is scaled by `gamma^iteration`.
    pub gamma: Option<f64>,
    /// `exp_range`: what decays, `amplitude` (default) or `both` bounds.
    pub decay: Option<ExpRangeDecay>,
    /// Momentum at the LR peak.
    pub base_momentum: Option<f64>,
    /// Momentum at the LR minimum.
    pub max_momentum: Option<f64>,
    /// Whether momentum is cycled (default: when both momenta are given).
    pub cycle_momentum: Option<bool>,
}

impl CyclicConfig {
    /// The keys of every cyclic policy; `exp_range` adds `gamma` and `decay`.
    const KEYS: &'static str = "base_lr, max_lr, step_size, step_size_epochs, step_size_down, \
        step_size_down_epochs, shape, base_momentum, max_momentum, cycle_momentum";

    pub(crate) fn build(&self, kind: Policy, ipe: Option<u64>) -> Result<Cyclic, ScheduleError> {
        let policy = kind.name();
        let scale = if kind == Policy::ExpRange {
            Scale::ExpRange {
                gamma: required(self.gamma, policy, "gamma")?,
                decay: self.decay.unwrap_or_default(),
            }
        } else {
            for (key, given) in [
                ("gamma", self.gamma.is_some()),
                ("decay", self.decay.is_some()),
            ] {
                if given {
                    return Err(ScheduleError::KeyNotUsed {
                        policy,
                        key,
                        allowed: Self::KEYS.to_owned(),
                    });
                }
            }
            if kind == Policy::Triangular2 {
                Scale::Halving
            } else {
                Scale::Constant
            }
        };
        let step_size = resolve_epochs(
            ("step_size", self.step_size),
            ("step_size_epochs", self.step_size_epochs),
            ipe,
        )?;
        let mut c = Cyclic::new(
            required(self.base_lr, policy, "base_lr")?,
            required(self.max_lr, policy, "max_lr")?,
            required(step_size, policy, "step_size")?,
            scale,
        )?
        .with_shape(self.shape.unwrap_or_default());
        if let Some(down) = resolve_epochs(
            ("step_size_down", self.step_size_down),
            ("step_size_down_epochs", self.step_size_down_epochs),
            ipe,
        )? {
            c = c.with_step_size_down(down)?;
        }
        let momenta = (self.base_momentum, self.max_momentum, self.cycle_momentum);
        if let Some((base_m, max_m)) = momenta_of(momenta, false, policy)? {
            c = c.with_momentum(base_m, max_m)?;
        }
        Ok(c)
    }
}
