//! `clr compare`.

use std::path::PathBuf;

use anyhow::Result;

use crate::compare::{compare, CompareOptions};

use super::common::CommonRunArgs;

/// Arguments of `clr compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run configs to compare; the first is the baseline of the speed-up column.
    #[arg(required = true)]
    pub configs: Vec<PathBuf>,
    /// Seeds per config (the config's seed, +1, +2, ...).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Target test accuracy (a fraction, e.g. 0.98) for the iterations-to-target column.
    #[arg(long, value_name = "ACC")]
    pub target: Option<f64>,
    /// Output directory (runs in OUT/<config>/seed-<n>/, the table and plots in OUT/).
    #[arg(long, default_value = "runs/compare")]
    pub out: PathBuf,
    /// Override a value in every config: `section.key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Replace run directories that hold runs of a different config (only the files clr
    /// wrote there are deleted).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

/// Runs `clr compare`.
pub fn run(args: Args) -> Result<()> {
    if let Some(t) = args.target {
        anyhow::ensure!(
            t > 0.0 && t <= 1.0,
            "--target {t}: give a fraction in (0, 1], e.g. 0.98 for 98%"
        );
    }
    args.common.init_threads()?;
    let run = args.common.run_options(args.out.clone());
    let opts = CompareOptions {
        configs: args.configs,
        seeds: args.seeds,
        target: args.target,
        out: args.out,
        overrides: args.set,
        force: args.force,
        run,
    };
    let cmp = compare(&opts)?;
    println!("{}", cmp.markdown);
    for f in &cmp.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
