//! What `clr` guarantees when runs collide, are signalled, hit limits or ask for too much: one
//! test per class of failure, each on a tiny MNIST subset.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{clr, mnist_case, resume, summary, text, train, write, MNIST_MLP};

/// A run of a few seconds: 1,000 images, a 32-unit MLP, 1 cycle of 2 x 10 iterations.
const TINY: [&str; 12] = [
    "--set",
    "data.train_limit=1000",
    "--set",
    "data.test_limit=500",
    "--set",
    "model.hidden=[32]",
    "--set",
    "schedule.step_size=10",
    "--set",
    "stop.cycles=1",
    "--set",
    "eval.every=10",
];

/// A run that goes on until it is stopped: cycles of 10 iterations, a checkpoint every 20
/// (none at cycle ends, so the first is at 20).
const LONG: [&str; 16] = [
    "--set",
    "data.train_limit=2000",
    "--set",
    "data.test_limit=500",
    "--set",
    "model.hidden=[64]",
    "--set",
    "schedule.step_size=5",
    "--set",
    "stop.cycles=10000",
    "--set",
    "checkpoint.every=20",
    "--set",
    "checkpoint.at_cycle_end=false",
    "--set",
    "eval.every=100",
];

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn fails_with(o: &Output, needles: &[&str]) -> String {
    let err = text(&o.stderr);
    assert!(!o.status.success(), "expected a failure:\n{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in:\n{err}");
    }
    err
}

/// Starts a LONG run, waits for its first checkpoint, stops it with `sig`.
fn interrupted_run(cfg: &Path, out: &Path, sig: &str) -> Output {
    let child = train(cfg, out, &[])
        .args(LONG)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&out.join("checkpoints/latest"));
    signal(child.id(), sig);
    child.wait_with_output().unwrap()
}

#[test]
fn range_test_reuses_its_sweep_refuses_another_run_and_force_deletes_only_its_own_files() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("range");
    let range = |extra: &[&str]| {
        clr()
            .args(["range-test", cfg.to_str().unwrap(), "-q", "--out"])
            .arg(&out)
            .args(["--evals", "10", "--min-lr", "0.001", "--max-lr", "1"])
            .args(&TINY[..6])
            .args(if extra.contains(&"--iterations") {
                &[][..]
            } else {
                &["--iterations", "200"][..]
            })
            .args(extra)
            .output()
            .unwrap()
    };
    ok(&range(&[]));
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let csv = std::fs::read_to_string(out.join("range_test.csv")).unwrap();
    // The same sweep again is analysed again, not trained: the same points.
    std::fs::remove_file(out.join("range_test.csv")).unwrap();
    let o = range(&[]);
    ok(&o);
    assert!(
        text(&o.stderr).contains("reusing the finished sweep"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("range_test.csv")).unwrap(),
        csv
    );
    // Another sweep is refused.
    let o = range(&["--iterations", "150"]);
    fails_with(&o, &["already holds a run", "--force"]);
    assert!(out.join("range_test.csv").exists() && out.join("notes.txt").exists());
    ok(&range(&["--force"]));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(out.join("range_test.csv").exists());
    // Zero-length sweeps and suggested runs are errors, not silent defaults.
    fails_with(
        &range(&["--force", "--iterations", "0"]),
        &["--iterations 0"],
    );
    fails_with(&range(&["--force", "--cycles", "0"]), &["--cycles 0"]);
    fails_with(
        &range(&["--force", "--budget-epochs", "0"]),
        &["--budget-epochs 0"],
    );
    // A usage error (clap's exit code 2): the budget picks the cycles itself.
    let o = range(&["--force", "--budget-epochs", "8", "--cycles", "2"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--budget-epochs") && err.contains("--cycles"),
        "{err}"
    );
}

