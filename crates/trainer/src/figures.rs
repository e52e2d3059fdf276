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
    pub label: String,
    pub runs: Vec<Vec<Row>>,
    pub schedule: Option<Schedule>,
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

/// Writes `<stem>.svg` and `<stem>.png`: accuracy on top, LR beneath.
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
        markers: Vec::new(),
    };
    let lr = Panel {
        y_label: "learning rate".into(),
        series: curves
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
            .collect(),
        log_y: false,
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
