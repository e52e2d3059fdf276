//! `clr range-test`: train while the LR rises, evaluate along the way and
//! suggest `base_lr`/`max_lr` (the paper's accuracy-based rule, plus the
//! loss-based suggestions fastai users know).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clr_core::{LossSuggestion, RangeConfig, ScheduleConfig, Suggestion};

use crate::config::{self, LoadedConfig};
use crate::csvfile::{self, Num};
use crate::figures;
use crate::fsutil::write_atomic;
use crate::metrics::{Row, Summary};
use crate::plot::{Figure, Panel, Series};
use crate::run::{self, RunOptions};
use crate::rundir::{Existing, RunDir};
use crate::stop::{Rule, StopReason};
use crate::sweep::{self, Prior};

/// How the LR rises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sweep {
    /// Linearly from min to max (the paper).
    Linear,
    /// Exponentially from min to max (fastai's `lr_find`).
    Exp,
}

/// Settings of a range test.
#[derive(Debug, Clone)]
pub struct RangeOptions {
    /// The LR at the start of the sweep.
    pub min_lr: f64,
    /// The LR at the end of the sweep.
    pub max_lr: f64,
    /// Length of the sweep in iterations (wins over `epochs`).
    pub iterations: Option<u64>,
    /// Length of the sweep in epochs (4 when neither is given).
    pub epochs: Option<f64>,
    /// How the LR rises.
    pub sweep: Sweep,
    /// Number of test evaluations along the sweep.
    pub evals: u64,
    /// Step size of the suggested schedule, in epochs (the paper: 2-10).
    pub step_epochs: f64,
    /// Stop the sweep when the smoothed loss exceeds this multiple of its minimum.
    pub stop_factor: f64,
    /// Cycles of the suggested run (`suggested_run.toml`).
    pub cycles: u64,
    /// Budget of the suggested run in epochs: when given, [`clr_core::policy_length`] picks
    /// the step size and the cycles instead of `step_epochs` and `cycles`.
    pub budget_epochs: Option<f64>,
    /// Train nothing: analyse the `range_test.csv` already in the output directory again
    /// (a sweep kept without its run files, e.g. a copy of the results).
    pub from_csv: bool,
}

/// One evaluation of the sweep: a row of `range_test.csv`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct RangePoint {
    /// Iterations done.
    pub iteration: u64,
    /// Learning rate of the last update.
    pub lr: f64,
    /// Smoothed training loss.
    pub train_loss: f64,
    /// Test accuracy as a fraction in [0, 1].
    pub test_accuracy: f64,
}

