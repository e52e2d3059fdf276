//! `clr plot`.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::compare::schedule_of;
use crate::figures::{self, Curve};
use crate::run::files;
use crate::rundir::{find_runs, read_run};

/// Arguments of `clr plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run directories, or comparison directories holding runs (`<config>/seed-<n>/`).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output file stem: writes STEM.svg and STEM.png.
    #[arg(long, default_value = "runs/plot")]
    pub out: PathBuf,
}

/// Runs `clr plot`.
pub fn run(args: Args) -> Result<()> {
    let mut dirs = Vec::new();
    for r in &args.runs {
        if !r.is_dir() {
            bail!("{} is not a directory (give run directories written by `clr train` or `clr compare`)", r.display());
        }
        let before = dirs.len();
        dirs.extend(find_runs(r, 2));
        if dirs.len() == before {
            bail!(
                "{} holds no finished run ({} and {} missing)",
                r.display(),
                files::METRICS,
                files::SUMMARY
            );
        }
    }
    let mut curves: Vec<Curve> = Vec::new();
    for d in &dirs {
        let (summary, rows, loaded) = read_run(d)?;
        let label = summary.name.clone();
        match curves.iter_mut().find(|c| c.label == label) {
            Some(c) => {
                c.iterations = c.iterations.max(summary.iterations);
                c.runs.push(rows);
            }
            None => curves.push(Curve {
                label,
                schedule: schedule_of(&loaded, &rows),
                iterations: summary.iterations,
                runs: vec![rows],
            }),
        }
    }
    for f in figures::comparison(&curves, "test accuracy and learning rate", &args.out)? {
        println!("wrote {}", f.display());
    }
    Ok(())
}
