//! `clr bench`: training and inference throughput of a workload on synthetic data.

use anyhow::Context;
use nn::bench::{fma_peak_gflops, run as run_bench, BenchConfig};
use nn::Preset;

/// A benchmark network.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Workload {
    /// 784-512-256-10 ReLU MLP on 1x28x28 inputs.
    Mlp,
    /// Caffe LeNet on 1x28x28 inputs.
    Lenet,
    /// Caffe cifar10_quick on 3x32x32 inputs.
    Cifar10Quick,
    /// Caffe cifar10_full (the paper's network) on 3x32x32 inputs.
    Cifar10Full,
    /// He et al.'s CIFAR ResNet-20 on 3x32x32 inputs.
    Resnet20,
}

/// Arguments of `clr bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Network to measure.
    #[arg(long)]
    pub workload: Workload,
    /// Batch size for training and inference.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Worker threads (default: rayon's default, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed training iterations per repeat (default: at least 20 and at least 2 s).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Timed repeats of training and of the 10,000-image inference pass; the best counts.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Also measure the FMA peak of the same threads (`peak_gflops`, about 2 s): the ceiling
    /// for `train_flops_per_image x images/s`.
    #[arg(long)]
    pub peak: bool,
}

/// Runs `clr bench` and prints one JSON line.
pub fn run(args: Args) -> anyhow::Result<()> {
    let workload = match args.workload {
        Workload::Mlp => Preset::Mlp,
        Workload::Lenet => Preset::Lenet,
        Workload::Cifar10Quick => Preset::Cifar10Quick,
        Workload::Cifar10Full => Preset::Cifar10Full,
        Workload::Resnet20 => Preset::Resnet20,
    };
    anyhow::ensure!(args.batch >= 1, "--batch must be >= 1, got {}", args.batch);
    anyhow::ensure!(
        args.repeats >= 1,
        "--repeats must be >= 1, got {}",
        args.repeats
    );
    anyhow::ensure!(
        args.iterations != Some(0),
        "--iterations must be >= 1, got 0"
    );
    let cfg = BenchConfig {
        workload,
        batch: args.batch,
        iterations: args.iterations,
        repeats: args.repeats,
    };
    let mut pool = super::common::pool_builder();
    if let Some(t) = args.threads {
        anyhow::ensure!(t >= 1, "--threads must be >= 1, got {t}");
        pool = pool.num_threads(t);
    }
    let pool = pool.build().context("building the thread pool")?;
    let mut result = pool
        .install(|| run_bench(&cfg))
        .context("running the benchmark")?;
    if args.peak {
        result.peak_gflops = Some(pool.install(|| fma_peak_gflops(0.5)));
    }
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
