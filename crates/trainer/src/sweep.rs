//! The runs of a sweep (`clr compare`): what a run directory already holds, the one command
//! that runs, resumes or skips a run (`clr train ... --reuse`), and up to N of those at once
//! as child processes with the machine's threads split between them.
//!
//! Every run's result is a function of its resolved config alone (its seed included; the
//! thread count does not change a bit of it, which `nn`'s tests check), so a run trained by
//! a child process, by a worker of a cluster job array or in-process gives the same summary.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::checkpoint;
use crate::config::{self, LoadedConfig};
use crate::metrics::{Row, Summary};
use crate::progress::{self, Mode};
use crate::rundir::{self, CONFIG, SUMMARY};
use crate::stop::StopReason;

/// One run of a sweep: a config file, the overrides that make it this run (its seed, the
/// comparison's `--set` values and target) and its directory.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The row it belongs to in the comparison.
    pub name: String,
    /// The config file.
    pub config: PathBuf,
    /// The `--set` overrides that make it this run.
    pub overrides: Vec<String>,
    /// The run directory.
    pub dir: PathBuf,
    /// The config resolved with the overrides.
    pub loaded: LoadedConfig,
}

impl RunSpec {
    /// `name seed-N`, for progress and errors.
    pub fn label(&self) -> String {
        format!("{} seed-{}", self.name, self.loaded.config.seed)
    }
}

/// What a run directory holds for a given resolved config.
#[derive(Debug)]
pub enum Prior {
    /// This config's run, finished (or stopped by a rule, or diverged): nothing to train.
    Finished(Box<(Summary, Vec<Row>)>),
    /// This config's run with a checkpoint: continue it.
    Resumable,
    /// Nothing worth keeping: no run, or this config's run stopped before its first
    /// checkpoint.
    Start,
    /// A run of another config (replaced only with `--force`).
    OtherConfig,
}

/// Reads what `dir` holds for `loaded`.
///
/// # Errors
/// A summary that exists but cannot be read.
pub fn prior(loaded: &LoadedConfig, dir: &Path) -> Result<Prior> {
    let resolved = config::to_toml(&loaded.config);
    let same = std::fs::read_to_string(dir.join(CONFIG)).is_ok_and(|t| t == resolved);
    if !same {
        return Ok(if rundir::holds_run(dir) {
            Prior::OtherConfig
        } else {
            Prior::Start
        });
    }
    if dir.join(SUMMARY).exists() {
        let (summary, rows, _) = crate::rundir::read_run(dir)?;
        if !matches!(summary.stop_reason, StopReason::Interrupted { .. }) {
            return Ok(Prior::Finished(Box::new((summary, rows))));
        }
    }
    Ok(match checkpoint::latest(dir).ok().flatten() {
        Some(_) => Prior::Resumable,
        None => Prior::Start,
    })
}

/// The error for a directory that holds another config's run.
pub fn other_config_error(dir: &Path, loaded: &LoadedConfig) -> anyhow::Error {
    anyhow::anyhow!(
        "{} holds a run of a different config than {} (seed {}): pass --force to replace it \
         (only the files clr wrote there are deleted), or choose another --out",
        dir.display(),
        loaded.path.display(),
        loaded.config.seed
    )
}

/// The arguments of `clr train` that run, resume or skip `spec` (after the program name).
pub fn train_args(spec: &RunSpec, force: bool) -> Vec<String> {
    let mut args = vec!["train".to_owned(), spec.config.display().to_string()];
    for o in &spec.overrides {
        args.push("--set".to_owned());
        args.push(o.clone());
    }
    args.push("--out".to_owned());
    args.push(spec.dir.display().to_string());
    args.push("--reuse".to_owned());
    if force {
        args.push("--force".to_owned());
    }
    args
}