#[test]
fn a_second_process_cannot_write_a_run_in_use() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let child = train(&cfg, &out, &[])
        .args(LONG)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&out.join("metrics.csv"));
    let second = train(&cfg, &out, &["--force"]).args(TINY).output().unwrap();
    let resumed = resume(&out, &[]);
    signal(child.id(), "TERM");
    let first = child.wait_with_output().unwrap();
    fails_with(&second, &["in use by another clr process", "clr.lock"]);
    fails_with(&resumed, &["in use by another clr process"]);
    // The first run was not disturbed: it stopped on the signal, resumable.
    assert_eq!(
        summary(&out)["stop_reason"]["kind"],
        "interrupted",
        "{}",
        text(&first.stderr)
    );
    assert!(!out.join("clr.lock").exists(), "the lock outlived its run");
}

#[test]
fn sigterm_and_sighup_checkpoint_and_the_run_resumes() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    for sig in ["TERM", "HUP"] {
        let out = tmp.path().join(format!("run-{sig}"));
        let o = interrupted_run(&cfg, &out, sig);
        let err = fails_with(&o, &["interrupted", "--resume"]);
        assert!(err.contains("SIGTERM or SIGHUP"), "{err}");
        let s = summary(&out);
        assert_eq!(s["stop_reason"]["kind"], "interrupted");
        let stopped_at = s["iterations"].as_u64().unwrap();
        // The checkpoint is the stop itself, not an older periodic one.
        let latest = std::fs::read_to_string(out.join("checkpoints/latest")).unwrap();
        assert_eq!(latest.trim(), format!("ckpt-{stopped_at:010}"));
        // Resuming continues from there (the length shortened so that the test ends).
        shorten(&out, 100);
        let o = resume(&out, &[]);
        ok(&o);
        assert!(
            text(&o.stderr).contains(&format!("(iteration {stopped_at})")),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(summary(&out)["iterations"], 1000);
    }
}

/// Sets the LONG run's `stop.cycles` in its run directory's config (cycles of 10 iterations).
fn shorten(out: &Path, cycles: u64) {
    let config = out.join("config.toml");
    let t = std::fs::read_to_string(&config).unwrap();
    assert!(t.contains("cycles = 10000"), "{t}");
    std::fs::write(
        &config,
        t.replace("cycles = 10000", &format!("cycles = {cycles}")),
    )
    .unwrap();
}

#[test]
fn resume_keeps_the_run_name_and_refuses_a_changed_config() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let o = interrupted_run(&cfg, &out, "TERM");
    fails_with(&o, &["interrupted"]);
    let config = out.join("config.toml");
    let original = std::fs::read_to_string(&config).unwrap();

    // A changed schedule: the checkpoint belongs to another run.
    std::fs::write(&config, original.replace("max_lr = 0.1", "max_lr = 0.2")).unwrap();
    let o = resume(&out, &[]);
    fails_with(&o, &["cannot resume", "schedule", "config.toml"]);

    // A length shorter than the checkpoint's iteration (1 cycle: 10; checkpointed at >= 20).
    let short = original.replace("cycles = 10000", "cycles = 1");
    assert_ne!(short, original);
    std::fs::write(&config, short).unwrap();
    let o = resume(&out, &[]);
    fails_with(&o, &["cannot resume", "past the run's planned end"]);

    // Restored, it resumes, and the summary keeps the run's name and config file.
    let finishing = original.replace("cycles = 10000", "cycles = 100");
    std::fs::write(&config, finishing).unwrap();
    let o = resume(&out, &[]);
    ok(&o);
    let s = summary(&out);
    assert_eq!(s["name"], "mlp");
    assert_eq!(s["config_file"], cfg.display().to_string());
    assert_eq!(s["iterations"], 1000);
}

#[test]
fn run_names_are_names_not_paths() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["../escape", "a/b", "", "x\\ty"] {
        let body = format!("name = \"{bad}\"\n{MNIST_MLP}");
        let cfg = write(tmp.path(), "bad.toml", &body);
        let o = clr()
            .args(["train", cfg.to_str().unwrap(), "-q"])
            .output()
            .unwrap();
        fails_with(
            &o,
            &["bad.toml", "name", "a run name is one directory name"],
        );
    }
}

