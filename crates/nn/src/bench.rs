//! Throughput of the benchmark workloads on synthetic data (behind `clr bench`).
//!
//! Training: batches of random inputs and labels, forward + softmax cross-entropy + backward +
//! SGD (momentum 0.9, weight decay 5e-4, as the PyTorch peer benchmark); a few warm-up steps,
//! then `repeats` timed runs, the fastest counts. Inference: eval-mode passes over 10,000
//! images in batches of `batch`, the fastest pass counts. FLOPs are 2 x multiply-accumulates
//! of the conv and dense layers; training counts 3 x forward (forward, input gradient, weight
//! gradient) as the peer figures do.

use crate::{ModelSpec, Network, NnError, Optimizer, OptimizerSpec, Preset, SgdConvention};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    /// Network (`mlp` is 784-512-256-10 on 1x28x28 inputs, `lenet` 1x28x28, the CIFAR-10 nets
    /// 3x32x32), 10 classes.
    pub workload: Preset,
    /// Batch size.
    pub batch: usize,
    /// Timed training iterations per repeat; `None`: at least 20 and at least 2 s.
    pub iterations: Option<usize>,
    /// Timed repeats (training runs and inference passes); the fastest counts.
    pub repeats: usize,
}

/// One measurement, printed by `clr bench` as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Workload name.
    pub workload: String,
    /// Rayon threads used.
    pub threads: usize,
    /// Batch size.
    pub batch: usize,
    /// Training images per second (best repeat).
    pub train_images_per_sec: f64,
    /// Inference images per second over 10,000 images (best pass).
    pub eval_images_per_sec: f64,
    /// Training GFLOP/s: 3 x forward FLOPs per image x training images per second.
    pub gflops: f64,
}

/// Input shape `[c, h, w]` of a workload.
pub fn input_chw(workload: Preset) -> [usize; 3] {
    match workload {
        Preset::Mlp | Preset::Lenet => [1, 28, 28],
        Preset::Cifar10Quick | Preset::Cifar10Full => [3, 32, 32],
    }
}

/// Workload name as on the command line.
pub fn workload_name(workload: Preset) -> &'static str {
    match workload {
        Preset::Mlp => "mlp",
        Preset::Lenet => "lenet",
        Preset::Cifar10Quick => "cifar10_quick",
        Preset::Cifar10Full => "cifar10_full",
    }
}

const EVAL_IMAGES: usize = 10_000;

/// Runs the benchmark on the current rayon pool.
///
/// # Errors
/// [`NnError::InvalidModel`] for a zero batch size.
pub fn run(cfg: &BenchConfig) -> Result<BenchResult, NnError> {
    if cfg.batch == 0 || cfg.repeats == 0 {
        return Err(NnError::InvalidModel(
            "batch and repeats must be >= 1".into(),
        ));
    }
    let chw = input_chw(cfg.workload);
    let mut net = Network::new(&ModelSpec::preset(cfg.workload), chw, 10, 0)?;
    let sgd = OptimizerSpec::Sgd {
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
        convention: SgdConvention::Pytorch,
    };
    let mut opt = Optimizer::new(&sgd, &net)?;
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let batches: Vec<(Array4<f32>, Vec<u8>)> = (0..4)
        .map(|_| {
            let x = Array4::from_shape_fn((cfg.batch, chw[0], chw[1], chw[2]), |_| {
                rng.gen_range(-1.0f32..1.0)
            });
            let y = (0..cfg.batch).map(|_| rng.gen_range(0..10u8)).collect();
            (x, y)
        })
        .collect();
    let mut step = |i: usize| {
        let (x, y) = &batches[i % batches.len()];
        net.forward_backward(x.view(), y, i as u64);
        opt.step(&mut net, 1e-3, None);
    };
    for i in 0..5 {
        step(i);
    }
    let mut best = f64::INFINITY;
    for _ in 0..cfg.repeats {
        let start = Instant::now();
        let mut iters = 0;
        loop {
            step(iters);
            iters += 1;
            let done = match cfg.iterations {
                Some(k) => iters >= k,
                None => iters >= 20 && start.elapsed() >= Duration::from_secs(2),
            };
            if done {
                break;
            }
        }
        best = best.min(start.elapsed().as_secs_f64() / (iters * cfg.batch) as f64);
    }
    let train = 1.0 / best;
    let eval_batches = EVAL_IMAGES.div_ceil(cfg.batch);
    for i in 0..3 {
        let (x, y) = &batches[i % batches.len()];
        net.evaluate(x.view(), y);
    }
    let mut best_eval = f64::INFINITY;
    for _ in 0..cfg.repeats {
        let start = Instant::now();
        for i in 0..eval_batches {
            let (x, y) = &batches[i % batches.len()];
            net.evaluate(x.view(), y);
        }
        best_eval =
            best_eval.min(start.elapsed().as_secs_f64() / (eval_batches * cfg.batch) as f64);
    }
    Ok(BenchResult {
        workload: workload_name(cfg.workload).to_string(),
        threads: rayon::current_num_threads(),
        batch: cfg.batch,
        train_images_per_sec: train,
        eval_images_per_sec: 1.0 / best_eval,
        gflops: 3.0 * net.flops_per_sample() as f64 * train / 1e9,
    })
}
