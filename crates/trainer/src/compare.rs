//! `clr compare`: several configs, several seeds each, one table and one
//! figure. Runs are resumable: a finished run with the same resolved config
//! is reused, a checkpointed one is continued.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::config::{self, LoadedConfig};
use crate::data::{DataConfig, Dataset};
use crate::figures::{self, Curve};
use crate::metrics::Summary;
use crate::report::{self, RunResult};
use crate::run::{self, RunOptions};
use crate::rundir::{Existing, RunDir};
use crate::stop::StopReason;
use crate::sweep::{self, Prior, RunSpec};

/// What `clr compare` was asked to do.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The config files, the first being the baseline of the speed-up.
    pub configs: Vec<PathBuf>,
    /// Runs per config, with seeds the config's seed, +1, +2, ...
    pub seeds: u64,
    /// Target test accuracy (a fraction) for the iterations-to-target column; also set as
    /// every run's `stop.target_accuracy`.
    pub target: Option<f64>,
    /// The comparison directory: runs in `OUT/<name>/seed-<n>/`, the table and figure in it.
    pub out: PathBuf,
    /// `--set` overrides applied to every config.
    pub overrides: Vec<String>,
    /// Replace a run directory that holds a run of a different config.
    pub force: bool,
    /// Runs at once: 1 trains them in this process one after another, more in child
    /// processes ([`sweep::run_jobs`]).
    pub jobs: usize,
    /// Train nothing: report the finished runs.
    pub report_only: bool,
    /// Threads in all (default: the cores), split between the jobs.
    pub threads: Option<usize>,
    /// The `clr` binary the child processes and the plan's lines run.
    pub exe: PathBuf,
    /// Template for each run (progress, mirror, interrupt flag).
    pub run: RunOptions,
}

/// The outcome: per-run results, the table lines and the files written.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// One per finished run, config by config.
    pub results: Vec<RunResult>,
    /// One per config: the table's lines.
    pub lines: Vec<report::Line>,
    /// The table as Markdown (`comparison.md`).
    pub markdown: String,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// Runs without a finished result (`--report-only`), as `name seed-N`.
    pub missing: Vec<String>,
    /// Other folders of OUT that hold runs, of configs not given this time (the table leaves
    /// them out).
    pub others: Vec<String>,
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
            |s| report::lr_range_label(s, summary.iterations),
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

/// Every config × seed of the comparison, config by config.
pub fn specs(opts: &CompareOptions) -> Result<Vec<RunSpec>> {
    if opts.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let names = run_names(&opts.configs)?;
    let mut specs = Vec::new();
    for (path, name) in opts.configs.iter().zip(names) {
        let base = config::load(path, &opts.overrides)?;
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
            specs.push(RunSpec {
                name: name.clone(),
                config: path.clone(),
                overrides,
                dir,
                loaded,
            });
        }
    }
    Ok(specs)
}

/// Runs (or reuses) every config × seed and writes the comparison.
pub fn compare(opts: &CompareOptions) -> Result<Comparison> {
    // One comparison writes its directory at a time.
    let _claim = RunDir::claim(&opts.out, Existing::Keep)?;
    let specs = specs(opts)?;
    if !opts.report_only {
        if opts.jobs > 1 {
            run_parallel(&specs, opts)?;
        } else {
            let mut datasets: Vec<(DataConfig, Arc<Dataset>)> = Vec::new();
            for spec in &specs {
                run_or_reuse(spec, opts, &mut datasets)?;
            }
        }
    }
    let mut results = Vec::new();
    let mut curves: Vec<Curve> = Vec::new();
    let mut missing = Vec::new();
    for spec in &specs {
        let (summary, rows) = match sweep::prior(&spec.loaded, &spec.dir)? {
            Prior::Finished(run) => *run,
            _ if opts.report_only => {
                missing.push(spec.label());
                continue;
            }
            _ => bail!(
                "{}: no finished run in {}",
                spec.label(),
                spec.dir.display()
            ),
        };
        let schedule = schedule_of(&spec.loaded, &rows);
        if curves.last().is_none_or(|c| c.label != spec.name) {
            curves.push(Curve {
                label: spec.name.clone(),
                runs: Vec::new(),
                schedule: None,
                iterations: 0,
            });
        }
        if let Some(curve) = curves.last_mut() {
            if curve.schedule.is_none() {
                curve.schedule = schedule.clone();
            }
            curve.iterations = curve.iterations.max(summary.iterations);
            curve.runs.push(rows.clone());
        }
        results.push(result_of(&spec.name, &summary, rows, schedule.as_ref()));
    }
    if results.is_empty() {
        bail!(
            "no finished runs in {} yet ({} expected): train them (`clr compare` without \
             --report-only, or the lines of `clr compare --plan`)",
            opts.out.display(),
            specs.len()
        );
    }
    let lines = report::summarize(&results, opts.target);
    let markdown = report::markdown(&lines, opts.target);
    let files = write_outputs(&opts.out, &results, &curves, &markdown, opts.target)?;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    Ok(Comparison {
        results,
        lines,
        markdown,
        files,
        missing,
        others: other_runs(&opts.out, &names),
    })
}

/// The folders of `out` holding runs (`<folder>/seed-<n>/run.json`) that are not in `names`,
/// sorted.
fn other_runs(out: &Path, names: &[&str]) -> Vec<String> {
    let holds_runs = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                e.file_name().to_string_lossy().starts_with("seed-")
                    && e.path().join("run.json").is_file()
            })
        })
    };
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut others: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !names.contains(&n.as_str()) && holds_runs(&out.join(n)))
        .collect();
    others.sort();
    others
}