impl RangePoint {
    /// The columns of `range_test.csv`: the fields in order.
    pub const CSV_FIELDS: [&'static str; 4] = ["iteration", "lr", "train_loss", "test_accuracy"];

    /// The point as a `range_test.csv` record.
    fn csv(&self) -> (u64, Num, Num, Num) {
        let p = self;
        (
            p.iteration,
            Num(p.lr),
            Num(p.train_loss),
            Num(p.test_accuracy),
        )
    }

    /// Reads a `range_test.csv`.
    ///
    /// # Errors
    /// See [`csvfile::read`].
    pub fn read_csv(path: &std::path::Path) -> Result<Vec<Self>, csvfile::CsvError> {
        csvfile::read(path, &Self::CSV_FIELDS)
    }
}

/// What a range test found.
#[derive(Debug, Clone)]
pub struct RangeOutcome {
    /// The evaluations of the sweep whose training loss is finite.
    pub points: Vec<RangePoint>,
    /// Bounds from test accuracy (the paper's rule), or why there are none.
    pub accuracy: Result<Suggestion, String>,
    /// Rates from the training loss, or why there are none.
    pub loss: Result<LossSuggestion, String>,
    /// The `[schedule]` written to `suggested.toml`; `None` without an accuracy suggestion.
    pub suggested_toml: Option<String>,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Why the sweep ended (`None` when only its `range_test.csv` was read).
    pub stop: Option<StopReason>,
}

fn sweep_config(o: &RangeOptions, iterations: u64) -> ScheduleConfig {
    let sweep = RangeConfig {
        min_lr: Some(o.min_lr),
        max_lr: Some(o.max_lr),
        iterations: Some(iterations),
    };
    match o.sweep {
        Sweep::Linear => ScheduleConfig::RangeLinear(sweep),
        Sweep::Exp => ScheduleConfig::RangeExp(sweep),
    }
}

/// Runs the range test for a config and writes its outputs to `run_opts.out_dir`.
pub fn range_test(
    loaded: &LoadedConfig,
    o: &RangeOptions,
    run_opts: &RunOptions,
) -> Result<RangeOutcome> {
    if !(o.min_lr > 0.0 && o.max_lr > o.min_lr && o.max_lr.is_finite()) {
        bail!(
            "the sweep needs 0 < --min-lr < --max-lr (got {} and {})",
            o.min_lr,
            o.max_lr
        );
    }
    if o.evals < 3 {
        bail!("--evals must be at least 3 (got {})", o.evals);
    }
    if o.iterations == Some(0) {
        bail!(
            "--iterations 0: the sweep needs at least --evals ({}) iterations",
            o.evals
        );
    }
    if let Some(e) = o.epochs.filter(|e| !(e.is_finite() && *e > 0.0)) {
        bail!("--epochs {e}: give a positive number of epochs, e.g. 4");
    }
    if o.cycles == 0 {
        bail!("--cycles 0: the suggested run needs at least 1 cycle (the paper: 3 or more)");
    }
    if !(o.step_epochs.is_finite() && o.step_epochs > 0.0) {
        bail!(
            "--step-epochs {}: give a positive step size in epochs (the paper: 2-10)",
            o.step_epochs
        );
    }
    let length = match o.budget_epochs {
        None => None,
        Some(b) => Some(clr_core::policy_length(b).with_context(|| {
            format!("--budget-epochs {b}: give a positive number of epochs, e.g. 30")
        })?),
    };
    let (step_epochs, cycles) = length
        .as_ref()
        .map_or((o.step_epochs, o.cycles), |l| (l.step_epochs, l.cycles));
    let data = run::load_data(loaded, run_opts.mirror.as_deref())?;
    let ipe = data.train.len() as f64 / loaded.config.train.batch_size as f64;
    let iterations = match (o.iterations, o.epochs) {
        (Some(n), _) => n,
        (None, Some(e)) => (e * ipe).ceil() as u64,
        (None, None) => (4.0 * ipe).ceil() as u64,
    };
    if iterations < o.evals {
        bail!(
            "a sweep of {iterations} iterations cannot hold --evals {} evaluations: \
             give more --iterations/--epochs or fewer --evals",
            o.evals
        );
    }
    let every = (iterations / o.evals).max(1);

    let mut sweep = loaded.clone();
    let c = &mut sweep.config;
    c.schedule = sweep_config(o, iterations);
    c.train.max_iterations = Some(iterations);
    c.train.max_epochs = None;
    c.stop = Default::default();
    c.eval.every = Some(every);
    c.eval.at_cycle_end = false;
    c.log.every = every;
    c.log.window = every as usize;
    c.checkpoint.every = 0;
    c.checkpoint.at_cycle_end = false;
    let out = &run_opts.out_dir;
    let csv_path = out.join("range_test.csv");
    let (points, stop, exploded) = if o.from_csv {
        let _dir = RunDir::claim(out, Existing::Keep)?;
        let points = RangePoint::read_csv(&csv_path).with_context(|| {
            format!(
                "--from-csv reads the sweep in {}: run the range test without --from-csv \
                 first",
                csv_path.display()
            )
        })?;
        (points, None, None)
    } else {
        let (summary, rows) = sweep_rows(&sweep, &data, o, run_opts)?;
        let exploded = match summary.stop_reason {
            StopReason::LossExploded { .. } | StopReason::Diverged { .. } => {
                rows.last().map(|r| r.lr)
            }
            _ => None,
        };
        (points_of(&rows), Some(summary.stop_reason), exploded)
    };
    let lrs: Vec<f64> = points.iter().map(|p| p.lr).collect();
    let accs: Vec<f64> = points.iter().map(|p| p.test_accuracy).collect();
    let losses: Vec<f64> = points.iter().map(|p| p.train_loss).collect();
    let accuracy = clr_core::suggest_from_accuracy(&lrs, &accs).map_err(|e| e.to_string());
    let loss = clr_core::suggest_from_loss(&lrs, &losses).map_err(|e| e.to_string());

    let csv = csvfile::to_string(&RangePoint::CSV_FIELDS, points.iter().map(RangePoint::csv));
    write_atomic(&csv_path, csv.as_bytes())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let mut files = vec![csv_path];

    let mut markers = Vec::new();
    let mut suggested_toml = None;
    if let Ok(s) = &accuracy {
        markers.push((s.base_lr, format!("base_lr {:.3e}", s.base_lr)));
        markers.push((s.max_lr, format!("max_lr {:.3e}", s.max_lr)));
        let step = ((step_epochs * ipe).round() as u64).max(1);
        let why_length = match &length {
            Some(l) => l.reason.clone(),
            None => "the paper advises 2-10 epochs".to_owned(),
        };
        let schedule_toml = format!(
            "# Suggested by `clr range-test` from {} ({} points, {:?} sweep {}-{}).\n# {}\n# step_size = {} epochs of {:.0} iterations ({}).\n[schedule]\npolicy = \"triangular\"\nbase_lr = {}\nmax_lr = {}\nstep_size = {step}\n",
            loaded.path.display(),
            points.len(),
            o.sweep,
            o.min_lr,
            o.max_lr,
            s.reason.replace('\n', "\n# "),
            step_epochs,
            ipe,
            why_length.replace('\n', "\n# "),
            round_sig(s.base_lr),
            round_sig(s.max_lr),
        );
        let p = out.join("suggested.toml");
        write_atomic(&p, schedule_toml.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
        files.push(p);
        // The whole config with the suggested schedule, trainable as is.
        let mut run_cfg = loaded.config.clone();
        run_cfg.schedule = toml::from_str::<toml::Table>(&schedule_toml)
            .ok()
            .and_then(|t| t.get("schedule").cloned())
            .and_then(|v| v.try_into().ok())
            .context("re-reading the suggested schedule")?;
        run_cfg.name = Some(format!("{}_range_clr", loaded.name()));
        run_cfg.train.max_iterations = None;
        run_cfg.train.max_epochs = None;
        run_cfg.stop.cycles = Some(cycles);
        run_cfg.stop.at_cycle_end = true;
        let p = out.join("suggested_run.toml");
        let text = format!(
            "# {} with the schedule suggested by `clr range-test`: {} cycles.\n{}",
            loaded.path.display(),
            cycles,
            config::to_toml(&run_cfg)
        );
        write_atomic(&p, text.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
        files.push(p);
        suggested_toml = Some(schedule_toml);
    }
    // Accuracy-based bounds above, the loss-based rates below, the sweep's end on both.
    let mut loss_markers = Vec::new();
    if let Ok(l) = &loss {
        loss_markers.push((l.valley, format!("valley {:.3e}", l.valley)));
        loss_markers.push((l.min_loss_lr, format!("min loss {:.3e}", l.min_loss_lr)));
    }
    if let Some(lr) = exploded {
        let end = (lr, format!("loss exploded {lr:.3e}"));
        markers.push(end.clone());
        loss_markers.push(end);
    }
    let log_x = o.sweep == Sweep::Exp;
    let loss_top = loss_axis_top(&losses);
    let fig = Figure {
        title: format!("LR range test: {}", loaded.name()),
        x_label: "learning rate".into(),
        log_x,
        panels: vec![
            Panel {
                y_label: "test accuracy (%)".into(),
                series: vec![Series {
                    label: "test accuracy".into(),
                    points: points
                        .iter()
                        .map(|p| (p.lr, 100.0 * p.test_accuracy))
                        .collect(),
                }],
                log_y: false,
                y_max: None,
                markers,
            },
            Panel {
                y_label: "training loss".into(),
                series: vec![Series {
                    label: "training loss".into(),
                    points: points.iter().map(|p| (p.lr, p.train_loss)).collect(),
                }],
                log_y: false,
                y_max: loss_top,
                markers: loss_markers,
            },
        ],
    };
    files.extend(figures::write_both(&fig, &out.join("range_test"))?);
    Ok(RangeOutcome {
        points,
        accuracy,
        loss,
        suggested_toml,
        files,
        stop,
    })
}

/// Trains the sweep (or reuses the same sweep finished in the output directory: a changed
/// rule, another --cycles or --budget-epochs analyse it again; --force trains it afresh).
fn sweep_rows(
    sweep: &LoadedConfig,
    data: &crate::data::Dataset,
    o: &RangeOptions,
    run_opts: &RunOptions,
) -> Result<(Summary, Vec<Row>)> {
    let out = &run_opts.out_dir;
    let prior = if run_opts.force {
        Prior::Start
    } else {
        sweep::prior(sweep, out)?
    };
    if let Prior::Finished(run) = prior {
        let _dir = RunDir::claim(out, Existing::Keep)?;
        eprintln!(
            "{}: reusing the finished sweep in {} (pass --force to train it again)",
            sweep.name(),
            out.display()
        );
        return Ok(*run);
    }
    let existing = if run_opts.force {
        Existing::Replace
    } else {
        Existing::Refuse { resumable: false }
    };
    let dir = RunDir::claim(out, existing)?;
    let mut opts = run_opts.clone();
    opts.extra_rules.push(Rule::LossExploded {
        ratio: o.stop_factor,
    });
    let outcome = run::train_in(sweep, data, &opts, &dir)?;
    Ok((outcome.summary, outcome.rows))
}

/// The evaluations of the sweep with a finite training loss.
fn points_of(rows: &[Row]) -> Vec<RangePoint> {
    rows.iter()
        .filter_map(|r| {
            Some(RangePoint {
                iteration: r.iteration,
                lr: r.lr,
                train_loss: r.train_loss,
                test_accuracy: r.test_accuracy?,
            })
        })
        .filter(|p| p.train_loss.is_finite())
        .collect()
}

/// Top of the loss panel: a little above the larger of the first loss and 4x the lowest,
/// when the curve goes higher (the divergence at the end of a sweep would otherwise flatten
/// the rest into a line at the bottom, as fastai's plot avoids by clipping); `None` else.
fn loss_axis_top(losses: &[f64]) -> Option<f64> {
    let finite = || losses.iter().copied().filter(|l| l.is_finite());
    let min = finite().fold(f64::INFINITY, f64::min);
    let first = finite().next()?;
    let top = 1.1 * first.max(4.0 * min);
    (finite().fold(f64::NEG_INFINITY, f64::max) > top).then_some(top)
}

/// Rounds to 2 significant digits (bounds read from a noisy curve carry no more).
pub fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powi(x.abs().log10().floor() as i32 - 1);
    let r = (x / mag).round() * mag;
    // Print-friendly: reparse the shortest decimal.
    format!("{r:.12e}").parse().unwrap_or(r)
}

#[cfg(test)]
mod tests {
    use super::{loss_axis_top, round_sig};

    #[test]
    fn the_loss_axis_clips_a_divergence_only() {
        // MNIST-like: 2.3 at the start, 0.05 at the best, 207 at the end.
        assert_eq!(
            loss_axis_top(&[2.3, 0.5, 0.05, 0.2, 207.0]),
            Some(1.1 * 2.3)
        );
        // Falls from 0.3 to 0.1 and climbs to 0.9: 4x the minimum is the limit.
        let top = loss_axis_top(&[0.3, 0.1, 0.9]).unwrap();
        assert!((top - 0.44).abs() < 1e-12, "{top}");
        // Nothing above the limit: fit the data.
        assert_eq!(loss_axis_top(&[2.3, 0.5, 0.05, 0.2]), None);
        assert_eq!(loss_axis_top(&[]), None);
        assert_eq!(loss_axis_top(&[f64::NAN, 1.0, 0.1, f64::INFINITY]), None);
    }

    #[test]
    fn rounds_to_two_significant_digits() {
        assert_eq!(round_sig(0.0061234), 0.0061);
        assert_eq!(round_sig(0.1449), 0.14);
        assert_eq!(round_sig(2.35), 2.4);
    }
}
