//! When a run stops: its planned length (rounded to a cycle end when asked, [`plan`]) and
//! the rules that may stop it earlier ([`Rule`], checked in order by [`Rules`]).

use std::fmt;

use clr_core::Schedule;
use serde::{Deserialize, Serialize};

use crate::config::{StopConfig, TrainConfig};

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// The planned length was reached.
    Length {
        /// Updates done.
        iterations: u64,
    },
    /// The requested number of whole cycles was trained.
    Cycles {
        /// Cycles completed.
        cycles: u64,
        /// Updates done.
        iterations: u64,
    },
    /// Test accuracy rose by less than the threshold since the previous cycle end.
    Plateau {
        /// Updates done at the cycle end.
        iteration: u64,
        /// Test accuracy gain since the previous cycle end (a fraction; may be negative).
        gain: f64,
        /// `stop.min_improvement` (a fraction).
        threshold: f64,
    },
    /// Test accuracy reached the target.
    Target {
        /// Updates done at the evaluation.
        iteration: u64,
        /// Test accuracy (a fraction).
        accuracy: f64,
        /// `stop.target_accuracy` (a fraction).
        target: f64,
    },
    /// The loss became NaN or infinite.
    Diverged {
        /// The update (0-based) whose batch loss was not finite; it was not applied.
        iteration: u64,
        /// The mean batch loss (NaN or infinite: `"NaN"`, `"inf"` in JSON).
        #[serde(with = "crate::metrics::json_f64")]
        loss: f64,
    },
    /// The smoothed loss grew past a multiple of its minimum (range test).
    LossExploded {
        /// Updates done.
        iteration: u64,
        /// The smoothed training loss.
        loss: f64,
        /// The smallest smoothed training loss logged so far.
        min_loss: f64,
    },
    /// Interrupted (Ctrl-C); a checkpoint was written.
    Interrupted {
        /// Updates done (the checkpoint's iteration).
        iteration: u64,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { iterations } => write!(f, "reached the planned length of {iterations} iterations"),
            Self::Cycles { cycles, iterations } => {
                write!(f, "completed {cycles} cycles at iteration {iterations} (a cycle end)")
            }
            Self::Plateau { iteration, gain, threshold } => write!(
                f,
                "test accuracy rose by {:.2} points over the last cycle (< {:.2}): stopped at the cycle end, iteration {iteration}",
                gain * 100.0,
                threshold * 100.0
            ),
            Self::Target { iteration, accuracy, target } => write!(
                f,
                "test accuracy {:.2}% reached the target {:.2}% at iteration {iteration}",
                accuracy * 100.0,
                target * 100.0
            ),
            Self::Diverged { iteration, loss } => write!(f, "the loss became {loss} at iteration {iteration}"),
            Self::LossExploded { iteration, loss, min_loss } => {
                write!(f, "the training loss rose to {loss:.4} (minimum {min_loss:.4}) at iteration {iteration}")
            }
            Self::Interrupted { iteration } => write!(f, "interrupted at iteration {iteration}"),
        }
    }
}

/// The planned end of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Iterations to run in all.
    pub end: u64,
    /// Whether `end` is the end of the requested number of cycles.
    pub cycles: Option<u64>,
}

/// Errors in planning a run's length.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum PlanError {
    /// A `[stop]` key that counts cycles is set for a schedule without cycles.
    #[error("`stop.{key}` needs a cyclic schedule (policy `{policy}` has no cycles)")]
    NotCyclic {
        /// The key under `[stop]` (`cycles` or `at_cycle_end`).
        key: &'static str,
        /// The schedule's policy name.
        policy: String,
    },
    /// Neither a length nor a cycle count is given.
    #[error(
        "the run's length is not set: give train.max_iterations, train.max_epochs or stop.cycles"
    )]
    NoLength,
    /// The schedule does not end `stop.cycles` cycles below 2^62 iterations.
    #[error("`stop.cycles = {cycles}`: the schedule does not complete that many cycles in 2^62 iterations")]
    TooManyCycles {
        /// `stop.cycles`.
        cycles: u64,
    },
}