/// The `clr train` command of every run that is not finished, one per line, for GNU
/// parallel, `xargs -P` or a job array. Fetches missing datasets first, so the workers do
/// not race to fetch them.
///
/// # Errors
/// A bad config, a run directory holding another config's run (without `--force`), a
/// dataset that cannot be had.
pub fn plan(opts: &CompareOptions) -> Result<Plan> {
    let specs = specs(opts)?;
    let mut lines = Vec::new();
    let mut extra = Vec::new();
    if let Some(t) = opts.threads {
        extra.extend(["--threads".to_owned(), t.to_string()]);
    }
    if let Some(m) = &opts.run.mirror {
        extra.extend(["--mirror".to_owned(), m.clone()]);
    }
    let mut finished = 0;
    let todo = unfinished(&specs, opts, |_| finished += 1)?;
    for spec in todo {
        lines.push(sweep::plan_line(&opts.exe, spec, opts.force, &extra));
    }
    Ok(Plan {
        lines,
        finished,
        total: specs.len(),
    })
}

/// What `clr compare --plan` prints.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One shell command per unfinished run.
    pub lines: Vec<String>,
    /// Runs already finished (not listed).
    pub finished: usize,
    /// Runs of the comparison in all.
    pub total: usize,
}

/// The runs of `specs` that still need training (`finished` is told of the others), after
/// fetching the datasets they need, once each, so that workers started together do not race
/// to fetch them.
///
/// # Errors
/// A run directory holding another config's run (without `--force`); a dataset that cannot
/// be had.
fn unfinished<'a>(
    specs: &'a [RunSpec],
    opts: &CompareOptions,
    mut finished: impl FnMut(&RunSpec),
) -> Result<Vec<&'a RunSpec>> {
    let mut todo = Vec::new();
    for spec in specs {
        match sweep::prior(&spec.loaded, &spec.dir)? {
            Prior::Finished(_) => finished(spec),
            Prior::OtherConfig if !opts.force => {
                return Err(sweep::other_config_error(&spec.dir, &spec.loaded))
            }
            _ => todo.push(spec),
        }
    }
    let mut prepared: Vec<&DataConfig> = Vec::new();
    for spec in &todo {
        let data = &spec.loaded.config.data;
        if !prepared.contains(&data) {
            crate::data::ensure_available(data, opts.run.mirror.as_deref())
                .with_context(|| format!("preparing the data of {}", spec.loaded.path.display()))?;
            prepared.push(data);
        }
    }
    Ok(todo)
}

/// Trains the unfinished runs `opts.jobs` at a time in child processes.
fn run_parallel(specs: &[RunSpec], opts: &CompareOptions) -> Result<()> {
    let todo = unfinished(specs, opts, |spec| {
        eprintln!(
            "{}: reusing the finished run in {}",
            spec.label(),
            spec.dir.display()
        );
    })?;
    if todo.is_empty() {
        return Ok(());
    }
    let total = opts.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let jobs = opts.jobs.min(todo.len());
    if jobs > total {
        eprintln!("warning: {jobs} jobs on {total} threads: each run gets 1 thread and they share the cores");
    }
    sweep::run_jobs(
        &todo,
        &sweep::Jobs {
            exe: opts.exe.clone(),
            jobs,
            threads: (total / jobs).max(1),
            mirror: opts.run.mirror.clone(),
            force: opts.force,
            progress: opts.run.progress,
            interrupt: opts.run.interrupt.clone(),
        },
    )
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
    spec: &RunSpec,
    opts: &CompareOptions,
    datasets: &mut Vec<(DataConfig, Arc<Dataset>)>,
) -> Result<()> {
    let loaded = &spec.loaded;
    let dir = &spec.dir;
    let resume = match sweep::prior(loaded, dir)? {
        Prior::Finished(_) => {
            eprintln!(
                "{}: reusing the finished run in {}",
                loaded.name(),
                dir.display()
            );
            return Ok(());
        }
        Prior::OtherConfig if !opts.force => return Err(sweep::other_config_error(dir, loaded)),
        Prior::Resumable => true,
        Prior::Start | Prior::OtherConfig => false,
    };
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
    run_opts.resume = resume;
    run_opts.force = !resume;
    let outcome = run::train_on(loaded, &data, &run_opts)?;
    if let StopReason::Interrupted { .. } = outcome.summary.stop_reason {
        bail!(
            "interrupted: run the same `clr compare` command again to continue ({} keeps its checkpoint)",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::other_runs;

    #[test]
    fn other_runs_names_the_folders_with_runs_left_out() {
        let out = tempfile::tempdir().unwrap();
        for dir in ["a/seed-1", "b/seed-2", "c/seed-1", "range"] {
            std::fs::create_dir_all(out.path().join(dir)).unwrap();
        }
        for run in ["a/seed-1", "b/seed-2"] {
            std::fs::write(out.path().join(run).join("run.json"), "{}").unwrap();
        }
        // `c` has a seed folder without a run, `range` is not a run folder.
        assert_eq!(other_runs(out.path(), &["a"]), vec!["b".to_string()]);
        assert!(other_runs(out.path(), &["a", "b"]).is_empty());
        assert!(other_runs(&out.path().join("missing"), &[]).is_empty());
    }
}
