//! Run configuration: one TOML file per run, `--set section.key=value`
//! overrides, validation with errors that name the file, the key, the value
//! and what is allowed.

use std::fmt;
use std::path::{Path, PathBuf};

use clr_core::{Schedule, ScheduleConfig};
use nn::{ModelSpec, OptimizerSpec};
use serde::{Deserialize, Serialize};

use crate::data::DataConfig;

mod out_of_range;
mod validate;
use out_of_range::OutOfRange;
pub use validate::validate;

/// A whole training run, as read from its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name; defaults to the config file's stem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seed for weight initialization, data order and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `[data]`: the dataset.
    pub data: DataConfig,
    /// `[model]`: the network, a preset or a list of layers.
    pub model: ModelSpec,
    /// `[optimizer]`: the method (`kind`) and its settings.
    pub optimizer: OptimizerSpec,
    /// `[schedule]`: the learning-rate policy and its keys.
    pub schedule: ScheduleConfig,
    /// `[train]`: batch size and length.
    #[serde(default)]
    pub train: TrainConfig,
    /// `[eval]`: when the test set is evaluated.
    #[serde(default)]
    pub eval: EvalConfig,
    /// `[stop]`: when the run ends besides its length.
    #[serde(default)]
    pub stop: StopConfig,
    /// `[log]`: how often progress is recorded.
    #[serde(default)]
    pub log: LogConfig,
    /// `[checkpoint]`: when the state is saved for `--resume`.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
}

fn default_seed() -> u64 {
    1
}

/// `[train]`: batch size and length. The length is in iterations (as the
/// paper counts) or in epochs; with `stop.cycles` it may be omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Training images per update (default: 100).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Length in iterations (updates); exclusive with `max_epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// Length in epochs (passes over the training split); exclusive with `max_iterations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_epochs: Option<f64>,
    /// Label smoothing `e` of the training loss, in `[0, 1)`: targets `(1 - e) onehot + e /
    /// classes` (PyTorch's `CrossEntropyLoss(label_smoothing=e)`; ResNet recipes use 0.1).
    /// The test loss stays the plain cross-entropy. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_smoothing: Option<f64>,
}

fn default_batch() -> usize {
    100
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: default_batch(),
            max_iterations: None,
            max_epochs: None,
            label_smoothing: None,
        }
    }
}

/// `[eval]`: when the full test set is evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate every N iterations (default: once per epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Also evaluate at every cycle end.
    #[serde(default = "yes")]
    pub at_cycle_end: bool,
    /// Test images per forward pass (default: 500).
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
}

fn yes() -> bool {
    true
}

fn default_eval_batch() -> usize {
    500
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every: None,
            at_cycle_end: true,
            batch_size: default_eval_batch(),
        }
    }
}

/// `[stop]`: when a run ends besides its length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StopConfig {
    /// Never stop mid-cycle: round the run's end up to the next cycle end.
    #[serde(default)]
    pub at_cycle_end: bool,
    /// Train this many whole cycles (implies `at_cycle_end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycles: Option<u64>,
    /// Stop at a cycle end when test accuracy rose by less than this (a
    /// fraction, 0.001 = 0.1 point) since the previous cycle end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_improvement: Option<f64>,
    /// Record the first iteration at which test accuracy reaches this fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_accuracy: Option<f64>,
    /// Stop as soon as `target_accuracy` is reached.
    #[serde(default)]
    pub stop_at_target: bool,
}

/// `[log]`: how often progress is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Write a metrics row (and a plain progress line) every N iterations.
    #[serde(default = "default_log_every")]
    pub every: u64,
    /// Training loss and accuracy are averaged over the last N iterations.
    #[serde(default = "default_window")]
    pub window: usize,
}

fn default_log_every() -> u64 {
    100
}

fn default_window() -> usize {
    100
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            every: default_log_every(),
            window: default_window(),
        }
    }
}

/// `[checkpoint]`: when the run's state is saved for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Save every N iterations (default: 1000; 0 turns periodic saves off).
    #[serde(default = "default_ckpt_every")]
    pub every: u64,
    /// Save at every cycle end.
    #[serde(default = "yes")]
    pub at_cycle_end: bool,
}

fn default_ckpt_every() -> u64 {
    1000
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every: default_ckpt_every(),
            at_cycle_end: true,
        }
    }
}

/// A configuration error: the file, the key, the offending value and what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not match the config's structure.
    #[error("config {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is out of its allowed range or conflicts with another.
    #[error("config {path}: `{key}` = {value}: {allowed}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The dotted key (`train.batch_size`).
        key: String,
        /// The offending value as written.
        value: String,
        /// What is allowed instead.
        allowed: String,
    },
    /// A `--set` argument is malformed or cannot be applied.
    #[error("--set {arg}: {message}")]
    Override {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `[schedule]` table does not build; the schedule's own error is the source.
    #[error("config {path}: [schedule] policy = \"{policy}\"")]
    Schedule {
        /// The config file.
        path: PathBuf,
        /// The schedule's policy name.
        policy: &'static str,
        /// Why the schedule does not build.
        #[source]
        source: clr_core::ScheduleError,
    },
}

/// A config that has been read, overridden and validated.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The config, with the overrides applied.
    pub config: RunConfig,
}

impl LoadedConfig {
    /// The run's name: `name` from the file, else the file's stem.
    pub fn name(&self) -> String {
        self.config.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned())
        })
    }
}

