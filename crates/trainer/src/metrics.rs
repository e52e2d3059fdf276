//! What a run records: metrics rows (`metrics.csv`), the smoothed training
//! loss/accuracy and the run summary (`summary.json`).

use std::collections::VecDeque;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csvfile::{self, CsvError, Fixed, Num};
use crate::stop::StopReason;

/// The columns of `metrics.csv`: [`Row`]'s fields.
pub const CSV_FIELDS: [&str; 10] = [
    "iteration",
    "epoch",
    "cycle",
    "lr",
    "momentum",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "elapsed_seconds",
];

/// One row of `metrics.csv`: the state after `iteration` updates.
///
/// `metrics.csv` reads back through its serde (a non-finite value prints as `NaN`/`inf`).
/// Checkpoints keep the rows (as JSON) so that a resumed run rewrites them exactly: see
/// [`JsonF64`] for the non-finite values a row may hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Updates done.
    pub iteration: u64,
    /// Epochs done: `iteration` over the iterations per epoch.
    #[serde(with = "json_f64")]
    pub epoch: f64,
    /// The cycle (0-based) of the last update.
    pub cycle: u64,
    /// Learning rate of the last update.
    #[serde(with = "json_f64")]
    pub lr: f64,
    /// Momentum of the last update; `None` when the schedule does not cycle momentum.
    #[serde(with = "json_opt_f64")]
    pub momentum: Option<f64>,
    /// Mean training loss per example over the last `log.window` iterations.
    #[serde(with = "json_f64")]
    pub train_loss: f64,
    /// Training accuracy over the last `log.window` iterations, a fraction in [0, 1].
    #[serde(with = "json_f64")]
    pub train_accuracy: f64,
    /// Mean test loss per example; `None` when the row is not an evaluation.
    #[serde(with = "json_opt_f64")]
    pub test_loss: Option<f64>,
    /// Test accuracy as a fraction in [0, 1]; `None` when the row is not an evaluation.
    #[serde(with = "json_opt_f64")]
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds since the run started, earlier sessions of a resumed run included.
    #[serde(with = "json_f64")]
    pub elapsed_seconds: f64,
}

/// An `f64` that survives JSON: finite values as numbers (shortest round-trip digits), NaN
/// and the infinities as the strings `"NaN"`, `"inf"` and `"-inf"`, as `metrics.csv` prints
/// them. JSON has no literal for those, and serde_json writes them as `null`, which reads back
/// as an absent value (a test loss that went NaN would print as an empty field after a
/// resume) or not at all (a required `f64`).
#[derive(Debug, Clone, Copy)]
struct JsonF64(f64);