/// Plans the run's length in iterations.
///
/// `stop.cycles = k` ends at the k-th cycle end; `train.max_iterations` /
/// `train.max_epochs` (epochs of `iterations_per_epoch`) cap it. With
/// `stop.at_cycle_end` (implied by `cycles`) a cap that falls mid-cycle is
/// rounded up to the next cycle end: a cyclic run never stops mid-cycle.
pub fn plan(
    train: &TrainConfig,
    stop: &StopConfig,
    schedule: &Schedule,
    iterations_per_epoch: f64,
    policy: &str,
) -> Result<Plan, PlanError> {
    let cyclic = schedule.cycle_length().is_some();
    let needs_cycles = |key| {
        if cyclic {
            Ok(())
        } else {
            Err(PlanError::NotCyclic {
                key,
                policy: policy.to_owned(),
            })
        }
    };
    let length = match (train.max_iterations, train.max_epochs) {
        (Some(n), _) => Some(n),
        (None, Some(e)) => Some(((e * iterations_per_epoch).ceil() as u64).max(1)),
        (None, None) => None,
    };
    let cycles_end = match stop.cycles {
        Some(k) => {
            needs_cycles("cycles")?;
            Some(end_of_cycle(schedule, k).ok_or(PlanError::TooManyCycles { cycles: k })?)
        }
        None => None,
    };
    if stop.at_cycle_end {
        needs_cycles("at_cycle_end")?;
    }
    let round = stop.at_cycle_end || stop.cycles.is_some();
    let capped = match length {
        Some(n) if round => Some(schedule.next_cycle_end(n).unwrap_or(n)),
        other => other,
    };
    match (cycles_end, capped) {
        (Some(c), Some(l)) if l < c => Ok(Plan {
            end: l,
            cycles: None,
        }),
        (Some(c), _) => Ok(Plan {
            end: c,
            cycles: stop.cycles,
        }),
        (None, Some(l)) => Ok(Plan {
            end: l,
            cycles: None,
        }),
        (None, None) => Err(PlanError::NoLength),
    }
}

/// The iteration count at which cycle `k` (1-based) ends: the smallest `n` with `k` cycles
/// completed after `n` updates. A binary search over `cycle_of`, so planning costs the same
/// for 4 cycles as for 10^15; `None` if the schedule has no `k`-th cycle end below 2^62.
pub fn end_of_cycle(schedule: &Schedule, k: u64) -> Option<u64> {
    if k == 0 {
        return Some(0);
    }
    let (mut lo, mut hi) = (1u64, 1u64 << 62);
    if schedule.cycle_of(hi) < k {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if schedule.cycle_of(mid) >= k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// A rule that can end a run before its planned end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// The training loss became NaN or infinite (always on).
    Diverged,
    /// Test accuracy reached `target` (`stop.stop_at_target`).
    Target {
        /// `stop.target_accuracy` (a fraction).
        target: f64,
    },
    /// Test accuracy rose by less than `threshold` since the previous cycle end
    /// (`stop.min_improvement`, checked at cycle ends).
    Plateau {
        /// The smallest gain (a fraction) that keeps the run going.
        threshold: f64,
    },
    /// The smoothed training loss exceeded `ratio` times its minimum so far (the range
    /// test's end of the sweep).
    LossExploded {
        /// The multiple of the minimum smoothed loss that ends the run.
        ratio: f64,
    },
}

/// What the loop reports to the rules.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Update `iteration` (0-based) gave this mean batch loss.
    Step {
        /// The update (0-based), before it is applied.
        iteration: u64,
        /// Mean loss per example of its batch.
        loss: f64,
    },
    /// The test split was evaluated after `iteration` updates.
    Evaluated {
        /// Updates done.
        iteration: u64,
        /// Test accuracy (a fraction).
        accuracy: f64,
        /// Whether `iteration` ends a cycle.
        cycle_end: bool,
    },
    /// A metrics row was logged after `iteration` updates.
    Logged {
        /// Updates done.
        iteration: u64,
        /// The row's smoothed training loss.
        smoothed_loss: f64,
    },
}

