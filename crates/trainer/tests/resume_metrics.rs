//! A run killed with SIGKILL and resumed rewrites `metrics.csv` from its checkpoint: the rows
//! up to the checkpoint must come out byte for byte as they were on disk before the kill
//! (elapsed time included: it is restored, not measured again), and the whole file must
//! match an uninterrupted run apart from elapsed time.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{kill_unfinished, mnist_case, resume, text, train};

/// Many rows (one every 5 iterations) before the first checkpoints; metrics are written at
/// every evaluation, and evaluations fall on the checkpoints.
const SETS: [&str; 18] = [
    "--set",
    "data.train_limit=2000",
    "--set",
    "model.hidden=[32]",
    "--set",
    "schedule.step_size=50",
    "--set",
    "stop.cycles=20",
    "--set",
    "log.every=5",
    "--set",
    "eval.every=25",
    "--set",
    "checkpoint.every=25",
    "--set",
    "checkpoint.at_cycle_end=false",
    "--set",
    "eval.batch_size=1000",
];

/// The iteration of the checkpoint `checkpoints/latest` names, once it names one.
fn latest_checkpoint(run: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(run.join("checkpoints/latest")).ok()?;
    name.trim().strip_prefix("ckpt-")?.parse().ok()
}

/// The lines of `metrics.csv` (header first).
fn lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Data rows up to and including `iteration`.
fn rows_through(lines: &[String], iteration: u64) -> Vec<String> {
    lines[1..]
        .iter()
        .filter(|l| l.split(',').next().unwrap().parse::<u64>().unwrap() <= iteration)
        .cloned()
        .collect()
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn rows_before_the_checkpoint_print_identically_after_kill_9_and_resume() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let full = tmp.path().join("full");
    let o = train(&cfg, &full, &["--threads", "2"])
        .args(SETS)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));

    let part = tmp.path().join("part");
    let child = train(&cfg, &part, &["--threads", "2"])
        .args(SETS)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while latest_checkpoint(&part).is_none_or(|it| it < 100) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint at iteration 100 appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // Frozen, so that what is on disk stays put while it is read; then killed outright.
    signal(child.id(), "-STOP");
    let ckpt = latest_checkpoint(&part).unwrap();
    let before = lines(&part);
    kill_unfinished(child, &part);
    let before = rows_through(&before, ckpt);
    assert!(
        before.len() >= 20 && before.last().unwrap().starts_with(&format!("{ckpt},")),
        "expected the rows through iteration {ckpt} on disk, found {before:?}"
    );

    let o = resume(&part, &["--threads", "2"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let after = lines(&part);
    for (i, (b, a)) in before.iter().zip(rows_through(&after, ckpt)).enumerate() {
        assert_eq!(
            a, *b,
            "row {i} (through the checkpoint at {ckpt}) changed on resume"
        );
    }
    assert_eq!(rows_through(&after, ckpt).len(), before.len());

    let strip = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(
        strip(after),
        strip(lines(&full)),
        "metrics differ from the uninterrupted run (apart from elapsed time)"
    );
}
