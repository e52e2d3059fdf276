//! `clr compare`: several configs, several seeds each, one table and one
//! figure. Runs are resumable: a finished run with the same resolved config
//! is reused, a checkpointed one is continued.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::checkpoint;
use crate::config::{self, LoadedConfig};
use crate::data::{DataConfig, Dataset};
use crate::figures::{self, Curve};
use crate::metrics::{self, Summary};
use crate::report::{self, RunResult};
use crate::run::{self, files, RunOptions};
use crate::rundir::{self, Existing, RunDir};
use crate::stop::StopReason;

/// What `clr compare` was asked to do.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub configs: Vec<PathBuf>,
    pub seeds: u64,
    pub target: Option<f64>,
    pub out: PathBuf,
    pub overrides: Vec<String>,
    /// Replace a run directory that holds a run of a different config.
    pub force: bool,
    /// Template for each run (progress, mirror, interrupt flag).
    pub run: RunOptions,
}

/// The outcome: per-run results, the table lines and the files written.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub results: Vec<RunResult>,
    pub lines: Vec<report::Line>,
    pub markdown: String,
    pub files: Vec<PathBuf>,
}

/// Reads a finished run directory (summary, metrics and config).
pub fn read_run(dir: &Path) -> Result<(Summary, Vec<crate::metrics::Row>, LoadedConfig)> {
    let sp = dir.join(files::SUMMARY);
    let summary: Summary = serde_json::from_slice(
        &std::fs::read(&sp).with_context(|| format!("reading {}", sp.display()))?,
    )
    .with_context(|| format!("parsing {}", sp.display()))?;
    let rows = metrics::read_csv(&dir.join(files::METRICS))?;
    let loaded = config::load(&dir.join(files::CONFIG), &[])?;
    Ok((summary, rows, loaded))
}

/// Rebuilds a run's schedule with its iterations per epoch (from its metrics).
pub fn schedule_of(
    loaded: &LoadedConfig,
    rows: &[crate::metrics::Row],
) -> Option<clr_core::Schedule> {
    let ipe = rows
        .iter()
        .rev()
        .find(|r| r.epoch > 0.0)
        .map(|r| r.iteration as f64 / r.epoch)?;
    config::build_schedule(&loaded.path, &loaded.config, ipe.round().max(1.0) as u64).ok()
}

fn result_of(
    name: &str,
    summary: &Summary,
    rows: Vec<crate::metrics::Row>,
    schedule: Option<&clr_core::Schedule>,
) -> RunResult {
    RunResult {
        config: name.to_owned(),
        policy: summary.policy.clone(),
        lr_range: schedule.map_or_else(
            || "-".to_owned(),
            |s| run::lr_range_label(s, summary.iterations),
        ),
        seed: summary.seed,
        iterations: summary.iterations,
        final_accuracy: summary.final_test_accuracy,
        best_accuracy: summary.best_test_accuracy,
        wall_seconds: summary.wall_seconds,
        stop: summary.stop_reason.to_string(),
        rows,
    }
}

/// Runs (or reuses) every config × seed and writes the comparison.
pub fn compare(opts: &CompareOptions) -> Result<Comparison> {
    if opts.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    // One comparison writes its directory at a time.
    let _claim = RunDir::claim(&opts.out, Existing::Keep)?;
    let names = run_names(&opts.configs)?;
    let mut datasets: Vec<(DataConfig, Arc<Dataset>)> = Vec::new();
    let mut results = Vec::new();
    let mut curves: Vec<Curve> = Vec::new();
    for (path, name) in opts.configs.iter().zip(names) {
        let base = config::load(path, &opts.overrides)?;
        let mut curve = Curve {
            label: name.clone(),
            runs: Vec::new(),
            schedule: None,
            iterations: 0,
        };
        for k in 0..opts.seeds {
            let mut overrides = opts.overrides.clone();
            overrides.push(format!("seed={}", base.config.seed + k));
            if let Some(t) = opts.target {
                overrides.push(format!("stop.target_accuracy={t}"));
            }
            let loaded = config::load(path, &overrides)?;
            let dir = opts
                .out
                .join(&name)
                .join(format!("seed-{}", loaded.config.seed));
            let (summary, rows) = run_or_reuse(&loaded, &dir, opts, &mut datasets)?;
            let schedule = schedule_of(&loaded, &rows);
            if curve.schedule.is_none() {
                curve.schedule = schedule.clone();
            }
            curve.iterations = curve.iterations.max(summary.iterations);
            curve.runs.push(rows.clone());
            results.push(result_of(&name, &summary, rows, schedule.as_ref()));
        }
        curves.push(curve);
    }
    let lines = report::summarize(&results, opts.target);
    let markdown = report::markdown(&lines, opts.target);
    let files = write_outputs(&opts.out, &results, &curves, &markdown, opts.target)?;
    Ok(Comparison {
        results,
        lines,
        markdown,
        files,
    })
}

