//! Comparison tables: runs grouped by config, mean ± std over seeds,
//! iterations to a target accuracy and the speed-up against the first config.

use std::fmt::Write as _;

use clr_core::Schedule;

use crate::csvfile::{self, Fixed, Num};
use crate::metrics::Row;

/// One finished run as the comparison sees it.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The config's run name (its row in the table).
    pub config: String,
    /// The schedule's policy name.
    pub policy: String,
    /// The lowest and highest LR of the run ([`lr_range_label`]); `-` when the schedule cannot
    /// be rebuilt.
    pub lr_range: String,
    /// The run's seed.
    pub seed: u64,
    /// Updates done.
    pub iterations: u64,
    /// Test accuracy (a fraction) at the last evaluation.
    pub final_accuracy: Option<f64>,
    /// The highest test accuracy (a fraction) of any evaluation.
    pub best_accuracy: Option<f64>,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// Why the run ended, as text.
    pub stop: String,
    /// The run's metrics rows.
    pub rows: Vec<Row>,
}

/// The first evaluated iteration whose test accuracy reaches `target`.
pub fn iterations_to_target(rows: &[Row], target: f64) -> Option<u64> {
    rows.iter()
        .find(|r| r.test_accuracy.is_some_and(|a| a >= target))
        .map(|r| r.iteration)
}

/// Mean and sample standard deviation (0 for a single value); None when empty.
pub fn mean_std(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

/// One line of the comparison table: a config over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The config's run name.
    pub config: String,
    /// The policy of its first run.
    pub policy: String,
    /// The LR range of its first run.
    pub lr_range: String,
    /// Runs (seeds) of the config.
    pub runs: usize,
    /// Mean iterations per run.
    pub iterations: f64,
    /// Mean and sample standard deviation of the final test accuracy (fractions).
    pub final_accuracy: Option<(f64, f64)>,
    /// Mean and sample standard deviation of the best test accuracy (fractions).
    pub best_accuracy: Option<(f64, f64)>,
    /// Mean iterations to the target over the runs that reached it, and how many did.
    pub to_target: Option<(f64, usize)>,
    /// First config's mean iterations to target divided by this one's.
    pub speedup: Option<f64>,
    /// Mean wall-clock seconds per run.
    pub wall_seconds: f64,
}

/// Groups runs by config (in first-seen order) and computes the table lines.
///
/// Iterations to target are averaged over the runs that reached it; the
/// speed-up is defined only when every run of both configs reached it.
pub fn summarize(results: &[RunResult], target: Option<f64>) -> Vec<Line> {
    let mut order: Vec<&str> = Vec::new();
    for r in results {
        if !order.contains(&r.config.as_str()) {
            order.push(&r.config);
        }
    }
    let mut lines: Vec<Line> = order
        .iter()
        .map(|name| {
            let group: Vec<&RunResult> = results.iter().filter(|r| r.config == *name).collect();
            let finals: Vec<f64> = group.iter().filter_map(|r| r.final_accuracy).collect();
            let bests: Vec<f64> = group.iter().filter_map(|r| r.best_accuracy).collect();
            let to_target = target.and_then(|t| {
                let hits: Vec<f64> = group
                    .iter()
                    .filter_map(|r| iterations_to_target(&r.rows, t))
                    .map(|i| i as f64)
                    .collect();
                mean_std(&hits).map(|(m, _)| (m, hits.len()))
            });
            Line {
                config: (*name).to_owned(),
                policy: group[0].policy.clone(),
                lr_range: group[0].lr_range.clone(),
                runs: group.len(),
                iterations: group.iter().map(|r| r.iterations as f64).sum::<f64>()
                    / group.len() as f64,
                final_accuracy: mean_std(&finals),
                best_accuracy: mean_std(&bests),
                to_target,
                speedup: None,
                wall_seconds: group.iter().map(|r| r.wall_seconds).sum::<f64>()
                    / group.len() as f64,
            }
        })
        .collect();
    let all_reached = |l: &Line| l.to_target.is_some_and(|(_, n)| n == l.runs);
    if let Some(first) = lines.first().cloned() {
        if all_reached(&first) {
            let base = first.to_target.map_or(0.0, |t| t.0);
            for l in &mut lines {
                if all_reached(l) {
                    l.speedup = l.to_target.map(|(m, _)| base / m);
                }
            }
        }
    }
    lines
}