/// The rules of a run, checked in order; the first that fires names the reason.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    /// The smallest smoothed loss logged so far (for [`Rule::LossExploded`]).
    min_loss: f64,
}

impl Rules {
    /// [`Rule::Diverged`] plus the rules `stop` asks for, then `extra`.
    pub fn new(stop: &StopConfig, extra: &[Rule]) -> Self {
        let mut rules = vec![Rule::Diverged];
        if let (Some(target), true) = (stop.target_accuracy, stop.stop_at_target) {
            rules.push(Rule::Target { target });
        }
        if let Some(threshold) = stop.min_improvement {
            rules.push(Rule::Plateau { threshold });
        }
        rules.extend_from_slice(extra);
        Self {
            rules,
            min_loss: f64::INFINITY,
        }
    }

    /// The reason to stop after `event`, if a rule fires. Every rule sees every event (the
    /// plateau tracker records each cycle end even when an earlier rule fires).
    pub fn check(&mut self, event: Event, plateau: &mut PlateauTracker) -> Option<StopReason> {
        if let Event::Logged { smoothed_loss, .. } = event {
            self.min_loss = self.min_loss.min(smoothed_loss);
        }
        let mut reason = None;
        for rule in &self.rules {
            let fired = match (*rule, event) {
                (Rule::Diverged, Event::Step { iteration, loss }) if !loss.is_finite() => {
                    Some(StopReason::Diverged { iteration, loss })
                }
                (
                    Rule::Target { target },
                    Event::Evaluated {
                        iteration,
                        accuracy,
                        ..
                    },
                ) if accuracy >= target => Some(StopReason::Target {
                    iteration,
                    accuracy,
                    target,
                }),
                (
                    Rule::Plateau { threshold },
                    Event::Evaluated {
                        iteration,
                        accuracy,
                        cycle_end: true,
                    },
                ) => plateau
                    .at_cycle_end(accuracy, threshold)
                    .map(|gain| StopReason::Plateau {
                        iteration,
                        gain,
                        threshold,
                    }),
                (
                    Rule::LossExploded { ratio },
                    Event::Logged {
                        iteration,
                        smoothed_loss,
                    },
                ) if smoothed_loss > ratio * self.min_loss => Some(StopReason::LossExploded {
                    iteration,
                    loss: smoothed_loss,
                    min_loss: self.min_loss,
                }),
                _ => None,
            };
            if reason.is_none() {
                reason = fired;
            }
        }
        reason
    }
}

/// Tracks test accuracy at cycle ends for the plateau rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PlateauTracker {
    previous: Option<f64>,
}

