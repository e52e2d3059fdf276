//! Refuses a run the machine cannot hold, before its network and buffers are allocated: the
//! estimate counts parameters with their gradients and optimizer state, the activations of a
//! training batch and of an evaluation batch, and the dataset in memory.

use std::path::Path;

use anyhow::{bail, Context, Result};
use nn::OptimizerSpec;

use crate::config::RunConfig;
use crate::data::Dataset;

const GIB: f64 = (1u64 << 30) as f64;

/// The memory the machine can give a new process now (`MemAvailable`), if it says.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    kib("MemAvailable:")
        .or_else(|| kib("MemTotal:"))
        .map(|k| k.saturating_mul(1024))
}

/// State tensors per parameter an optimizer keeps (momentum, moments, accumulators).
fn optimizer_slots(spec: &OptimizerSpec) -> u64 {
    match spec {
        OptimizerSpec::Sgd { .. } => 1,
        _ => 2,
    }
}

/// Estimated bytes of a run: `(total, network part, data part)`.
pub fn estimate(cfg: &RunConfig, data: &Dataset) -> Result<(u64, u64, u64), nn::NnError> {
    let f = nn::footprint(&cfg.model, data.shape, data.classes.len())?;
    let batch = cfg
        .train
        .batch_size
        .max(cfg.eval.batch_size.min(data.test.len())) as u64;
    let net = f.training_bytes(batch, optimizer_slots(&cfg.optimizer));
    let image: u64 = data.shape.iter().map(|&x| x as u64).product();
    let images = (data.train.len() + data.test.len()) as u64
        + data.validation.as_ref().map_or(0, |v| v.len() as u64);
    let data_bytes = image.saturating_mul(images).saturating_mul(4);
    Ok((net.saturating_add(data_bytes), net, data_bytes))
}

/// Fails with the estimate when it exceeds what the machine has available.
pub fn check(path: &Path, cfg: &RunConfig, data: &Dataset) -> Result<()> {
    let (total, net, data_bytes) =
        estimate(cfg, data).with_context(|| format!("config {}: [model]", path.display()))?;
    let Some(avail) = available_bytes() else {
        return Ok(());
    };
    if total > avail {
        bail!(
            "config {}: this run needs about {:.1} GiB ({:.1} GiB for the network with batch_size {} \
             and its optimizer state, {:.1} GiB for the data), more than the {:.1} GiB this machine \
             has available: lower [train] batch_size or the layer sizes in [model]",
            path.display(),
            total as f64 / GIB,
            net as f64 / GIB,
            cfg.train.batch_size,
            data_bytes as f64 / GIB,
            avail as f64 / GIB
        );
    }
    Ok(())
}