/// One line of `clr compare --plan`: the command as a POSIX shell reads it.
pub fn plan_line(exe: &Path, spec: &RunSpec, force: bool, extra: &[String]) -> String {
    std::iter::once(exe.display().to_string())
        .chain(train_args(spec, force))
        .chain(extra.iter().cloned())
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` quoted for a POSIX shell where it needs it.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How [`run_jobs`] runs its children.
#[derive(Debug, Clone)]
pub struct Jobs {
    /// The `clr` binary.
    pub exe: PathBuf,
    /// Runs at once.
    pub jobs: usize,
    /// Threads of each run.
    pub threads: usize,
    /// Data mirror passed on as `--mirror`.
    pub mirror: Option<String>,
    /// Replace run directories that hold another config's run (`--force`).
    pub force: bool,
    /// How progress is shown; [`Mode::Auto`] on a terminal draws a bar per run.
    pub progress: Mode,
    /// Set by Ctrl-C/SIGTERM: every child is sent SIGTERM (it checkpoints and stops).
    pub interrupt: Arc<AtomicBool>,
}

enum Event {
    Line(usize, String),
    Closed(usize),
}

struct Running {
    spec: usize,
    child: Child,
    bar: Option<ProgressBar>,
    /// The last lines it printed, for the report of a failure.
    tail: VecDeque<String>,
}

/// Lines of a failed child shown with its error.
const TAIL: usize = 12;

/// Runs every spec as `clr train ... --reuse` in a child process, `jobs.jobs` at a time.
/// After a failure no new run is started; the running ones finish.
///
/// # Errors
/// A child that cannot be started, a run that fails (its last lines are in the error), or
/// an interruption (the runs keep their checkpoints; the same command continues them).
pub fn run_jobs(specs: &[&RunSpec], jobs: &Jobs) -> Result<()> {
    let bars = jobs.progress == Mode::Auto && std::io::stderr().is_terminal();
    let multi =
        bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));
    let total = multi.as_ref().map(|m| {
        let b = m.add(ProgressBar::new(specs.len() as u64));
        b.set_style(
            ProgressStyle::with_template(
                "runs [{bar:30.green/blue}] {pos}/{len} (elapsed {elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    let say = |msg: &str| match &multi {
        Some(m) => {
            let _ = m.println(msg);
        }
        None if jobs.progress != Mode::Quiet => eprintln!("{msg}"),
        None => {}
    };
    let child_mode = match jobs.progress {
        Mode::Quiet => "--quiet",
        _ if bars => "--progress-pipe",
        _ => "--plain",
    };

    let (tx, rx) = mpsc::channel::<Event>();
    let mut queue: VecDeque<usize> = (0..specs.len()).collect();
    let mut running: Vec<Running> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut interrupted = false;
    let mut done = 0usize;
    loop {
        while !interrupted && failures.is_empty() && running.len() < jobs.jobs {
            let Some(i) = queue.pop_front() else { break };
            let spec = &specs[i];
            let mut cmd = Command::new(&jobs.exe);
            cmd.args(train_args(spec, jobs.force))
                .args(["--threads", &jobs.threads.to_string(), child_mode])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some(m) = &jobs.mirror {
                cmd.args(["--mirror", m]);
            }
            // Its own process group: a Ctrl-C at the terminal reaches only this process,
            // which forwards one SIGTERM (a second signal would make the child exit without
            // its checkpoint).
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let mut child = cmd
                .spawn()
                .with_context(|| format!("starting {} for {}", jobs.exe.display(), spec.label()))?;
            let stderr = child.stderr.take().context("the child's stderr")?;
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Line(i, line)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Event::Closed(i));
            });
            let bar = multi.as_ref().zip(total.as_ref()).map(|(m, t)| {
                let b = m.insert_before(t, ProgressBar::new(1));
                b.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                b.set_prefix(spec.label());
                b
            });
            if bar.is_none() {
                say(&format!("[{}] started", spec.label()));
            }
            running.push(Running {
                spec: i,
                child,
                bar,
                tail: VecDeque::new(),
            });
        }
        if running.is_empty() {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Line(i, line)) => {
                let Some(r) = running.iter_mut().find(|r| r.spec == i) else {
                    continue;
                };
                if let Some((d, end, status)) = progress::parse_pipe(&line) {
                    if let Some(b) = &r.bar {
                        b.set_length(end);
                        b.set_position(d);
                        b.set_message(status.to_owned());
                    }
                    continue;
                }
                if r.tail.len() == TAIL {
                    r.tail.pop_front();
                }
                r.tail.push_back(line.clone());
                say(&format!("[{}] {line}", specs[i].label()));
            }
            Ok(Event::Closed(i)) => {
                let Some(k) = running.iter().position(|r| r.spec == i) else {
                    continue;
                };
                let mut r = running.swap_remove(k);
                let status = r.child.wait().context("waiting for a run")?;
                if let Some(b) = &r.bar {
                    b.finish_and_clear();
                }
                done += 1;
                if let Some(t) = &total {
                    t.set_position(done as u64);
                }
                let spec = &specs[i];
                match prior(&spec.loaded, &spec.dir) {
                    Ok(Prior::Finished(run)) => {
                        let acc = run
                            .0
                            .final_test_accuracy
                            .map_or_else(|| "-".to_owned(), |a| format!("{:.2}%", a * 100.0));
                        say(&format!(
                            "[{}] done: final test accuracy {acc} ({done}/{} runs)",
                            spec.label(),
                            specs.len()
                        ));
                    }
                    _ if interrupted => {}
                    _ => {
                        let lines: Vec<String> = r.tail.drain(..).collect();
                        failures.push(format!(
                            "{} ({}; {status}):\n    {}",
                            spec.label(),
                            spec.dir.display(),
                            lines.join("\n    ")
                        ));
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("lost the runs' output"),
        }
        if !interrupted && jobs.interrupt.load(Ordering::SeqCst) {
            interrupted = true;
            for r in &running {
                terminate(&r.child);
            }
        }
    }
    if let Some(t) = &total {
        t.finish_and_clear();
    }
    if interrupted {
        bail!("interrupted: run the same `clr compare` command again to continue (the runs keep their checkpoints)");
    }
    if !failures.is_empty() {
        bail!(
            "{} run(s) failed (the others that ran are kept):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Asks a child to checkpoint and stop.
fn terminate(child: &Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a pid this process spawned and has not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("runs/cmp/mlp/seed-2"), "runs/cmp/mlp/seed-2");
        assert_eq!(shell_quote("seed=2"), "seed=2");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(
            shell_quote("model.preset=\"mlp\""),
            "'model.preset=\"mlp\"'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
