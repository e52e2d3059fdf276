//! `clr compare`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::compare::{compare, plan, CompareOptions};

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
    /// Runs at once, each in its own process with an equal share of the threads (results are
    /// the same bit for bit as one at a time).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Print the `clr train` command of every unfinished run, one per line, and train nothing:
    /// for GNU parallel, `xargs -P` or a Slurm job array (scripts/slurm_array.sh). Running
    /// the same `clr compare` afterwards collects the results.
    #[arg(long, conflicts_with_all = ["report_only", "jobs"])]
    pub plan: bool,
    /// Train nothing: write the table and plots of the runs finished so far and name the
    /// others.
    #[arg(long, conflicts_with = "jobs")]
    pub report_only: bool,
    /// Threads, progress display and data source.
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
    anyhow::ensure!(args.jobs >= 1, "--jobs must be at least 1");
    args.common.init_threads()?;
    let run = args.common.run_options(args.out.clone());
    let opts = CompareOptions {
        configs: args.configs,
        seeds: args.seeds,
        target: args.target,
        out: args.out,
        overrides: args.set,
        force: args.force,
        jobs: args.jobs,
        report_only: args.report_only,
        threads: args.common.threads,
        exe: std::env::current_exe().context("locating the clr binary")?,
        run,
    };
    if args.plan {
        let plan = plan(&opts)?;
        for line in &plan.lines {
            println!("{line}");
        }
        eprintln!(
            "{} of {} runs to train ({} finished); then run the same command without --plan \
             to collect them",
            plan.lines.len(),
            plan.total,
            plan.finished
        );
        return Ok(());
    }
    let cmp = compare(&opts)?;
    println!("{}", cmp.markdown);
    for f in &cmp.files {
        println!("wrote {}", f.display());
    }
    if !cmp.others.is_empty() {
        eprintln!(
            "note: {} also holds runs of {}, not in this table (it shows only the configs \
             given); name their configs too to include them (with --report-only to train \
             nothing)",
            opts.out.display(),
            cmp.others.join(", ")
        );
    }
    if !cmp.missing.is_empty() {
        eprintln!(
            "not finished yet ({} of {}): {}",
            cmp.missing.len(),
            cmp.missing.len() + cmp.results.len(),
            cmp.missing.join(", ")
        );
    }
    Ok(())
}
