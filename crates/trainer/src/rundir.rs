//! A run directory: the files `clr` writes into it, who may write it, and what happens to one
//! that already holds a run.
//!
//! - **Ownership.** A directory that holds a run (any of the files below) is refused unless the
//!   caller resumes it or replaces it (`--force`). Replacing deletes only the files `clr`
//!   writes ([`OWNED`], the checkpoints and their temporaries), never anything else.
//! - **One writer.** [`RunDir::claim`] creates [`LOCK`] with `O_EXCL` and writes its process
//!   id and host into it; the lock is removed when the [`RunDir`] is dropped. A second process
//!   claiming the same directory fails at once, naming the holder. A lock left by a process
//!   that no longer runs (kill -9, a power cut) is stale: it is detected by its process id on
//!   the same host and taken over.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{self, LoadedConfig};
use crate::fsutil::write_atomic;
use crate::metrics::{self, Row, Summary};
use serde::{Deserialize, Serialize};

/// The resolved config of the run.
pub const CONFIG: &str = "config.toml";
/// One row per logged iteration.
pub const METRICS: &str = "metrics.csv";
/// The finished (or stopped) run's result.
pub const SUMMARY: &str = "summary.json";
/// Final weights.
pub const WEIGHTS: &str = "weights.safetensors";
/// The run's name and the config file it came from ([`Origin`]).
pub const ORIGIN: &str = "run.json";
/// Checkpoints (see [`crate::checkpoint`]).
pub const CHECKPOINTS: &str = "checkpoints";
/// Held while a process writes the directory.
pub const LOCK: &str = "clr.lock";
/// What `clr range-test` adds to its run.
pub const RANGE_FILES: [&str; 5] = [
    "range_test.csv",
    "range_test.svg",
    "range_test.png",
    "suggested.toml",
    "suggested_run.toml",
];
/// What `clr compare` writes beside its runs.
pub const COMPARE_FILES: [&str; 4] = [
    "comparison.md",
    "comparison.csv",
    "comparison.svg",
    "comparison.png",
];

/// Every file name `clr` writes in a run or comparison directory.
pub const OWNED: [&str; 14] = [
    CONFIG,
    METRICS,
    SUMMARY,
    WEIGHTS,
    ORIGIN,
    RANGE_FILES[0],
    RANGE_FILES[1],
    RANGE_FILES[2],
    RANGE_FILES[3],
    RANGE_FILES[4],
    COMPARE_FILES[0],
    COMPARE_FILES[1],
    COMPARE_FILES[2],
    COMPARE_FILES[3],
];

/// What to do with a directory that already holds a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse it (the default of every command); `resumable` adds the `--resume` hint.
    Refuse {
        /// Whether the error suggests `clr train --resume`.
        resumable: bool,
    },
    /// Keep its files: the caller continues the run (`--resume`) or reuses it (`compare`).
    Keep,
    /// Delete the files `clr` wrote there, keep the rest (`--force`).
    Replace,
}

/// The name of a run and the config file it was started from, kept in [`ORIGIN`] so that a
/// resumed run reports both as they were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// The run's name.
    pub name: String,
    /// The config file's path as given when the run started.
    pub config_file: String,
}

