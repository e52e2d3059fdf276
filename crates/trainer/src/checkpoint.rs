//! Checkpoints: weights, optimizer state and the loop's state, written so that
//! an interruption at any moment leaves the previous checkpoint intact.
//!
//! Layout: `RUN/checkpoints/ckpt-<iteration>/{weights.safetensors,
//! optimizer.safetensors, state.json}` and `RUN/checkpoints/latest`, a file
//! naming the newest complete checkpoint. A checkpoint directory is filled
//! under a temporary name and renamed when complete; `latest` is replaced
//! atomically afterwards, so it always names a complete checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nn::{Network, Optimizer};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::metrics::{Row, Smoother};
use crate::stop::PlateauTracker;

/// How many complete checkpoints are kept.
const KEEP: usize = 2;

/// The loop's state besides weights and optimizer state. Data order and
/// dropout masks are functions of (seed, iteration), so the iteration is all
/// the position they need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Updates done.
    pub iteration: u64,
    /// Worker threads of the process that wrote the checkpoint.
    pub threads: usize,
    /// The best test accuracy (a fraction) so far and the iteration it was first reached at.
    pub best: Option<(f64, u64)>,
    /// The first evaluated iteration that reached `stop.target_accuracy`.
    pub iterations_to_target: Option<u64>,
    /// Test accuracy at the last cycle end, for the plateau rule.
    pub plateau: PlateauTracker,
    /// The window of the smoothed training loss and accuracy.
    pub smoother: Smoother,
    /// The metrics rows logged so far.
    pub rows: Vec<Row>,
    /// Seconds spent in updates, all sessions so far.
    pub train_seconds: f64,
    /// Wall-clock seconds since the run started, all sessions so far.
    pub elapsed_seconds: f64,
    /// The schedule's description when the run started: a resume checks it against the
    /// config (empty in checkpoints of older versions).
    #[serde(default)]
    pub schedule: String,
    /// The model's summary when the run started, checked the same way.
    #[serde(default)]
    pub model: String,
}

use crate::rundir::checkpoints as dir;

/// Saves a checkpoint of `state.iteration` and prunes older ones.
pub fn save(run_dir: &Path, net: &Network, opt: &Optimizer, state: &LoopState) -> Result<PathBuf> {
    let root = dir(run_dir);
    let name = format!("ckpt-{:010}", state.iteration);
    let tmp = root.join(format!("{name}.tmp"));
    let done = root.join(&name);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("removing stale {}", tmp.display()))?;
    }
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    net.save(&tmp.join("weights.safetensors"))
        .context("saving checkpoint weights")?;
    opt.save(&tmp.join("optimizer.safetensors"))
        .context("saving checkpoint optimizer state")?;
    let json = serde_json::to_vec(state).context("serializing the loop state")?;
    let state_path = tmp.join("state.json");
    write_atomic(&state_path, &json)
        .with_context(|| format!("saving checkpoint state {}", state_path.display()))?;
    if done.exists() {
        fs::remove_dir_all(&done).with_context(|| format!("replacing {}", done.display()))?;
    }
    fs::rename(&tmp, &done).with_context(|| format!("renaming {} into place", tmp.display()))?;
    let latest = root.join("latest");
    write_atomic(&latest, name.as_bytes())
        .with_context(|| format!("updating {}", latest.display()))?;
    prune(&root, &name);
    Ok(done)
}

/// Removes all but the newest [`KEEP`] checkpoints (best effort).
fn prune(root: &Path, newest: &str) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ckpt-") && !n.ends_with(".tmp") && n.as_str() <= newest)
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(KEEP);
    for n in &names[..excess] {
        let _ = fs::remove_dir_all(root.join(n));
    }
}

/// The newest complete checkpoint of a run, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>> {
    let pointer = dir(run_dir).join("latest");
    if !pointer.exists() {
        return Ok(None);
    }
    let name =
        fs::read_to_string(&pointer).with_context(|| format!("reading {}", pointer.display()))?;
    let path = dir(run_dir).join(name.trim());
    anyhow::ensure!(
        path.join("state.json").exists(),
        "{} names {}, which is incomplete or missing",
        pointer.display(),
        path.display()
    );
    Ok(Some(path))
}

/// The loop state of a checkpoint, without loading its tensors.
pub fn read_state(ckpt: &Path) -> Result<LoopState> {
    let state_path = ckpt.join("state.json");
    let bytes =
        fs::read(&state_path).with_context(|| format!("reading {}", state_path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", state_path.display()))
}

/// Restores weights and optimizer state from a checkpoint and returns the loop state.
pub fn load(ckpt: &Path, net: &mut Network, opt: &mut Optimizer) -> Result<LoopState> {
    let state = read_state(ckpt)?;
    net.load(&ckpt.join("weights.safetensors"))
        .with_context(|| format!("loading weights from {}", ckpt.display()))?;
    opt.load(&ckpt.join("optimizer.safetensors"))
        .with_context(|| format!("loading optimizer state from {}", ckpt.display()))?;
    Ok(state)
}
/// A checkpoint can continue this config only if it belongs to the same schedule and model
/// and has not gone past the planned end.
pub fn check_resumable(
    st: &LoopState,
    (schedule, model): &(String, String),
    end: u64,
    ckpt: &Path,
    config: &Path,
) -> Result<()> {
    let changed = |what: &str, then: &str, now: &str| {
        anyhow::anyhow!(
            "cannot resume from {}: it was written for {what} `{then}`, but {} now gives `{now}`; \
             restore the config, or start a new run with --force",
            ckpt.display(),
            config.display()
        )
    };
    if !st.schedule.is_empty() && st.schedule != *schedule {
        return Err(changed("the schedule", &st.schedule, schedule));
    }
    if !st.model.is_empty() && st.model != *model {
        // Name the first layer line that differs.
        let mut then = st.model.lines();
        let mut now = model.lines();
        let (a, b) = loop {
            match (then.next(), now.next()) {
                (Some(a), Some(b)) if a == b => continue,
                (a, b) => break (a.unwrap_or("(none)"), b.unwrap_or("(none)")),
            }
        };
        return Err(changed(
            "the model",
            a.split_whitespace().collect::<Vec<_>>().join(" ").as_str(),
            b.split_whitespace().collect::<Vec<_>>().join(" ").as_str(),
        ));
    }
    if st.iteration > end {
        bail!(
            "cannot resume from {}: its iteration {} is past the run's planned end {end} \
             (the length in {} was shortened); restore the length, or start a new run with --force",
            ckpt.display(),
            st.iteration,
            config.display()
        );
    }
    Ok(())
}
