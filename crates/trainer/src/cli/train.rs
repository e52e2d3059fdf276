//! `clr train`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config;
use crate::metrics::Summary;
use crate::run::{self, files, DIVERGENCE_HINT};
use crate::stop::StopReason;
use crate::sweep::{self, Prior};

use super::common::{CommonRunArgs, RunDirArgs};

/// Arguments of `clr train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's TOML config (not needed with --resume).
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Continue the run in DIR from its latest checkpoint (uses DIR/config.toml).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "set", "out", "force", "reuse"])]
    pub resume: Option<PathBuf>,
    /// Override a config value: `section.key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Reuse what --out holds of this config's run: report it if finished, resume it from its
    /// checkpoint if interrupted, start it otherwise (the form `clr compare --plan` prints; a
    /// run of another config is replaced only with --force).
    #[arg(long, requires = "out")]
    pub reuse: bool,
    /// Where the run goes.
    #[command(flatten)]
    pub dir: RunDirArgs,
    /// Threads, progress display and data source.
    #[command(flatten)]
    pub common: CommonRunArgs,
}

/// Runs `clr train`.
pub fn run(args: Args) -> Result<()> {
    args.common.init_threads()?;
    let (loaded, out, resume) = match (&args.resume, &args.config) {
        (Some(dir), _) => {
            let loaded = config::load(&dir.join(files::CONFIG), &[])?;
            (loaded, dir.clone(), true)
        }
        (None, Some(path)) => {
            let loaded = config::load(path, &args.set)?;
            let out = args
                .dir
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(loaded.name()));
            (loaded, out, false)
        }
        (None, None) => bail!("give a config file or --resume DIR"),
    };
    let mut opts = args.common.run_options(out.clone());
    opts.resume = resume;
    opts.force = args.dir.force;
    if args.reuse {
        match sweep::prior(&loaded, &out)? {
            Prior::Finished(run) => {
                eprintln!(
                    "{}: reusing the finished run in {}",
                    loaded.name(),
                    out.display()
                );
                return report(&run.0, &out);
            }
            Prior::Resumable => opts.resume = true,
            Prior::Start => opts.force = true,
            Prior::OtherConfig if args.dir.force => {}
            Prior::OtherConfig => return Err(sweep::other_config_error(&out, &loaded)),
        }
    }
    let outcome = run::train(&loaded, &opts)?;
    report(&outcome.summary, &outcome.out_dir)
}

/// Prints a run's result; an error for a run that diverged or was interrupted.
fn report(s: &Summary, out_dir: &Path) -> Result<()> {
    match &s.stop_reason {
        StopReason::Diverged { .. } => {
            bail!(
                "{}: {}; stopped cleanly, the last good checkpoint is in {}\nhint: {DIVERGENCE_HINT}",
                s.name,
                s.stop_reason,
                out_dir.join("checkpoints").display()
            )
        }
        StopReason::Interrupted { .. } => bail!(
            "{}: {}; continue with `clr train --resume {}`",
            s.name,
            s.stop_reason,
            out_dir.display()
        ),
        _ => {}
    }
    let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |a| format!("{:.2}%", a * 100.0));
    println!("run:            {} ({})", s.name, out_dir.display());
    println!("schedule:       {}", s.schedule);
    println!("stopped:        {}", s.stop_reason);
    println!("iterations:     {} ({:.2} epochs)", s.iterations, s.epochs);
    println!("final test acc: {}", pct(s.final_test_accuracy));
    println!(
        "best test acc:  {} at iteration {}",
        pct(s.best_test_accuracy),
        s.best_iteration.unwrap_or(0)
    );
    if let Some(t) = s.target_accuracy {
        match s.iterations_to_target {
            Some(i) => println!("target {}:  reached at iteration {i}", pct(Some(t))),
            None => println!("target {}:  not reached", pct(Some(t))),
        }
    }
    println!(
        "wall time:      {:.1} s ({:.0} train img/s, {} threads)",
        s.wall_seconds, s.train_images_per_sec, s.threads
    );
    Ok(())
}