/// The run (and row) name of each config: its name, made unique where two configs share one
/// by prefixing the folders that tell their paths apart (`a/x.toml`, `b/x.toml` -> `a-x`,
/// `b-x`).
///
/// # Errors
/// A config given twice (the same file by any path), or names that stay equal.
pub fn run_names(configs: &[PathBuf]) -> Result<Vec<String>> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for p in configs {
        let canon = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        if let Some(i) = seen.iter().position(|c| *c == canon) {
            bail!(
                "{} is given twice (as {} and {}): give each config once; use --seeds N for more runs of one config",
                canon.display(),
                configs[i].display(),
                p.display()
            );
        }
        seen.push(canon);
    }
    let base: Vec<String> = configs
        .iter()
        .map(|p| config::load(p, &[]).map(|l| l.name()))
        .collect::<Result<_, _>>()?;
    let folders = |p: &PathBuf| -> Vec<String> {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .parent()
            .map(|d| {
                d.components()
                    .rev()
                    .filter_map(|c| match c {
                        std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut names = base.clone();
    for i in 0..configs.len() {
        let clash: Vec<usize> = (0..configs.len()).filter(|&j| base[j] == base[i]).collect();
        if clash.len() < 2 {
            continue;
        }
        // The fewest parent folders that make every clashing name distinct.
        let parents: Vec<Vec<String>> = clash.iter().map(|&j| folders(&configs[j])).collect();
        let depth = (1..=parents.iter().map(Vec::len).max().unwrap_or(0)).find(|&d| {
            let labels: Vec<Vec<&String>> =
                parents.iter().map(|f| f.iter().take(d).collect()).collect();
            (0..labels.len()).all(|a| (0..labels.len()).all(|b| a == b || labels[a] != labels[b]))
        });
        let Some(depth) = depth else {
            bail!(
                "{} and {} both name their run `{}`: give one of them another `name`",
                configs[clash[0]].display(),
                configs[clash[1]].display(),
                base[i]
            );
        };
        let k = clash.iter().position(|&j| j == i).unwrap_or(0);
        let mut parts: Vec<&str> = parents[k].iter().take(depth).map(String::as_str).collect();
        parts.reverse();
        parts.push(&base[i]);
        names[i] = parts.join("-");
    }
    Ok(names)
}

/// Writes comparison.md, comparison.csv and the figure.
pub fn write_outputs(
    out: &Path,
    results: &[RunResult],
    curves: &[Curve],
    markdown: &str,
    target: Option<f64>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let md = out.join("comparison.md");
    crate::fsutil::write_atomic(&md, markdown.as_bytes())
        .with_context(|| format!("writing {}", md.display()))?;
    let csv = out.join("comparison.csv");
    crate::fsutil::write_atomic(&csv, report::runs_csv(results, target).as_bytes())
        .with_context(|| format!("writing {}", csv.display()))?;
    let mut written = vec![md, csv];
    written.extend(figures::comparison(
        curves,
        "test accuracy and learning rate",
        &out.join("comparison"),
    )?);
    Ok(written)
}

fn run_or_reuse(
    loaded: &LoadedConfig,
    dir: &Path,
    opts: &CompareOptions,
    datasets: &mut Vec<(DataConfig, Arc<Dataset>)>,
) -> Result<(Summary, Vec<crate::metrics::Row>)> {
    let resolved = config::to_toml(&loaded.config);
    let same_config = std::fs::read_to_string(dir.join(files::CONFIG)).is_ok_and(|t| t == resolved);
    if !same_config && rundir::holds_run(dir) && !opts.force {
        bail!(
            "{} holds a run of a different config than {} (seed {}): pass --force to replace it \
             (only the files clr wrote there are deleted), or choose another --out",
            dir.display(),
            loaded.path.display(),
            loaded.config.seed
        );
    }
    if same_config && dir.join(files::SUMMARY).exists() {
        let (summary, rows, _) = read_run(dir)?;
        if !matches!(summary.stop_reason, StopReason::Interrupted { .. }) {
            eprintln!(
                "{}: reusing the finished run in {}",
                loaded.name(),
                dir.display()
            );
            return Ok((summary, rows));
        }
    }
    let data = match datasets.iter().find(|(c, _)| *c == loaded.config.data) {
        Some((_, d)) => d.clone(),
        None => {
            let d = Arc::new(run::load_data(loaded, opts.run.mirror.as_deref())?);
            datasets.push((loaded.config.data.clone(), d.clone()));
            d
        }
    };
    let mut run_opts = opts.run.clone();
    run_opts.out_dir = dir.to_owned();
    run_opts.resume = same_config && checkpoint::latest(dir).ok().flatten().is_some();
    run_opts.force = !run_opts.resume;
    let outcome = run::train_on(loaded, &data, &run_opts)?;
    if let StopReason::Interrupted { .. } = outcome.summary.stop_reason {
        bail!(
            "interrupted: run the same `clr compare` command again to continue ({} keeps its checkpoint)",
            dir.display()
        );
    }
    Ok((outcome.summary, outcome.rows))
}