#[test]
fn compare_tells_configs_with_one_stem_apart_and_refuses_one_given_twice() {
    let Some((tmp, _)) = mnist_case() else {
        return;
    };
    let mk = |dir: &str, lr: &str| -> PathBuf {
        let d = tmp.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        write(
            &d,
            "x.toml",
            &MNIST_MLP.replace("max_lr = 0.1", &format!("max_lr = {lr}")),
        )
    };
    let (a, b) = (mk("a", "0.1"), mk("b", "0.05"));
    let out = tmp.path().join("cmp");
    let compare = |configs: &[&Path], extra: &[&str]| {
        clr()
            .arg("compare")
            .args(configs)
            .args(["-q", "--out"])
            .arg(&out)
            .args(TINY)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = compare(&[&a, &b], &[]);
    ok(&o);
    let table = text(&o.stdout);
    assert!(
        table.contains("| a-x |") && table.contains("| b-x |"),
        "{table}"
    );
    assert!(out.join("a-x/seed-7/summary.json").exists());
    assert!(out.join("b-x/seed-7/summary.json").exists());
    let (sa, sb) = (
        summary(&out.join("a-x/seed-7")),
        summary(&out.join("b-x/seed-7")),
    );
    assert_ne!(sa["schedule"], sb["schedule"]);

    // The same file twice, by two spellings of its path.
    let again = tmp.path().join("a/../a/x.toml");
    fails_with(&compare(&[&a, &again], &[]), &["given twice"]);

    // A changed config over an existing run: refused without --force.
    let a2 = mk("a", "0.07");
    fails_with(&compare(&[&a2, &b], &[]), &["different config", "--force"]);
    ok(&compare(&[&a2, &b], &["--force"]));
}

#[test]
fn sizes_that_cannot_be_served_are_refused_before_allocating() {
    let Some((_tmp, cfg)) = mnist_case() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let go = |sets: &[&str]| {
        let mut c = train(&cfg, &out, &["--force"]);
        c.args(&TINY[..8]);
        for s in sets {
            c.args(["--set", s]);
        }
        c.output().unwrap()
    };
    fails_with(
        &go(&["model.hidden=[100000000000]"]),
        &["needs about", "GiB", "batch_size"],
    );
    fails_with(&go(&["model.hidden=[9223372036854775807]"]), &["too large"]);
    fails_with(
        &go(&["train.batch_size=1000000"]),
        &[
            "batch_size = 1000000",
            "larger than the training split",
            "1000",
        ],
    );
    // A cycle count no run will finish plans at once; the iteration cap ends the run.
    let start = Instant::now();
    let o = go(&["stop.cycles=1000000000000000", "train.max_iterations=15"]);
    ok(&o);
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(summary(&out)["iterations"], 20);
}

#[test]
fn a_file_size_limit_or_full_disk_names_the_file_and_keeps_the_checkpoint() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let o = interrupted_run(&cfg, &out, "TERM");
    fails_with(&o, &["interrupted"]);
    let latest = std::fs::read_to_string(out.join("checkpoints/latest")).unwrap();
    // Resume under a file-size limit below the size of the weights (a 64-unit MLP: ~200 KB):
    // the next checkpoint cannot be written.
    let bin = env!("CARGO_BIN_EXE_clr");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 64 && exec \"{bin}\" train --resume \"{}\" -q",
            out.display()
        ))
        .env("CLR_DATA_DIR", common::data_dir())
        .output()
        .unwrap();
    let err = fails_with(&o, &["hint:", "size limit", "--resume"]);
    assert!(
        err.contains(".safetensors") || err.contains("checkpoint"),
        "{err}"
    );
    // The previous checkpoint is still the latest and complete: the run resumes from it.
    assert_eq!(
        std::fs::read_to_string(out.join("checkpoints/latest")).unwrap(),
        latest
    );
    shorten(&out, 100);
    let o = resume(&out, &[]);
    ok(&o);
    assert!(text(&o.stderr).contains("resuming"), "{}", text(&o.stderr));
}
