//! `clr range-test`.

use std::path::PathBuf;

use anyhow::Result;

use crate::config;
use crate::range::{range_test, RangeOptions, Sweep};

use super::common::CommonRunArgs;

/// Arguments of `clr range-test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run config whose data, model and optimizer are tested (its schedule is replaced by the sweep).
    pub config: PathBuf,
    /// Lowest LR of the sweep.
    #[arg(long, default_value_t = 1e-4)]
    pub min_lr: f64,
    /// Highest LR of the sweep.
    #[arg(long, default_value_t = 1.0)]
    pub max_lr: f64,
    /// Length of the sweep in iterations.
    #[arg(long, conflicts_with = "epochs")]
    pub iterations: Option<u64>,
    /// Length of the sweep in epochs (default 4; the paper used 8 for CIFAR-10).
    #[arg(long)]
    pub epochs: Option<f64>,
    /// How the LR rises.
    #[arg(long, value_enum, default_value_t = Sweep::Exp)]
    pub sweep: Sweep,
    /// Test-set evaluations along the sweep.
    #[arg(long, default_value_t = 40)]
    pub evals: u64,
    /// Step size of the suggested schedule in epochs (the paper advises 2-10).
    #[arg(long, default_value_t = 2.0)]
    pub step_epochs: f64,
    /// Cycles of the suggested run written to suggested_run.toml (the paper: 3 get most of the way, 4 or more do better).
    #[arg(long, default_value_t = 4)]
    pub cycles: u64,
    /// Training budget of the suggested run, in epochs: picks the step size and the number of
    /// cycles by the paper's advice (step 2-10 epochs, 4 or more cycles when the budget
    /// allows) instead of --step-epochs and --cycles.
    #[arg(long, conflicts_with_all = ["step_epochs", "cycles"])]
    pub budget_epochs: Option<f64>,
    /// End the sweep when the smoothed loss exceeds this multiple of its minimum.
    #[arg(long, default_value_t = 4.0)]
    pub stop_factor: f64,
    /// Override a config value: `section.key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory (default: runs/<config name>-range).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a range test or run already in the output directory (only the files clr
    /// wrote there are deleted).
    #[arg(long)]
    pub force: bool,
    /// Train nothing: analyse the range_test.csv in the output directory again with the
    /// current rules and rewrite the suggestions and the figure (for a sweep kept without its
    /// run files; a finished sweep with them is reused anyway). Give the sweep's own options.
    #[arg(long, conflicts_with = "force")]
    pub from_csv: bool,
    /// Threads, progress display and data source.
    #[command(flatten)]
    pub common: CommonRunArgs,
}

/// Runs `clr range-test`.
pub fn run(args: Args) -> Result<()> {
    args.common.init_threads()?;
    let loaded = config::load(&args.config, &args.set)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-range", loaded.name())));
    let mut run = args.common.run_options(out);
    run.force = args.force;
    let opts = RangeOptions {
        min_lr: args.min_lr,
        max_lr: args.max_lr,
        iterations: args.iterations,
        epochs: args.epochs,
        sweep: args.sweep,
        evals: args.evals,
        step_epochs: args.step_epochs,
        stop_factor: args.stop_factor,
        cycles: args.cycles,
        budget_epochs: args.budget_epochs,
        from_csv: args.from_csv,
    };
    let r = range_test(&loaded, &opts, &run)?;
    match &r.stop {
        Some(stop) => println!("sweep ended: {stop}"),
        None => println!("sweep read from its range_test.csv"),
    }
    match &r.accuracy {
        Ok(s) => {
            println!(
                "suggested from test accuracy: base_lr = {:.3e}, max_lr = {:.3e}",
                s.base_lr, s.max_lr
            );
            println!("  {}", s.reason);
        }
        Err(e) => println!("no suggestion from test accuracy: {e}"),
    }
    match &r.loss {
        Ok(l) => {
            println!(
                "from training loss: steepest descent at {:.3e}, valley at {:.3e}",
                l.steepest, l.valley
            );
            println!("  {}", l.reason);
        }
        Err(e) => println!("no suggestion from training loss: {e}"),
    }
    for f in &r.files {
        println!("wrote {}", f.display());
    }
    if r.suggested_toml.is_none() {
        anyhow::bail!("the range test gave no usable bounds; widen the sweep (--min-lr/--max-lr) or lengthen it (--epochs)");
    }
    Ok(())
}