fn pct(v: Option<(f64, f64)>, runs: usize) -> String {
    match v {
        Some((m, s)) if runs > 1 => format!("{:.2} ± {:.2}", m * 100.0, s * 100.0),
        Some((m, _)) => format!("{:.2}", m * 100.0),
        None => "-".to_owned(),
    }
}

fn target_cell(l: &Line) -> String {
    match l.to_target {
        Some((m, n)) if n == l.runs => format!("{m:.0}"),
        Some((m, n)) => format!("{m:.0} ({n}/{} runs)", l.runs),
        None => "not reached".to_owned(),
    }
}

/// The comparison as a Markdown table.
pub fn markdown(lines: &[Line], target: Option<f64>) -> String {
    let mut s = String::new();
    let target_col = target.map_or_else(
        || "iterations to target".to_owned(),
        |t| format!("iterations to {:.1}%", t * 100.0),
    );
    let _ = writeln!(
        s,
        "| config | policy | LR range | runs | iterations | final test acc % | best test acc % | {target_col} | speed-up | wall time (s) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for l in lines {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.0} |",
            l.config,
            l.policy,
            l.lr_range,
            l.runs,
            l.iterations,
            pct(l.final_accuracy, l.runs),
            pct(l.best_accuracy, l.runs),
            if target.is_some() {
                target_cell(l)
            } else {
                "-".to_owned()
            },
            l.speedup
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}x")),
            l.wall_seconds
        );
    }
    s
}

/// One CSV row per run.
pub fn runs_csv(results: &[RunResult], target: Option<f64>) -> String {
    let header = [
        "config",
        "policy",
        "lr_range",
        "seed",
        "iterations",
        "final_test_accuracy",
        "best_test_accuracy",
        "iterations_to_target",
        "wall_seconds",
        "stop",
    ];
    csvfile::to_string(
        &header,
        results.iter().map(|r| {
            (
                &r.config,
                &r.policy,
                &r.lr_range,
                r.seed,
                r.iterations,
                r.final_accuracy.map(Num),
                r.best_accuracy.map(Num),
                target.and_then(|t| iterations_to_target(&r.rows, t)),
                Fixed::<1>(r.wall_seconds),
                &r.stop,
            )
        }),
    )
}

/// A short label for the lowest and highest rate `schedule` gives over a run of `iterations`
/// (over all time when `iterations` is 0): an exp decay of 70,000 iterations is labelled
/// `0.0000149946-0.001`, not `0-0.001`.
pub fn lr_range_label(schedule: &Schedule, iterations: u64) -> String {
    let (lo, hi) = if iterations == 0 {
        schedule.lr_bounds()
    } else {
        (0..iterations)
            .map(|t| schedule.lr(t))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), lr| {
                (lo.min(lr), hi.max(lr))
            })
    };
    if (hi - lo).abs() <= f64::EPSILON * hi.abs() {
        short(lo)
    } else {
        format!("{}-{}", short(lo), short(hi))
    }
}

