//! A sequence of stages, each a schedule run for a number of iterations (e.g. the paper's
//! three-stage `triangular2` run).

use serde::{Deserialize, Serialize};

use super::validate::count;
use super::{LrSchedule, Schedule, ScheduleConfig, ScheduleError};

/// One stage of a [`Sequence`].
#[derive(Clone, Debug)]
pub struct Stage {
    /// How many iterations the stage lasts (the last stage continues beyond).
    pub iterations: u64,
    /// The schedule of the stage, evaluated at the iteration counted from the stage's start.
    pub schedule: Schedule,
}

/// Stages run one after the other; each stage's schedule restarts at its local iteration 0.
///
/// # Formula
/// For `start_k <= t < start_k + iterations_k`: `lr(t) = stage_k.lr(t - start_k)`; the last
/// stage also serves every later iteration. Cycle ends are those of each stage within
/// `(0, iterations_k]`, shifted by `start_k`, so the cycle index keeps counting across stages.
///
/// # Errors
/// No stages, a stage of zero iterations.
///
/// # Example
/// ```
/// use clr_core::{Cyclic, LrSchedule, Scale, Schedule, Sequence, Stage};
/// let a = Cyclic::new(1.0, 5.0, 4, Scale::Constant).unwrap();
/// let b = Cyclic::new(0.1, 0.5, 2, Scale::Constant).unwrap();
/// let s = Sequence::new(vec![
///     Stage { iterations: 8, schedule: Schedule::from(a) },
///     Stage { iterations: 8, schedule: Schedule::from(b) },
/// ]).unwrap();
/// assert_eq!((s.lr(4), s.lr(8), s.lr(10)), (5.0, 0.1, 0.5));
/// assert_eq!((s.cycles_completed(8), s.cycles_completed(12)), (1, 2));
/// assert_eq!(s.next_cycle_end(9), Some(12));
/// ```
#[derive(Clone, Debug)]
pub struct Sequence {
    stages: Vec<Stage>,
    /// Start iteration of each stage.
    starts: Vec<u64>,
    /// Cycles completed by all stages before each stage.
    cycles_before: Vec<u64>,
}

impl Sequence {
    /// Checks the stages and builds the sequence.
    ///
    /// # Errors
    /// See the type's documentation.
    pub fn new(stages: Vec<Stage>) -> Result<Self, ScheduleError> {
        if stages.is_empty() {
            return Err(ScheduleError::EmptySequence);
        }
        let (mut starts, mut cycles_before) = (Vec::new(), Vec::new());
        let (mut start, mut cycles) = (0u64, 0u64);
        for (index, stage) in stages.iter().enumerate() {
            count("iterations", stage.iterations).map_err(|e| ScheduleError::Stage {
                index,
                source: Box::new(e),
            })?;
            starts.push(start);
            cycles_before.push(cycles);
            start = start.saturating_add(stage.iterations);
            cycles += stage.schedule.cycles_completed(stage.iterations);
        }
        Ok(Self {
            stages,
            starts,
            cycles_before,
        })
    }

    /// The stages.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Index of the stage that serves `iteration`.
    fn locate(&self, iteration: u64) -> usize {
        self.starts.partition_point(|&s| s <= iteration) - 1
    }
}

impl LrSchedule for Sequence {
    fn lr(&self, iteration: u64) -> f64 {
        let k = self.locate(iteration);
        self.stages[k].schedule.lr(iteration - self.starts[k])
    }

    fn momentum(&self, iteration: u64) -> Option<f64> {
        let k = self.locate(iteration);
        self.stages[k].schedule.momentum(iteration - self.starts[k])
    }

    fn cycles_completed(&self, iterations_done: u64) -> u64 {
        let k = self.locate(iterations_done);
        self.cycles_before[k]
            + self.stages[k]
                .schedule
                .cycles_completed(iterations_done - self.starts[k])
    }

    fn next_cycle_end(&self, iterations_done: u64) -> Option<u64> {
        let n = iterations_done.max(1);
        let last = self.stages.len() - 1;
        // The n-th update happens in the stage serving iteration n - 1.
        for k in self.locate(n - 1)..=last {
            let stage = &self.stages[k];
            let local = n.saturating_sub(self.starts[k]).max(1);
            if let Some(end) = stage.schedule.next_cycle_end(local) {
                if end <= stage.iterations || k == last {
                    return self.starts[k].checked_add(end);
                }
            }
        }
        None
    }

    fn cycle_length(&self) -> Option<u64> {
        self.stages.iter().find_map(|s| s.schedule.cycle_length())
    }

    fn lr_bounds(&self) -> (f64, f64) {
        self.stages
            .iter()
            .map(|s| s.schedule.lr_bounds())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (a, b)| {
                (lo.min(a), hi.max(b))
            })
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{} for {}", s.schedule.describe(), s.iterations))
            .collect();
        format!("sequence [{}]", parts.join("; "))
    }
}

/// `[schedule]` of `policy = "sequence"`: `stages`, each a schedule table plus its
/// `iterations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequenceConfig {
    /// The stages in order.
    pub stages: Option<Vec<StageConfig>>,
}

/// One stage of a sequence: how long it runs and its schedule (whose iteration count starts
/// at 0 when the stage does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageConfig {
    /// The stage's length.
    pub iterations: Option<u64>,
    /// The stage's schedule (`policy = "…"` and its keys, in the same table).
    #[serde(flatten)]
    pub schedule: ScheduleConfig,
}

impl SequenceConfig {
    pub(crate) fn build(&self, ipe: Option<u64>) -> Result<Sequence, ScheduleError> {
        let stages = self.stages.as_ref().ok_or(ScheduleError::MissingKey {
            policy: "sequence",
            key: "stages",
        })?;
        let built = stages
            .iter()
            .enumerate()
            .map(|(index, stage)| {
                let in_stage = |e| ScheduleError::Stage {
                    index,
                    source: Box::new(e),
                };
                let iterations = stage.iterations.ok_or(ScheduleError::MissingKey {
                    policy: stage.schedule.policy_name(),
                    key: "iterations",
                });
                Ok(Stage {
                    iterations: iterations.map_err(in_stage)?,
                    schedule: stage
                        .schedule
                        .build_stage(ipe, stage.iterations)
                        .map_err(in_stage)?,
                })
            })
            .collect::<Result<Vec<_>, ScheduleError>>()?;
        Sequence::new(built)
    }
}
