//! `clr schedule`: print a learning-rate schedule as CSV and optionally plot it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clr_core::{Policy, Schedule, ScheduleConfig};

use crate::csvfile::{self, Num};
use crate::plot::{write_figure, Figure, Panel, Series};

/// Arguments of `clr schedule`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML file: a whole run config (only its `[schedule]` table is read) or a file holding
    /// only a `[schedule]` table.
    pub file: PathBuf,
    /// Number of rows to print (iterations 0..N-1).
    #[arg(long, value_name = "N")]
    pub iterations: u64,
    /// Iterations per epoch, needed when a length is given in epochs (`step_size_epochs`).
    #[arg(long, value_name = "K")]
    pub iterations_per_epoch: Option<u64>,
    /// Also draw the schedule into this file (`.svg` or `.png`).
    #[arg(long, value_name = "OUT")]
    pub plot: Option<PathBuf>,
}

/// Only the `[schedule]` table of a config file; other top-level tables are ignored.
#[derive(serde::Deserialize)]
struct ScheduleFile {
    schedule: Option<ScheduleConfig>,
}

/// Reads the `[schedule]` table of `path` (a run config or a schedule-only file).
///
/// # Errors
/// The file cannot be read, is not valid TOML, has no `[schedule]` table, or the table has an
/// unknown key or a value of the wrong type (the message names the file, the key and what is
/// allowed).
pub fn load_schedule_config(path: &Path) -> anyhow::Result<ScheduleConfig> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read schedule file {}", path.display()))?;
    let file: ScheduleFile = toml::from_str(&text)
        .with_context(|| format!("invalid [schedule] table in {}", path.display()))?;
    file.schedule
        .with_context(|| format!("{} has no [schedule] table", path.display()))
}

/// Runs `clr schedule`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = load_schedule_config(&args.file)?;
    let schedule = config
        .build(args.iterations_per_epoch)
        .with_context(|| format!("invalid [schedule] in {}", args.file.display()))?;
    match write_csv(&schedule, args.iterations, io::stdout().lock()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("cannot write the schedule to stdout")?,
    }
    if let Some(out) = &args.plot {
        // Exponential sweeps span decades and read better on a log axis.
        let log_lr = config.policy() == Policy::RangeExp;
        write_figure(out, &schedule_figure(&schedule, args.iterations, log_lr))
            .with_context(|| format!("cannot write the plot {}", out.display()))?;
    }
    Ok(())
}

/// Writes `iteration,lr,momentum` rows for iterations `0..iterations`, values in Rust's
/// shortest round-trip formatting, momentum empty where it is not cycled.
///
/// # Errors
/// Any write error.
pub fn write_csv(schedule: &Schedule, iterations: u64, out: impl Write) -> io::Result<()> {
    let rows = (0..iterations).map(|t| (t, Num(schedule.lr(t)), schedule.momentum(t).map(Num)));
    csvfile::write(out, &["iteration", "lr", "momentum"], rows)
}

/// The schedule as a figure: the LR on top (on a log axis if `log_lr`), the momentum beneath
/// when it is cycled, and the cycle ends marked when there are few of them.
pub fn schedule_figure(schedule: &Schedule, iterations: u64, log_lr: bool) -> Figure {
    let its = sample_iterations(iterations);
    let lr = Series {
        label: "learning rate".into(),
        points: its.iter().map(|&t| (t as f64, schedule.lr(t))).collect(),
    };
    let mut markers = Vec::new();
    let mut n = 1;
    while let Some(end) = schedule.next_cycle_end(n) {
        if end >= iterations || markers.len() > 20 {
            break;
        }
        markers.push((end as f64, format!("cycle {} end", schedule.cycle_of(end))));
        n = end + 1;
    }
    if markers.len() > 20 {
        markers.clear();
    }
    let mut panels = vec![Panel {
        y_label: "learning rate".into(),
        series: vec![lr],
        log_y: log_lr,
        y_max: None,
        markers: markers.clone(),
    }];
    let momentum: Vec<(f64, f64)> = its
        .iter()
        .filter_map(|&t| schedule.momentum(t).map(|m| (t as f64, m)))
        .collect();
    if !momentum.is_empty() {
        panels.push(Panel {
            y_label: "momentum".into(),
            series: vec![Series {
                label: "momentum".into(),
                points: momentum,
            }],
            log_y: false,
            y_max: None,
            markers,
        });
    }
    Figure {
        title: schedule.describe(),
        x_label: "iteration".into(),
        log_x: false,
        panels,
    }
}

/// Every iteration the figure draws: all of them up to [`EXACT_PLOT`] (the plot keeps each
/// pixel column's extremes), beyond that [`SAMPLED_PLOT`] evenly spaced ones from 0 to
/// `iterations - 1`, so that a plot of 10^12 iterations costs what one of a million does.
fn sample_iterations(iterations: u64) -> Vec<u64> {
    if iterations <= EXACT_PLOT {
        return (0..iterations).collect();
    }
    let last = iterations - 1;
    (0..SAMPLED_PLOT)
        .map(|i| (u128::from(last) * u128::from(i) / u128::from(SAMPLED_PLOT - 1)) as u64)
        .collect()
}

/// Longest schedule plotted point by point.
const EXACT_PLOT: u64 = 1_000_000;
/// Points of a longer one.
const SAMPLED_PLOT: u64 = 4_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_schedules_are_sampled_for_the_plot() {
        assert_eq!(sample_iterations(5), [0, 1, 2, 3, 4]);
        let s = sample_iterations(u64::MAX);
        assert_eq!(s.len(), SAMPLED_PLOT as usize);
        assert_eq!((s[0], *s.last().unwrap()), (0, u64::MAX - 1));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }
}