impl Serialize for JsonF64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_str(&self.0.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for JsonF64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = JsonF64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, \"NaN\", \"inf\" or \"-inf\"")
            }
            fn visit_f64<E>(self, v: f64) -> Result<JsonF64, E> {
                Ok(JsonF64(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<JsonF64, E> {
                Ok(JsonF64(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<JsonF64, E> {
                Ok(JsonF64(v as f64))
            }
            // A huge float printed without an exponent (`1008292367809856800000000000`)
            // reads as an integer beyond 64 bits from CSV.
            fn visit_i128<E>(self, v: i128) -> Result<JsonF64, E> {
                Ok(JsonF64(v as f64))
            }
            fn visit_u128<E>(self, v: u128) -> Result<JsonF64, E> {
                Ok(JsonF64(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<JsonF64, E> {
                match v {
                    "NaN" => Ok(JsonF64(f64::NAN)),
                    "inf" => Ok(JsonF64(f64::INFINITY)),
                    "-inf" => Ok(JsonF64(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `#[serde(with)]` for `f64` fields through [`JsonF64`].
pub(crate) mod json_f64 {
    use super::JsonF64;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        JsonF64(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        JsonF64::deserialize(d).map(|v| v.0)
    }
}

/// `#[serde(with)]` for `Option<f64>` fields through [`JsonF64`] (`None` is `null`).
mod json_opt_f64 {
    use super::JsonF64;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(JsonF64).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<JsonF64>::deserialize(d).map(|v| v.map(|v| v.0))
    }
}

/// Renders rows as CSV with the header [`CSV_FIELDS`]: the epoch to 4 decimals, the elapsed time to
/// 3, the other numbers in Rust's shortest round-trip form, absent values empty.
pub fn to_csv(rows: &[Row]) -> String {
    csvfile::to_string(
        &CSV_FIELDS,
        rows.iter().map(|r| {
            (
                r.iteration,
                Fixed::<4>(r.epoch),
                r.cycle,
                Num(r.lr),
                r.momentum.map(Num),
                Num(r.train_loss),
                Num(r.train_accuracy),
                r.test_loss.map(Num),
                r.test_accuracy.map(Num),
                Fixed::<3>(r.elapsed_seconds),
            )
        }),
    )
}

/// Reads a `metrics.csv` written by [`to_csv`].
///
/// # Errors
/// See [`csvfile::read`].
pub fn read_csv(path: &Path) -> Result<Vec<Row>, CsvError> {
    csvfile::read(path, &CSV_FIELDS)
}

/// Mean training loss and accuracy over the last `window` iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Smoother {
    window: usize,
    items: VecDeque<(f64, usize, usize)>,
    loss_sum: f64,
    correct: usize,
    count: usize,
}

impl Smoother {
    /// An empty smoother over `window` iterations (at least 1).
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            items: VecDeque::with_capacity(window.max(1) + 1),
            loss_sum: 0.0,
            correct: 0,
            count: 0,
        }
    }

    /// Adds one iteration's summed loss, correct predictions and batch size.
    pub fn push(&mut self, loss_sum: f64, correct: usize, count: usize) {
        self.items.push_back((loss_sum, correct, count));
        self.loss_sum += loss_sum;
        self.correct += correct;
        self.count += count;
        if self.items.len() > self.window {
            if let Some((l, c, n)) = self.items.pop_front() {
                self.loss_sum -= l;
                self.correct -= c;
                self.count -= n;
            }
        }
    }

    /// Mean loss per example over the window (NaN when empty).
    pub fn loss(&self) -> f64 {
        // Recomputed from the items so that subtraction never drifts.
        let (l, n) = self
            .items
            .iter()
            .fold((0.0, 0), |(l, n), it| (l + it.0, n + it.2));
        if n == 0 {
            f64::NAN
        } else {
            l / n as f64
        }
    }

    /// Accuracy over the window (NaN when empty).
    pub fn accuracy(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.correct as f64 / self.count as f64
        }
    }
}

/// `summary.json`: what a run achieved and why it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The run's name.
    pub name: String,
    /// The config file the run was started from.
    pub config_file: String,
    /// The schedule's policy name (`triangular`, `fixed`, ...).
    pub policy: String,
    /// The schedule's short description.
    pub schedule: String,
    /// The config's seed.
    pub seed: u64,
    /// Worker threads of the process that finished the run.
    pub threads: usize,
    /// Updates done.
    pub iterations: u64,
    /// Epochs done.
    pub epochs: f64,
    /// Test accuracy (a fraction) at the last evaluation; `None` if there was none.
    pub final_test_accuracy: Option<f64>,
    /// Mean test loss per example at the last evaluation; `None` if there was none.
    pub final_test_loss: Option<f64>,
    /// The highest test accuracy (a fraction) of any evaluation.
    pub best_test_accuracy: Option<f64>,
    /// The iteration of the first evaluation that gave `best_test_accuracy`.
    pub best_iteration: Option<u64>,
    /// `stop.target_accuracy` of the config (a fraction).
    pub target_accuracy: Option<f64>,
    /// The first evaluated iteration whose test accuracy reached the target; `None` if none
    /// did.
    pub iterations_to_target: Option<u64>,
    /// Why the run ended.
    pub stop_reason: StopReason,
    /// Wall-clock seconds of the run, earlier sessions of a resumed run included.
    pub wall_seconds: f64,
    /// Training images per second of updates in the last session (0 if it trained none).
    pub train_images_per_sec: f64,
    /// The version of `clr` that wrote the summary.
    pub clr_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoother_keeps_only_the_window() {
        let mut s = Smoother::new(2);
        s.push(10.0, 1, 10);
        s.push(20.0, 5, 10);
        assert!((s.loss() - 1.5).abs() < 1e-12);
        assert!((s.accuracy() - 0.3).abs() < 1e-12);
        s.push(40.0, 10, 10);
        assert!((s.loss() - 3.0).abs() < 1e-12);
        assert!((s.accuracy() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn csv_round_trips() {
        let rows = vec![
            Row {
                iteration: 100,
                epoch: 0.1667,
                cycle: 0,
                lr: 0.0015,
                momentum: Some(0.9),
                train_loss: 0.5,
                train_accuracy: 0.8,
                test_loss: None,
                test_accuracy: None,
                elapsed_seconds: 1.5,
            },
            Row {
                iteration: 200,
                epoch: 0.3333,
                cycle: 0,
                lr: 0.002,
                momentum: None,
                train_loss: 0.25,
                train_accuracy: 0.9,
                test_loss: Some(0.3),
                test_accuracy: Some(0.91),
                elapsed_seconds: 3.0,
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        std::fs::write(&p, to_csv(&rows)).unwrap();
        assert_eq!(read_csv(&p).unwrap(), rows);
        // A diverging run's numbers: beyond 64-bit integers when printed in full, infinite,
        // NaN (which compares unequal, hence the printed form).
        let mut wild = rows.clone();
        wild[0].train_loss = 1.0082923678098568e27;
        wild[0].lr = 3e300;
        wild[1].train_loss = f64::INFINITY;
        wild[1].test_loss = Some(f64::NAN);
        std::fs::write(&p, to_csv(&wild)).unwrap();
        let back = read_csv(&p).unwrap();
        assert_eq!(to_csv(&back), to_csv(&wild));
        assert_eq!(
            (back[0].train_loss, back[0].lr),
            (1.0082923678098568e27, 3e300)
        );
        std::fs::write(&p, "iteration\n").unwrap();
        assert!(read_csv(&p).unwrap_err().to_string().contains("line 1"));
    }
}