/// `x` to 6 significant digits, without trailing zeros: `0.001 * 0.1 * 0.1` prints as `0.00001`,
/// not `0.000010000000000000003`.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_labels_are_short() {
        for (x, want) in [
            (0.001 * 0.1 * 0.1, "0.00001"),
            (0.006, "0.006"),
            (0.0031234567, "0.00312346"),
            (1.5, "1.5"),
            (250.0, "250"),
            (0.0, "0"),
        ] {
            assert_eq!(short(x), want, "{x}");
        }
    }

    #[test]
    fn lr_range_labels_cover_the_run() {
        use clr_core::schedule::{Caffe, CaffeRule, Cyclic, Scale};
        let exp = Schedule::from(Caffe::new(0.001, CaffeRule::Exp { gamma: 0.99994 }).unwrap());
        // lr(69,999) = 0.001 * 0.99994^69999
        assert_eq!(lr_range_label(&exp, 70_000), "0.0000149946-0.001");
        assert_eq!(lr_range_label(&exp, 0), "0-0.001");
        let tri = Schedule::from(Cyclic::new(0.001, 0.006, 2000, Scale::Constant).unwrap());
        assert_eq!(lr_range_label(&tri, 25_000), "0.001-0.006");
        assert_eq!(lr_range_label(&tri, 1000), "0.001-0.0034975"); // 0.001 + 0.005 * 999 / 2000
        let fixed = Schedule::from(Caffe::new(0.01, CaffeRule::Fixed).unwrap());
        assert_eq!(lr_range_label(&fixed, 500), "0.01");
    }

    fn row(iteration: u64, acc: Option<f64>) -> Row {
        Row {
            iteration,
            epoch: 0.0,
            cycle: 0,
            lr: 0.1,
            momentum: None,
            train_loss: 0.0,
            train_accuracy: 0.0,
            test_loss: acc.map(|_| 0.1),
            test_accuracy: acc,
            elapsed_seconds: 0.0,
        }
    }

    fn run(config: &str, seed: u64, accs: &[(u64, f64)]) -> RunResult {
        RunResult {
            config: config.into(),
            policy: config.into(),
            lr_range: "0.1".into(),
            seed,
            iterations: accs.last().map_or(0, |a| a.0),
            final_accuracy: accs.last().map(|a| a.1),
            best_accuracy: accs.iter().map(|a| a.1).reduce(f64::max),
            wall_seconds: 10.0,
            stop: "done".into(),
            rows: accs
                .iter()
                .flat_map(|&(i, a)| [row(i - 50, None), row(i, Some(a))])
                .collect(),
        }
    }

    #[test]
    fn iterations_to_target_takes_the_first_evaluated_hit() {
        let r = run("a", 1, &[(100, 0.5), (200, 0.97), (300, 0.96), (400, 0.99)]);
        assert_eq!(iterations_to_target(&r.rows, 0.97), Some(200));
        assert_eq!(iterations_to_target(&r.rows, 0.98), Some(400));
        assert_eq!(iterations_to_target(&r.rows, 0.995), None);
    }

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[2.0]), Some((2.0, 0.0)));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((m - 2.5).abs() < 1e-12);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn speedup_is_first_over_this_when_all_runs_reach_the_target() {
        let results = vec![
            run("fixed", 1, &[(1000, 0.90), (2000, 0.97), (3000, 0.98)]),
            run("fixed", 2, &[(1000, 0.90), (2000, 0.96), (3000, 0.97)]),
            run("clr", 1, &[(500, 0.97), (1000, 0.98)]),
            run("clr", 2, &[(500, 0.96), (1000, 0.98)]),
            run("bad", 1, &[(500, 0.5)]),
        ];
        let lines = summarize(&results, Some(0.97));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].to_target, Some((2500.0, 2)));
        assert_eq!(lines[1].to_target, Some((750.0, 2)));
        assert!((lines[1].speedup.unwrap() - 2500.0 / 750.0).abs() < 1e-12);
        assert_eq!(lines[0].speedup, Some(1.0));
        assert_eq!(lines[2].to_target, None);
        assert_eq!(lines[2].speedup, None);
        let (m, _) = lines[0].final_accuracy.unwrap();
        assert!((m - 0.975).abs() < 1e-12);
        let md = markdown(&lines, Some(0.97));
        assert!(
            md.contains("| clr | clr | 0.1 | 2 | 1000 | 98.00 ± 0.00 |"),
            "{md}"
        );
        assert!(md.contains("3.33x"), "{md}");
        assert!(md.contains("not reached"), "{md}");
    }

    #[test]
    fn partial_hits_are_counted_and_give_no_speedup() {
        let results = vec![
            run("fixed", 1, &[(1000, 0.97)]),
            run("clr", 1, &[(400, 0.97)]),
            run("clr", 2, &[(400, 0.90)]),
        ];
        let lines = summarize(&results, Some(0.97));
        assert_eq!(lines[1].to_target, Some((400.0, 1)));
        assert_eq!(lines[1].speedup, None);
        assert!(markdown(&lines, Some(0.97)).contains("400 (1/2 runs)"));
    }
}