/// Reads `path`, applies `overrides` (`section.key=value`, the value in TOML
/// syntax or a bare string) and validates the result.
///
/// # Errors
/// [`ConfigError`] naming the file and, for bad values, the key, the value and
/// what is allowed.
pub fn load(path: &Path, overrides: &[String]) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let config = parse(path, &text, overrides)?;
    validate(path, &config)?;
    Ok(LoadedConfig {
        path: path.to_owned(),
        config,
    })
}

/// Parses a config's text (without validating its values).
pub fn parse(path: &Path, text: &str, overrides: &[String]) -> Result<RunConfig, ConfigError> {
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    if overrides.is_empty() {
        return from_toml(path, text);
    }
    let mut table: toml::Table = from_toml(path, text)?;
    for arg in overrides {
        apply_override(&mut table, arg)?;
    }
    let merged = toml::to_string(&table).map_err(|e| parse_err(e.to_string()))?;
    toml::from_str(&merged).map_err(|e| parse_err(format!("after --set overrides: {e}")))
}

/// Applies one `section.key=value` override to a TOML table.
pub fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        arg: arg.to_owned(),
        message: message.to_owned(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| err("expected section.key=value"))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(err(
            "the key must be like `schedule.max_lr` (dot-separated, no empty parts)",
        ));
    }
    let value = parse_value(raw.trim()).map_err(|o| {
        // `o.key` is `v` or a path below it (`v[1]`, `v.x`) in the wrapped value.
        let within = o.key.as_deref().and_then(|k| k.strip_prefix('v'));
        err(&format!(
            "`{}{}` = {}: {}",
            key.trim(),
            within.unwrap_or_default(),
            o.value,
            o.kind.allowed()
        ))
    })?;
    let (last, sections) = parts.split_last().ok_or_else(|| err("empty key"))?;
    let mut current = table;
    for section in sections {
        let entry = current
            .entry((*section).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(err(&format!("`{section}` is a value, not a section"))),
        };
    }
    current.insert((*last).to_owned(), value);
    Ok(())
}

/// A value in TOML syntax (`0.1`, `true`, `[1, 2]`, `"text"`), else a bare string; a number
/// TOML cannot hold (alone or inside an array or inline table) is an error, not a string.
fn parse_value(raw: &str) -> Result<toml::Value, OutOfRange> {
    let wrapped = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => match OutOfRange::find_overflowed_float(&wrapped) {
            Some(o) => Err(o),
            None => Ok(t
                .remove("v")
                .unwrap_or_else(|| toml::Value::String(raw.to_owned()))),
        },
        Err(e) => match OutOfRange::find(&wrapped, &e) {
            Some(o) => Err(o),
            None => Ok(toml::Value::String(raw.to_owned())),
        },
    }
}

/// Deserializes a config's TOML text; a number TOML cannot hold is reported as out of range,
/// naming its key and line.
fn from_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let out_of_range = |o: OutOfRange| match &o.key {
        Some(key) => invalid(
            path,
            key,
            &o.value,
            &format!("{} (line {})", o.kind.allowed(), o.line),
        ),
        None => ConfigError::Parse {
            path: path.to_owned(),
            message: format!("line {}: {} {}", o.line, o.value, o.kind.allowed()),
        },
    };
    if let Some(o) = OutOfRange::find_overflowed_float(text) {
        return Err(out_of_range(o));
    }
    toml::from_str(text).map_err(|e| match OutOfRange::find(text, &e) {
        Some(o) => out_of_range(o),
        None => ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        },
    })
}

fn invalid(path: &Path, key: &str, value: impl fmt::Display, allowed: &str) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        key: key.to_owned(),
        value: value.to_string(),
        allowed: allowed.to_owned(),
    }
}

/// Builds the schedule with the dataset's iterations per epoch.
pub fn build_schedule(
    path: &Path,
    c: &RunConfig,
    iterations_per_epoch: u64,
) -> Result<Schedule, ConfigError> {
    c.schedule
        .build(Some(iterations_per_epoch))
        .map_err(|e| schedule_error(path, c, e))
}

fn schedule_error(path: &Path, c: &RunConfig, source: clr_core::ScheduleError) -> ConfigError {
    ConfigError::Schedule {
        path: path.to_owned(),
        policy: c.schedule.policy_name(),
        source,
    }
}

/// The resolved config as TOML text (saved with every run).
pub fn to_toml(c: &RunConfig) -> String {
    toml::to_string_pretty(c).unwrap_or_else(|e| format!("# could not serialize the config: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_sets_nested_typed_values() {
        let mut t: toml::Table = toml::from_str("[schedule]\nmax_lr = 0.1\n").unwrap();
        apply_override(&mut t, "schedule.max_lr=0.5").unwrap();
        apply_override(&mut t, "stop.cycles=4").unwrap();
        apply_override(&mut t, "data.dataset=fashion-mnist").unwrap();
        apply_override(&mut t, "schedule.step_values=[1, 2]").unwrap();
        assert_eq!(t["schedule"]["max_lr"].as_float(), Some(0.5));
        assert_eq!(t["stop"]["cycles"].as_integer(), Some(4));
        assert_eq!(t["data"]["dataset"].as_str(), Some("fashion-mnist"));
        assert_eq!(
            t["schedule"]["step_values"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn override_rejects_malformed_arguments() {
        let mut t = toml::Table::new();
        assert!(matches!(
            apply_override(&mut t, "nokey"),
            Err(ConfigError::Override { .. })
        ));
        assert!(matches!(
            apply_override(&mut t, "a..b=1"),
            Err(ConfigError::Override { .. })
        ));
        apply_override(&mut t, "seed=3").unwrap();
        let e = apply_override(&mut t, "seed.x=1").unwrap_err();
        assert!(e.to_string().contains("`seed` is a value"), "{e}");
    }
}