impl Origin {
    /// Reads `dir/run.json`, if there is one.
    pub fn read(dir: &Path) -> Option<Origin> {
        let bytes = fs::read(dir.join(ORIGIN)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes `dir/run.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(ORIGIN);
        let json = serde_json::to_vec_pretty(self).context("serializing the run's origin")?;
        crate::fsutil::write_atomic(&path, &json)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// Reads a finished run directory (summary, metrics and config).
pub fn read_run(dir: &Path) -> Result<(Summary, Vec<Row>, LoadedConfig)> {
    let sp = dir.join(SUMMARY);
    let summary: Summary = serde_json::from_slice(
        &std::fs::read(&sp).with_context(|| format!("reading {}", sp.display()))?,
    )
    .with_context(|| format!("parsing {}", sp.display()))?;
    let rows = metrics::read_csv(&dir.join(METRICS))?;
    let loaded = config::load(&dir.join(CONFIG), &[])?;
    Ok((summary, rows, loaded))
}

/// Writes `metrics.csv` (atomically).
pub fn write_metrics(out: &Path, rows: &[Row]) -> Result<()> {
    let path = out.join(METRICS);
    write_atomic(&path, metrics::to_csv(rows).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Every directory at or below `dir` (two levels at most) that holds a finished run's
/// metrics and summary, in path order.
pub fn find_runs(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect_runs(dir, depth, &mut found);
    found
}

fn collect_runs(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if dir.join(METRICS).exists() && dir.join(SUMMARY).exists() {
        found.push(dir.to_owned());
        return;
    }
    if depth == 0 {
        return;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for s in subs {
            collect_runs(&s, depth - 1, found);
        }
    }
}

/// The checkpoints folder of a run directory.
pub fn checkpoints(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINTS)
}

/// True if `dir` holds results of a run or comparison: metrics, a summary, weights,
/// checkpoints or the outputs of a range test or comparison. (A directory with only the
/// config and origin of a run that stopped before its first iteration holds nothing to lose.)
pub fn holds_run(dir: &Path) -> bool {
    OWNED
        .iter()
        .filter(|f| **f != CONFIG && **f != ORIGIN)
        .any(|f| dir.join(f).exists())
        || dir.join(CHECKPOINTS).exists()
}

/// A claimed run directory; the lock is released when it is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    lock: PathBuf,
    token: String,
}

impl RunDir {
    /// Creates `path` if needed, takes its lock, and applies `existing` to a run found there.
    ///
    /// # Errors
    /// The directory cannot be created, another live process holds its lock, or it holds a run
    /// and `existing` is [`Existing::Refuse`].
    pub fn claim(path: &Path, existing: Existing) -> Result<RunDir> {
        fs::create_dir_all(path)
            .with_context(|| format!("creating the run directory {}", path.display()))?;
        let dir = lock(path)?;
        if holds_run(path) {
            match existing {
                Existing::Keep => {}
                Existing::Refuse { resumable } => {
                    let resume = if resumable {
                        format!(
                            "continue it with `clr train --resume {}`, or ",
                            path.display()
                        )
                    } else {
                        String::new()
                    };
                    bail!(
                        "{} already holds a run: {resume}pass --force to replace it \
                         (--force deletes only the files clr wrote there), or choose another --out",
                        path.display(),
                    )
                }
                Existing::Replace => clear(path)?,
            }
        }
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Remove the lock only if it is still ours.
        if fs::read_to_string(&self.lock).is_ok_and(|t| t == self.token) {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// `pid host` of the lock holder.
fn parse_lock(text: &str) -> Option<(u32, String)> {
    let mut it = text.split_whitespace();
    let pid = it.next()?.parse().ok()?;
    Some((pid, it.next().unwrap_or("").to_owned()))
}

/// True if a process with this id runs on this machine.
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // Signal 0 checks for existence; EPERM means it exists under another user.
    // SAFETY: kill with signal 0 sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn lock(path: &Path) -> Result<RunDir> {
    let lock = path.join(LOCK);
    let token = format!("{} {}\n", std::process::id(), host());
    for _ in 0..2 {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(mut f) => {
                f.write_all(token.as_bytes())
                    .and_then(|_| f.sync_all())
                    .with_context(|| format!("writing the lock {}", lock.display()))?;
                return Ok(RunDir {
                    path: path.to_owned(),
                    lock,
                    token,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&lock).unwrap_or_default();
                match parse_lock(&text) {
                    Some((pid, h)) if h != host() && !h.is_empty() => bail!(
                        "{} is in use by process {pid} on {h} (lock file {}); \
                         if no clr runs there any more, delete the lock file",
                        path.display(),
                        lock.display()
                    ),
                    Some((pid, _)) if process_alive(pid) => bail!(
                        "{} is in use by another clr process (pid {pid}, lock file {}): \
                         wait for it to finish or choose another --out",
                        path.display(),
                        lock.display()
                    ),
                    // Stale (its process is gone) or unreadable: take it over.
                    _ => {
                        if let Some((pid, _)) = parse_lock(&text) {
                            eprintln!(
                                "note: {} was left by process {pid}, which no longer runs; taking it over",
                                lock.display()
                            );
                        }
                        fs::remove_file(&lock)
                            .or_else(|e| {
                                if e.kind() == io::ErrorKind::NotFound {
                                    Ok(())
                                } else {
                                    Err(e)
                                }
                            })
                            .with_context(|| {
                                format!("removing the stale lock {}", lock.display())
                            })?;
                    }
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("creating the lock {}", lock.display()))
            }
        }
    }
    bail!(
        "{} is being claimed by another clr process at the same moment; try again",
        path.display()
    )
}

/// Deletes what `clr` wrote in `dir` (its files, their temporaries and the checkpoints),
/// leaving every other file in place.
pub fn clear(dir: &Path) -> Result<()> {
    let remove = |p: &Path| -> Result<()> {
        let r = if p.is_dir() {
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        };
        match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", p.display()))
            }
            _ => Ok(()),
        }
    };
    for f in OWNED {
        remove(&dir.join(f))?;
    }
    remove(&dir.join(CHECKPOINTS))?;
    // Temporaries of atomic writes: `<owned name>.<pid>.tmp`.
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_tmp =
                name.ends_with(".tmp") && OWNED.iter().any(|f| name.starts_with(&format!("{f}.")));
            if is_tmp {
                remove(&e.path())?;
            }
        }
    }
    Ok(())
}

/// Checks a run name: it names a directory under `runs/`, so it is one path component.
///
/// # Errors
/// Empty, `.` or `..`, containing `/` or `\`, or control characters; the message says what is
/// allowed.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let bad = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it is `.` or `..`")
    } else if name.contains('/') || name.contains('\\') {
        Some("it contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("it contains control characters")
    } else {
        None
    };
    match bad {
        Some(why) => Err(format!(
            "{why}; a run name is one directory name (letters, digits, `-`, `_`, `.`, spaces), \
             use --out DIR to choose where the run goes"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_fails_while_the_first_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let a = RunDir::claim(tmp.path(), Existing::Refuse { resumable: true }).unwrap();
        let err = RunDir::claim(tmp.path(), Existing::Keep).unwrap_err();
        assert!(
            err.to_string().contains("in use by another clr process"),
            "{err}"
        );
        drop(a);
        assert!(!tmp.path().join(LOCK).exists());
        RunDir::claim(tmp.path(), Existing::Refuse { resumable: true }).unwrap();
    }

    #[test]
    fn a_stale_lock_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        // A process id that cannot be running: above the kernel's pid_max.
        fs::write(tmp.path().join(LOCK), format!("999999999 {}\n", host())).unwrap();
        let d = RunDir::claim(tmp.path(), Existing::Refuse { resumable: true }).unwrap();
        let text = fs::read_to_string(tmp.path().join(LOCK)).unwrap();
        assert_eq!(parse_lock(&text).unwrap().0, std::process::id());
        drop(d);
    }

    #[test]
    fn replacing_deletes_only_what_clr_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        for f in [METRICS, SUMMARY, "range_test.csv", "metrics.csv.123.tmp"] {
            fs::write(p.join(f), "x").unwrap();
        }
        fs::create_dir_all(p.join(CHECKPOINTS).join("ckpt-1")).unwrap();
        fs::write(p.join("notes.txt"), "mine").unwrap();
        fs::create_dir_all(p.join("data")).unwrap();
        assert!(holds_run(p));
        let err = RunDir::claim(p, Existing::Refuse { resumable: true }).unwrap_err();
        assert!(err.to_string().contains("already holds a run"), "{err}");
        let d = RunDir::claim(p, Existing::Replace).unwrap();
        drop(d);
        let mut left: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["data", "notes.txt"]);
    }

    #[test]
    fn run_names_are_one_path_component() {
        for ok in ["mnist_mlp", "a.b", "a..b", "run 1", "ünïcode"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "..", "a/b", "../x", "/abs", "a\\b", "a\nb", "x\u{7}",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
