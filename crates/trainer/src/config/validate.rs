//! What serde cannot check in a run config: ranges and combinations of values, each error
//! naming the file, the key, the value and what is allowed.

use std::path::Path;

use super::{invalid, schedule_error, ConfigError, RunConfig};

/// Checks values that serde cannot: ranges and combinations.
pub fn validate(path: &Path, c: &RunConfig) -> Result<(), ConfigError> {
    if let Some(name) = &c.name {
        crate::rundir::check_name(name)
            .map_err(|why| invalid(path, "name", format!("{name:?}"), &why))?;
    }
    if c.train.batch_size == 0 {
        return Err(invalid(path, "train.batch_size", 0, "must be at least 1"));
    }
    if c.eval.batch_size == 0 {
        return Err(invalid(path, "eval.batch_size", 0, "must be at least 1"));
    }
    if let Some(e) = c.train.label_smoothing {
        if !(0.0..1.0).contains(&e) {
            return Err(invalid(
                path,
                "train.label_smoothing",
                e,
                "a fraction from 0 (off) up to, not including, 1 (0.1 is usual)",
            ));
        }
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
    let [_, h, w] = c.data.dataset.shape();
    let pad = c.data.augment.crop_padding;
    if pad > h.min(w) / 2 {
        return Err(invalid(
            path,
            "data.augment.crop_padding",
            pad,
            &format!(
                "must be at most {} for {} ({h}x{w} images; 4 is the usual CIFAR choice)",
                h.min(w) / 2,
                c.data.dataset
            ),
        ));
    }
    // The schedule's own checks (bounds, step sizes, gamma, ...). Epoch-based
    // step sizes are resolved with a nominal epoch here; the run resolves them
    // again with the real one.
    c.schedule
        .build(Some(1))
        .map_err(|e| schedule_error(path, c, e))?;
    Ok(())
}
