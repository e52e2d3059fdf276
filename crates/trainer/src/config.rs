//! Run configuration: one TOML file per run, `--set section.key=value`
//! overrides, validation with errors that name the file, the key, the value
//! and what is allowed.

use std::fmt;
use std::path::{Path, PathBuf};

use clr_core::{Schedule, ScheduleConfig};
use nn::{ModelSpec, OptimizerSpec};
use serde::{Deserialize, Serialize};

use crate::data::DataConfig;

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
    pub data: DataConfig,
    pub model: ModelSpec,
    pub optimizer: OptimizerSpec,
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    #[serde(default)]
    pub stop: StopConfig,
    #[serde(default)]
    pub log: LogConfig,
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
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_epochs: Option<f64>,
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
pub enum ConfigError {
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path}: `{key}` = {value}: {allowed}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        allowed: String,
    },
    #[error("--set {arg}: {message}")]
    Override { arg: String, message: String },
}

/// A config that has been read, overridden and validated.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
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
        return toml::from_str(text).map_err(|e| parse_err(e.to_string()));
    }
    let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
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
    let value = parse_value(raw.trim());
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

/// A value in TOML syntax (`0.1`, `true`, `[1, 2]`, `"text"`), else a bare string.
fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn invalid(path: &Path, key: &str, value: impl fmt::Display, allowed: &str) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        key: key.to_owned(),
        value: value.to_string(),
        allowed: allowed.to_owned(),
    }
}

/// Checks values that serde cannot: ranges and combinations.
pub fn validate(path: &Path, c: &RunConfig) -> Result<(), ConfigError> {
    if c.train.batch_size == 0 {
        return Err(invalid(path, "train.batch_size", 0, "must be at least 1"));
    }
    if c.eval.batch_size == 0 {
        return Err(invalid(path, "eval.batch_size", 0, "must be at least 1"));
    }
    if let Some(e) = c.train.max_epochs {
        if !(e.is_finite() && e > 0.0) {
            return Err(invalid(
                path,
                "train.max_epochs",
                e,
                "must be a positive number",
            ));
        }
    }
    if c.train.max_iterations == Some(0) {
        return Err(invalid(
            path,
            "train.max_iterations",
            0,
            "must be at least 1",
        ));
    }
    if c.train.max_iterations.is_some() && c.train.max_epochs.is_some() {
        return Err(invalid(
            path,
            "train.max_epochs",
            c.train.max_epochs.unwrap_or_default(),
            "give either train.max_iterations or train.max_epochs, not both",
        ));
    }
    if c.stop.cycles == Some(0) {
        return Err(invalid(path, "stop.cycles", 0, "must be at least 1"));
    }
    if c.train.max_iterations.is_none() && c.train.max_epochs.is_none() && c.stop.cycles.is_none() {
        return Err(invalid(
            path,
            "train.max_iterations",
            "(missing)",
            "the run needs a length: train.max_iterations, train.max_epochs or stop.cycles",
        ));
    }
    if c.eval.every == Some(0) {
        return Err(invalid(
            path,
            "eval.every",
            0,
            "must be at least 1 (iterations)",
        ));
    }
    if c.log.every == 0 {
        return Err(invalid(
            path,
            "log.every",
            0,
            "must be at least 1 (iterations)",
        ));
    }
    if c.log.window == 0 {
        return Err(invalid(
            path,
            "log.window",
            0,
            "must be at least 1 (iterations)",
        ));
    }
    if let Some(t) = c.stop.target_accuracy {
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(
                path,
                "stop.target_accuracy",
                t,
                "must be a fraction in (0, 1], e.g. 0.97 for 97%",
            ));
        }
    }
    if c.stop.stop_at_target && c.stop.target_accuracy.is_none() {
        return Err(invalid(
            path,
            "stop.stop_at_target",
            true,
            "needs stop.target_accuracy",
        ));
    }
    if let Some(m) = c.stop.min_improvement {
        if !(m.is_finite() && m >= 0.0) {
            return Err(invalid(
                path,
                "stop.min_improvement",
                m,
                "must be a fraction >= 0",
            ));
        }
    }
    // The schedule's own checks (bounds, step sizes, gamma, ...). Epoch-based
    // step sizes are resolved with a nominal epoch here; the run resolves them
    // again with the real one.
    c.schedule
        .build(Some(1))
        .map_err(|e| invalid(path, "schedule", c.schedule.policy_name(), &e.to_string()))?;
    Ok(())
}

/// Builds the schedule with the dataset's iterations per epoch.
pub fn build_schedule(
    path: &Path,
    c: &RunConfig,
    iterations_per_epoch: u64,
) -> Result<Schedule, ConfigError> {
    c.schedule
        .build(Some(iterations_per_epoch))
        .map_err(|e| invalid(path, "schedule", c.schedule.policy_name(), &e.to_string()))
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