impl PlateauTracker {
    /// Records the accuracy at a cycle end; returns the gain since the
    /// previous cycle end when it is below `threshold`.
    pub fn at_cycle_end(&mut self, accuracy: f64, threshold: f64) -> Option<f64> {
        let gain = self.previous.map(|p| accuracy - p);
        self.previous = Some(accuracy);
        gain.filter(|g| *g < threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clr_core::ScheduleConfig;

    fn tri(step: u64) -> Schedule {
        let cfg: ScheduleConfig = toml::from_str(&format!(
            "policy = \"triangular\"\nbase_lr = 0.1\nmax_lr = 1.0\nstep_size = {step}\n"
        ))
        .unwrap();
        cfg.build(None).unwrap()
    }

    fn fixed() -> Schedule {
        let cfg: ScheduleConfig = toml::from_str("policy = \"fixed\"\nbase_lr = 0.1\n").unwrap();
        cfg.build(None).unwrap()
    }

    /// The k-th cycle end by stepping from one cycle end to the next (the definition).
    fn nth_cycle_end_by_steps(s: &Schedule, k: u64) -> u64 {
        let mut end = 0;
        for _ in 0..k {
            end = s.next_cycle_end(end + 1).unwrap();
        }
        end
    }

    #[test]
    fn cycle_ends_by_search_equal_the_stepwise_definition() {
        let build = |text: &str| -> Schedule {
            let cfg: ScheduleConfig = toml::from_str(text).unwrap();
            cfg.build(None).unwrap()
        };
        let schedules = [
            tri(7),
            build("policy = \"triangular2\"\nbase_lr = 0.1\nmax_lr = 1.0\nstep_size = 5\nstep_size_down = 9\n"),
            build("policy = \"sgdr\"\nmax_lr = 1.0\nt0 = 10\nt_mult = 2\n"),
            build(
                "policy = \"sequence\"\n[[stages]]\niterations = 40\npolicy = \"triangular2\"\n\
                 base_lr = 0.001\nmax_lr = 0.005\nstep_size = 10\n[[stages]]\niterations = 12\n\
                 policy = \"triangular2\"\nbase_lr = 0.0001\nmax_lr = 0.0005\nstep_size = 3\n",
            ),
        ];
        for s in &schedules {
            for k in 1..25 {
                assert_eq!(
                    end_of_cycle(s, k),
                    Some(nth_cycle_end_by_steps(s, k)),
                    "{} k={k}",
                    s.describe()
                );
            }
        }
    }

    #[test]
    fn huge_cycle_counts_plan_at_once() {
        let stop = StopConfig {
            cycles: Some(1_000_000_000_000_000),
            ..StopConfig::default()
        };
        let p = tri_plan(train(None, None), &stop, 600);
        assert_eq!(p.end, 1_200_000_000_000_000_000);
        let stop = StopConfig {
            cycles: Some(u64::MAX),
            ..StopConfig::default()
        };
        let err = plan(&train(None, None), &stop, &tri(600), 600.0, "triangular").unwrap_err();
        assert!(matches!(err, PlanError::TooManyCycles { .. }), "{err}");
    }

    /// The plan of a triangular run (step `step`) with 600 iterations per epoch.
    fn tri_plan(train: TrainConfig, stop: &StopConfig, step: u64) -> Plan {
        plan(&train, stop, &tri(step), 600.0, "triangular").unwrap()
    }

    fn train(n: Option<u64>, e: Option<f64>) -> TrainConfig {
        TrainConfig {
            batch_size: 100,
            max_iterations: n,
            max_epochs: e,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn cycles_end_at_multiples_of_the_cycle_length() {
        let stop = StopConfig {
            cycles: Some(4),
            ..Default::default()
        };
        let p = tri_plan(train(None, None), &stop, 600);
        assert_eq!(
            p,
            Plan {
                end: 4800,
                cycles: Some(4)
            }
        );
    }

    #[test]
    fn a_cap_mid_cycle_is_rounded_up_to_the_cycle_end() {
        let stop = StopConfig {
            at_cycle_end: true,
            ..Default::default()
        };
        let p = tri_plan(train(Some(1000), None), &stop, 300);
        assert_eq!(p.end, 1200);
        let p = tri_plan(train(Some(1200), None), &stop, 300);
        assert_eq!(p.end, 1200);
        let p = tri_plan(train(None, Some(2.5)), &stop, 300);
        assert_eq!(p.end, 1800);
    }

    #[test]
    fn without_rounding_the_length_is_exact() {
        let p = plan(
            &train(Some(1000), None),
            &StopConfig::default(),
            &tri(300),
            600.0,
            "triangular",
        )
        .unwrap();
        assert_eq!(
            p,
            Plan {
                end: 1000,
                cycles: None
            }
        );
        let p = plan(
            &train(None, Some(1.5)),
            &StopConfig::default(),
            &fixed(),
            600.0,
            "fixed",
        )
        .unwrap();
        assert_eq!(p.end, 900);
    }

    #[test]
    fn a_shorter_cap_wins_over_the_cycle_count() {
        let stop = StopConfig {
            cycles: Some(10),
            ..Default::default()
        };
        let p = tri_plan(train(Some(1300), None), &stop, 300);
        assert_eq!(
            p,
            Plan {
                end: 1800,
                cycles: None
            }
        );
    }

    #[test]
    fn cycle_rules_need_a_cyclic_schedule() {
        let stop = StopConfig {
            cycles: Some(2),
            ..Default::default()
        };
        let e = plan(&train(None, None), &stop, &fixed(), 600.0, "fixed").unwrap_err();
        assert_eq!(
            e,
            PlanError::NotCyclic {
                key: "cycles",
                policy: "fixed".into()
            }
        );
        let stop = StopConfig {
            at_cycle_end: true,
            ..Default::default()
        };
        assert!(plan(&train(Some(5), None), &stop, &fixed(), 600.0, "fixed").is_err());
        assert_eq!(
            plan(
                &train(None, None),
                &StopConfig::default(),
                &fixed(),
                600.0,
                "fixed"
            ),
            Err(PlanError::NoLength)
        );
    }

    #[test]
    fn plateau_fires_only_below_the_threshold() {
        let mut t = PlateauTracker::default();
        assert_eq!(t.at_cycle_end(0.90, 0.001), None);
        assert_eq!(t.at_cycle_end(0.95, 0.001), None);
        let g = t.at_cycle_end(0.9505, 0.001).unwrap();
        assert!((g - 0.0005).abs() < 1e-12);
        assert!(t.at_cycle_end(0.94, 0.001).unwrap() < 0.0);
    }

    fn stop_config(target: Option<f64>, at_target: bool, min_gain: Option<f64>) -> StopConfig {
        StopConfig {
            target_accuracy: target,
            stop_at_target: at_target,
            min_improvement: min_gain,
            ..StopConfig::default()
        }
    }

    #[test]
    fn rules_fire_on_their_events_and_the_first_names_the_reason() {
        let mut plateau = PlateauTracker::default();
        let mut rules = Rules::new(
            &stop_config(Some(0.9), true, Some(0.01)),
            &[Rule::LossExploded { ratio: 4.0 }],
        );
        let eval = |iteration, accuracy, cycle_end| Event::Evaluated {
            iteration,
            accuracy,
            cycle_end,
        };
        let step = |loss| Event::Step { iteration: 3, loss };
        assert_eq!(rules.check(step(2.0), &mut plateau), None);
        assert!(matches!(
            rules.check(step(f64::NAN), &mut plateau),
            Some(StopReason::Diverged { iteration: 3, .. })
        ));
        // The first cycle end only records; mid-cycle evaluations do not count.
        assert_eq!(rules.check(eval(100, 0.5, true), &mut plateau), None);
        assert_eq!(rules.check(eval(150, 0.2, false), &mut plateau), None);
        assert!(matches!(
            rules.check(eval(200, 0.505, true), &mut plateau),
            Some(StopReason::Plateau { iteration: 200, .. })
        ));
        // Target and plateau at once: the target, listed first, is the reason.
        assert!(matches!(
            rules.check(eval(300, 0.95, true), &mut plateau),
            Some(StopReason::Target { iteration: 300, .. })
        ));
        let log = |iteration, smoothed_loss| Event::Logged {
            iteration,
            smoothed_loss,
        };
        assert_eq!(rules.check(log(10, 2.0), &mut plateau), None);
        assert_eq!(rules.check(log(20, 0.5), &mut plateau), None);
        assert_eq!(rules.check(log(30, 2.0), &mut plateau), None);
        assert_eq!(
            rules.check(log(40, 2.5), &mut plateau),
            Some(StopReason::LossExploded {
                iteration: 40,
                loss: 2.5,
                min_loss: 0.5
            })
        );
    }

    #[test]
    fn a_target_without_stop_at_target_only_records() {
        let mut plateau = PlateauTracker::default();
        let mut rules = Rules::new(&stop_config(Some(0.5), false, None), &[]);
        let e = Event::Evaluated {
            iteration: 1,
            accuracy: 0.9,
            cycle_end: true,
        };
        assert_eq!(rules.check(e, &mut plateau), None);
    }

    #[test]
    fn a_diverged_reason_reads_back_from_json() {
        for loss in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let r = StopReason::Diverged { iteration: 2, loss };
            let json = serde_json::to_string(&r).unwrap();
            let back: StopReason = serde_json::from_str(&json).unwrap();
            let StopReason::Diverged { iteration, loss: l } = back else {
                panic!("{json}");
            };
            assert_eq!(iteration, 2);
            assert!(
                l.to_bits() == loss.to_bits() || (l.is_nan() && loss.is_nan()),
                "{json}"
            );
        }
    }
}
