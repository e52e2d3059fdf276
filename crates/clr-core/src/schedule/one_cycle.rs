//! The 1cycle policy with PyTorch `OneCycleLR` semantics.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::config::{momenta_of, required};
use super::validate::{count, momentum_range, positive};
use super::{LrSchedule, ScheduleError};

/// How one-cycle interpolates inside a phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// Cosine annealing: `end + (start - end) / 2 * (cos(pi p) + 1)`.
    #[default]
    Cos,
    /// Linear: `start + (end - start) * p`.
    Linear,
}

impl Anneal {
    fn apply(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

/// Parameters of a [`OneCycle`] schedule; [`OneCycleParams::new`] fills in PyTorch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleParams {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Length of the cycle in iterations (PyTorch's `total_steps`).
    pub total_iterations: u64,
    /// Fraction of the cycle spent rising, in `(0, 1)` (default 0.3).
    pub pct_start: f64,
    /// Interpolation (default cosine).
    pub anneal: Anneal,
    /// `initial_lr = max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// `min_lr = initial_lr / final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// fastai-style three phases: up, back down to `initial_lr`, then annihilation.
    pub three_phase: bool,
    /// `(base_momentum, max_momentum)` cycled inversely to the LR (default 0.85, 0.95);
    /// `None` disables momentum cycling.
    pub momentum: Option<(f64, f64)>,
}

impl OneCycleParams {
    /// PyTorch's defaults for the given peak and length.
    pub fn new(max_lr: f64, total_iterations: u64) -> Self {
        Self {
            max_lr,
            total_iterations,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
            momentum: Some((0.85, 0.95)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Phase {
    end_step: f64,
    start_lr: f64,
    end_lr: f64,
    start_momentum: f64,
    end_momentum: f64,
}

/// The 1cycle policy (Smith & Topin), exactly as PyTorch's `OneCycleLR`.
///
/// # Formula
/// `initial_lr = max_lr / div_factor`, `min_lr = initial_lr / final_div_factor`. Two phases:
/// `initial_lr -> max_lr` over iterations `0..=pct_start * T - 1`, then `max_lr -> min_lr`
/// until `T - 1`; with `three_phase`: `initial -> max` until `pct_start * T - 1`,
/// `max -> initial` until `2 pct_start * T - 2`, `initial -> min_lr` until `T - 1`. Inside a
/// phase `p = (t - phase_start) / (phase_end - phase_start)` and the LR is `anneal(start, end,
/// p)`. Momentum runs the opposite way (`max_momentum -> base_momentum -> max_momentum`).
/// Beyond `T - 1` the final values hold.
///
/// # Errors
/// Non-positive or non-finite `max_lr`, `div_factor`, `final_div_factor`; zero
/// `total_iterations`; `pct_start` outside `(0, 1)` or leaving an empty phase; bad momenta.
///
/// # Example
/// ```
/// use clr_core::{LrSchedule, OneCycle, OneCycleParams};
/// let s = OneCycle::new(OneCycleParams::new(0.1, 1000)).unwrap();
/// assert!((s.lr(0) - 0.004).abs() < 1e-15);
/// assert_eq!((s.lr(299), s.momentum(299)), (0.1, Some(0.85)));
/// assert!((s.lr(999) - 4e-7).abs() < 1e-18);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycle {
    params: OneCycleParams,
    phases: Vec<Phase>,
}

impl OneCycle {
    /// Checks the parameters and builds the schedule.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn new(params: OneCycleParams) -> Result<Self, ScheduleError> {
        positive("max_lr", params.max_lr)?;
        positive("div_factor", params.div_factor)?;
        positive("final_div_factor", params.final_div_factor)?;
        let total = count("total_iterations", params.total_iterations)? as f64;
        let pct = params.pct_start;
        if !(pct > 0.0 && pct < 1.0) {
            return Err(ScheduleError::OutOfRange {
                key: "pct_start",
                value: pct,
                allowed: "a fraction strictly between 0 and 1",
            });
        }
        let (base_m, max_m) = params.momentum.unwrap_or((0.0, 0.0));
        if params.momentum.is_some() {
            momentum_range(base_m, max_m)?;
        }
        let initial = params.max_lr / params.div_factor;
        let min_lr = initial / params.final_div_factor;
        let up_end = pct * total - 1.0;
        let phase = |end_step, start_lr, end_lr, start_momentum, end_momentum| Phase {
            end_step,
            start_lr,
            end_lr,
            start_momentum,
            end_momentum,
        };
        let phases = if params.three_phase {
            vec![
                phase(up_end, initial, params.max_lr, max_m, base_m),
                phase(
                    2.0 * pct * total - 2.0,
                    params.max_lr,
                    initial,
                    base_m,
                    max_m,
                ),
                phase(total - 1.0, initial, min_lr, max_m, max_m),
            ]
        } else {
            vec![
                phase(up_end, initial, params.max_lr, max_m, base_m),
                phase(total - 1.0, params.max_lr, min_lr, base_m, max_m),
            ]
        };
        let mut start = 0.0;
        for p in &phases {
            if p.end_step <= start {
                return Err(ScheduleError::OutOfRange {
                    key: "pct_start",
                    value: pct,
                    allowed: if params.three_phase {
                        "a fraction leaving every one of the three phases at least one \
                         iteration (pct_start * total_iterations > 1 and pct_start < 0.5)"
                    } else {
                        "a fraction leaving both phases at least one iteration \
                         (pct_start * total_iterations > 1)"
                    },
                });
            }
            start = p.end_step;
        }
        Ok(Self { params, phases })
    }

    /// Phase values `(lr, momentum)` at `iteration`, as PyTorch's `get_lr`.
    fn values(&self, iteration: u64) -> (f64, f64) {
        let step = iteration.min(self.params.total_iterations - 1) as f64;
        let last = self.phases.len() - 1;
        let i = self
            .phases
            .iter()
            .position(|p| step <= p.end_step)
            .unwrap_or(last);
        let start = if i == 0 {
            0.0
        } else {
            self.phases[i - 1].end_step
        };
        let p = &self.phases[i];
        let pct = (step - start) / (p.end_step - start);
        let a = self.params.anneal;
        (
            a.apply(p.start_lr, p.end_lr, pct),
            a.apply(p.start_momentum, p.end_momentum, pct),
        )
    }
}

impl LrSchedule for OneCycle {
    fn lr(&self, iteration: u64) -> f64 {
        self.values(iteration).0
    }

    fn momentum(&self, iteration: u64) -> Option<f64> {
        self.params.momentum.map(|_| self.values(iteration).1)
    }

    fn cycles_completed(&self, iterations_done: u64) -> u64 {
        u64::from(iterations_done >= self.params.total_iterations)
    }

    fn next_cycle_end(&self, iterations_done: u64) -> Option<u64> {
        (iterations_done <= self.params.total_iterations).then_some(self.params.total_iterations)
    }

    fn cycle_length(&self) -> Option<u64> {
        Some(self.params.total_iterations)
    }

    fn lr_bounds(&self) -> (f64, f64) {
        let initial = self.params.max_lr / self.params.div_factor;
        let min_lr = initial / self.params.final_div_factor;
        (initial.min(min_lr), self.params.max_lr)
    }

    fn describe(&self) -> String {
        format!(
            "one_cycle max {} over {} pct_start {}{}",
            self.params.max_lr,
            self.params.total_iterations,
            self.params.pct_start,
            if self.params.three_phase {
                " three_phase"
            } else {
                ""
            }
        )
    }
}

/// `[schedule]` of `policy = "one_cycle"`: `max_lr`, `total_iterations`, [`pct_start`,
/// `anneal`, `div_factor`, `final_div_factor`, `three_phase`, `base_momentum`,
/// `max_momentum`, `cycle_momentum`] (PyTorch's defaults where not given).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneCycleConfig {
    /// The peak rate.
    pub max_lr: Option<f64>,
    /// The cycle's length (PyTorch's `total_steps`).
    pub total_iterations: Option<u64>,
    /// Fraction of the cycle spent rising.
    pub pct_start: Option<f64>,
    /// Interpolation, `cos` or `linear`.
    pub anneal: Option<Anneal>,
    /// `initial_lr = max_lr / div_factor`.
    pub div_factor: Option<f64>,
    /// `min_lr = initial_lr / final_div_factor`.
    pub final_div_factor: Option<f64>,
    /// fastai's three phases.
    pub three_phase: Option<bool>,
    /// Momentum at the LR peak (default 0.85).
    pub base_momentum: Option<f64>,
    /// Momentum at the LR minimum (default 0.95).
    pub max_momentum: Option<f64>,
    /// Whether momentum is cycled (default `true`).
    pub cycle_momentum: Option<bool>,
}

impl OneCycleConfig {
    pub(crate) fn build(&self) -> Result<OneCycle, ScheduleError> {
        let p = "one_cycle";
        let mut o = OneCycleParams::new(
            required(self.max_lr, p, "max_lr")?,
            required(self.total_iterations, p, "total_iterations")?,
        );
        o.pct_start = self.pct_start.unwrap_or(o.pct_start);
        o.anneal = self.anneal.unwrap_or(o.anneal);
        o.div_factor = self.div_factor.unwrap_or(o.div_factor);
        o.final_div_factor = self.final_div_factor.unwrap_or(o.final_div_factor);
        o.three_phase = self.three_phase.unwrap_or(o.three_phase);
        let momenta = (self.base_momentum, self.max_momentum, self.cycle_momentum);
        o.momentum = momenta_of(momenta, true, p)?;
        OneCycle::new(o)
    }
}
