//! The project's figures: test accuracy against iteration with the LR
//! schedule beneath (the paper's Figure 1 layout), and the LR range test.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clr_core::Schedule;

use crate::metrics::Row;
use crate::plot::{write_figure, Figure, Panel, Series};

/// The runs of one config (one per seed) and its schedule.
#[derive(Debug, Clone)]
pub struct Curve {
    /// The legend label: the config's run name.
    pub label: String,
    /// The metrics rows of each run.
    pub runs: Vec<Vec<Row>>,
    /// The schedule the LR panel is drawn from; `None` plots the first run's logged rates.
    pub schedule: Option<Schedule>,
    /// Iterations the LR panel covers (the longest run's).
    pub iterations: u64,
}

/// Mean test accuracy (in %) per evaluated iteration over the runs.
fn mean_accuracy(runs: &[Vec<Row>]) -> Vec<(f64, f64)> {
    let mut points: Vec<(u64, f64, usize)> = Vec::new();
    for rows in runs {
        for r in rows {
            if let Some(a) = r.test_accuracy {
                match points.iter_mut().find(|p| p.0 == r.iteration) {
                    Some(p) => {
                        p.1 += a;
                        p.2 += 1;
                    }
                    None => points.push((r.iteration, a, 1)),
                }
            }
        }
    }
    points.sort_by_key(|p| p.0);
    points
        .into_iter()
        .map(|(i, s, n)| (i as f64, 100.0 * s / n as f64))
        .collect()
}

/// The schedule's LR at up to `samples` evenly spaced iterations (every one for short runs).
fn lr_curve(schedule: &Schedule, iterations: u64, samples: u64) -> Vec<(f64, f64)> {
    let stride = (iterations / samples.max(1)).max(1);
    (0..iterations)
        .step_by(stride as usize)
        .map(|i| (i as f64, schedule.lr(i)))
        .collect()
}

/// Whether the series' peaks lie more than a factor of 10 apart, so that a linear axis would
/// flatten the smaller ones (AdaDelta's 0.1 beside RMSprop's 0.0003).
fn scales_differ(series: &[Series]) -> bool {
    let peaks: Vec<f64> = series
        .iter()
        .filter_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .filter(|y| y.is_finite() && *y > 0.0)
                .reduce(f64::max)
        })
        .collect();
    let lo = peaks.iter().copied().reduce(f64::min);
    let hi = peaks.iter().copied().reduce(f64::max);
    matches!((lo, hi), (Some(lo), Some(hi)) if hi > 10.0 * lo)
}

/// Writes `<stem>.svg` and `<stem>.png`: accuracy on top, LR beneath (on a log axis when the
/// runs' rates differ by more than a factor of 10).
pub fn comparison(curves: &[Curve], title: &str, stem: &Path) -> Result<Vec<PathBuf>> {
    let accuracy = Panel {
        y_label: "test accuracy (%)".into(),
        series: curves
            .iter()
            .map(|c| Series {
                label: c.label.clone(),
                points: mean_accuracy(&c.runs),
            })
            .collect(),
        log_y: false,
        y_max: None,
        markers: Vec::new(),
    };
    let lr_series: Vec<Series> = curves
        .iter()
        .map(|c| Series {
            label: c.label.clone(),
            points: match &c.schedule {
                Some(s) => lr_curve(s, c.iterations, 4000),
                None => c
                    .runs
                    .first()
                    .map(|rows| rows.iter().map(|r| (r.iteration as f64, r.lr)).collect())
                    .unwrap_or_default(),
            },
        })
        .collect();
    let lr = Panel {
        y_label: "learning rate".into(),
        log_y: scales_differ(&lr_series),
        y_max: None,
        series: lr_series,
        markers: Vec::new(),
    };
    let fig = Figure {
        title: title.to_owned(),
        x_label: "iteration".into(),
        log_x: false,
        panels: vec![accuracy, lr],
    };
    write_both(&fig, stem)
}

/// Writes a figure as SVG and PNG next to each other.
pub fn write_both(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for ext in ["svg", "png"] {
        let path = stem.with_extension(ext);
        write_figure(&path, fig).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(peak: f64) -> Series {
        Series {
            label: String::new(),
            points: vec![(0.0, peak / 10.0), (1.0, peak), (2.0, 0.0), (3.0, f64::NAN)],
        }
    }

    #[test]
    fn lr_axis_goes_logarithmic_only_for_rates_of_different_scales() {
        // The paper's Table 1 runs: peaks 0.001 to 0.007 stay linear.
        assert!(!scales_differ(&[
            series(0.001),
            series(0.006),
            series(0.007)
        ]));
        // A factor of exactly 10 stays linear, just above it goes logarithmic.
        assert!(!scales_differ(&[series(0.01), series(0.1)]));
        assert!(scales_differ(&[series(0.0099), series(0.1)]));
        // The adaptive-methods runs: 0.0003 beside 0.1.
        assert!(scales_differ(&[series(0.0003), series(0.1), series(0.006)]));
        // One run, or runs with no positive rate, stay linear.
        assert!(!scales_differ(&[series(0.5)]));
        assert!(!scales_differ(&[
            Series {
                label: String::new(),
                points: vec![(0.0, 0.0)]
            },
            series(0.1)
        ]));
        assert!(!scales_differ(&[]));
    }
}
