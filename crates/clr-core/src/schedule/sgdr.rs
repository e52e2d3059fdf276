//! Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter), PyTorch
//! `CosineAnnealingWarmRestarts` semantics.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::config::required;
use super::validate::{count, non_negative, positive};
use super::{LrSchedule, ScheduleError};

/// SGDR: cosine from `max_lr` down to `eta_min`, restarting after `t0`, `t0 * t_mult`,
/// `t0 * t_mult^2`, … iterations.
///
/// # Formula
/// With `t_cur` the iterations since the last restart and `t_i` the current cycle's length:
/// `lr = eta_min + (max_lr - eta_min) * (1 + cos(pi * t_cur / t_i)) / 2`.
///
/// PyTorch: `CosineAnnealingWarmRestarts(T_0=t0, T_mult=t_mult, eta_min=eta_min)` stepped
/// once per iteration, with the optimizer's LR as `max_lr`.
///
/// # Errors
/// `max_lr` not positive, `eta_min` negative or above `max_lr`, zero `t0` or `t_mult`.
///
/// # Example
/// ```
/// use clr_core::{LrSchedule, Sgdr};
/// let s = Sgdr::new(1.0, 0.0, 4, 2).unwrap();
/// assert_eq!((s.lr(0), s.lr(2), s.lr(4), s.lr(8)), (1.0, 0.5, 1.0, 0.5));
/// assert_eq!(s.next_cycle_end(5), Some(12));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sgdr {
    max_lr: f64,
    eta_min: f64,
    t0: u64,
    t_mult: u64,
}

/// Where an iteration falls: cycle index, start of its cycle, the cycle's length.
struct Position {
    cycle: u64,
    start: u64,
    length: u64,
}

impl Sgdr {
    /// Checks the parameters and builds the schedule.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn new(max_lr: f64, eta_min: f64, t0: u64, t_mult: u64) -> Result<Self, ScheduleError> {
        positive("max_lr", max_lr)?;
        if non_negative("eta_min", eta_min)? > max_lr {
            return Err(ScheduleError::OutOfRange {
                key: "eta_min",
                value: eta_min,
                allowed: "0 <= eta_min <= max_lr",
            });
        }
        Ok(Self {
            max_lr,
            eta_min,
            t0: count("t0", t0)?,
            t_mult: count("t_mult", t_mult)?,
        })
    }

    fn position(&self, iteration: u64) -> Position {
        if self.t_mult == 1 {
            let cycle = iteration / self.t0;
            return Position {
                cycle,
                start: cycle * self.t0,
                length: self.t0,
            };
        }
        let (mut cycle, mut start, mut length) = (0, 0u64, self.t0);
        while let Some(end) = start.checked_add(length) {
            if iteration < end {
                break;
            }
            start = end;
            length = length.saturating_mul(self.t_mult);
            cycle += 1;
        }
        Position {
            cycle,
            start,
            length,
        }
    }
}

impl LrSchedule for Sgdr {
    fn lr(&self, iteration: u64) -> f64 {
        let p = self.position(iteration);
        let t_cur = (iteration - p.start) as f64;
        self.eta_min
            + (self.max_lr - self.eta_min) * (1.0 + (PI * t_cur / p.length as f64).cos()) / 2.0
    }

    fn cycles_completed(&self, iterations_done: u64) -> u64 {
        self.position(iterations_done).cycle
    }

    fn next_cycle_end(&self, iterations_done: u64) -> Option<u64> {
        let n = iterations_done.max(1);
        let p = self.position(n);
        if p.start == n {
            Some(n)
        } else {
            p.start.checked_add(p.length)
        }
    }

    fn cycle_length(&self) -> Option<u64> {
        Some(self.t0)
    }

    fn lr_bounds(&self) -> (f64, f64) {
        (self.eta_min, self.max_lr)
    }

    fn describe(&self) -> String {
        format!(
            "sgdr {}-{} t0 {} t_mult {}",
            self.eta_min, self.max_lr, self.t0, self.t_mult
        )
    }
}

/// `[schedule]` of `policy = "sgdr"`: `max_lr`, `t0`, [`t_mult`, `eta_min`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdrConfig {
    /// The rate at the start of every cycle.
    pub max_lr: Option<f64>,
    /// The first cycle's length.
    pub t0: Option<u64>,
    /// The factor by which each cycle is longer than the last (default 1).
    pub t_mult: Option<u64>,
    /// The rate at the end of every cycle (default 0).
    pub eta_min: Option<f64>,
}

impl SgdrConfig {
    pub(crate) fn build(&self) -> Result<Sgdr, ScheduleError> {
        Sgdr::new(
            required(self.max_lr, "sgdr", "max_lr")?,
            self.eta_min.unwrap_or(0.0),
            required(self.t0, "sgdr", "t0")?,
            self.t_mult.unwrap_or(1),
        )
    }
}
