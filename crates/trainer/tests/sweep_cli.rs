//! Sweeps: `clr compare --jobs`, `--plan` run by a shell and by scripts/slurm_array.sh,
//! `--report-only`, `clr train --reuse`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{clr, data_dir, have_mnist, summary, text, write, MNIST_MLP, SMALL};

/// [`SMALL`] and an evaluation every 40 iterations.
fn small() -> Vec<&'static str> {
    let mut v = SMALL.to_vec();
    v.extend(["--set", "eval.every=40"]);
    v
}
/// A fixed-rate and a triangular config in `dir`.
fn configs(dir: &Path) -> [PathBuf; 2] {
    let fixed = MNIST_MLP
        .replace(
            "policy = \"triangular\"\nbase_lr = 0.01\nmax_lr = 0.1\nstep_size = 300",
            "policy = \"fixed\"\nbase_lr = 0.03",
        )
        .replace("[stop]\ncycles = 4", "[train]\nmax_iterations = 160");
    let clr = MNIST_MLP
        .replace("step_size = 300", "step_size = 40")
        .replace("cycles = 4", "cycles = 2");
    [
        write(dir, "fixed.toml", &fixed),
        write(dir, "clr.toml", &clr),
    ]
}

fn compare(cfgs: &[PathBuf; 2], out: &Path, extra: &[&str]) -> Output {
    clr()
        .arg("compare")
        .args(cfgs)
        .args(["--seeds", "2", "--target", "0.5", "--out"])
        .arg(out)
        .args(small())
        .args(extra)
        .output()
        .unwrap()
}

/// `sh -c line` with the workspace data directory (as `clr()` has).
fn shell(line: &str) -> Command {
    let mut c = Command::new("sh");
    c.env("CLR_DATA_DIR", data_dir()).arg("-c").arg(line);
    c
}

/// The markdown table without its wall-time column (the only one that may differ).
fn table(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            cells[..cells.len() - 2].join("|")
        })
        .collect()
}

const RUNS: [&str; 4] = ["fixed/seed-7", "fixed/seed-8", "clr/seed-7", "clr/seed-8"];

#[test]
fn two_jobs_give_the_same_runs_bit_for_bit_as_one() {
    if !have_mnist() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfgs = configs(tmp.path());
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    let a = compare(&cfgs, &one, &["-q", "--jobs", "1"]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    let b = compare(&cfgs, &two, &["--plain", "--jobs", "2"]);
    let log = text(&b.stderr);
    assert!(b.status.success(), "{log}");
    assert!(log.contains("[clr seed-8] started"), "{log}");
    assert_eq!(table(&text(&a.stdout)), table(&text(&b.stdout)));
    assert_eq!(table(&text(&a.stdout)).len(), 4);
    for run in RUNS {
        let (sa, sb) = (summary(&one.join(run)), summary(&two.join(run)));
        for key in [
            "final_test_accuracy",
            "best_test_accuracy",
            "best_iteration",
            "iterations",
            "iterations_to_target",
            "final_test_loss",
        ] {
            assert_eq!(sa[key], sb[key], "{run}: {key}");
        }
        assert_eq!(
            std::fs::read(one.join(run).join("weights.safetensors")).unwrap(),
            std::fs::read(two.join(run).join("weights.safetensors")).unwrap(),
            "{run}: weights"
        );
        assert_eq!(
            sb["threads"], 1,
            "{run}: two jobs on two threads get one each"
        );
    }
    // Run again: everything is reused, nothing is started.
    let again = compare(&cfgs, &two, &["--plain", "--jobs", "2"]);
    let log = text(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert_eq!(log.matches("reusing the finished run").count(), 4, "{log}");
    assert!(!log.contains("started"), "{log}");
}

#[test]
fn plan_lines_run_by_a_shell_then_compare_give_the_direct_table() {
    if !have_mnist() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfgs = configs(tmp.path());
    let direct = compare(&cfgs, &tmp.path().join("direct"), &["-q"]);
    assert!(direct.status.success(), "{}", text(&direct.stderr));

    let out = tmp.path().join("planned");
    let plan = compare(&cfgs, &out, &["--plan"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let lines: Vec<String> = text(&plan.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 4, "one line per run: {lines:?}");
    assert!(lines
        .iter()
        .all(|l| l.contains(" train ") && l.contains(" --reuse")));
    assert!(
        !out.join("comparison.md").exists(),
        "--plan trains and writes nothing"
    );

    // Before any line ran, a report has nothing to show.
    let none = compare(&cfgs, &out, &["--report-only"]);
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("no finished runs"),
        "{}",
        text(&none.stderr)
    );

    // The first line, twice: the second time it reports the finished run.
    for _ in 0..2 {
        let o = shell(&lines[0]).output().unwrap();
        assert!(o.status.success(), "{}: {}", lines[0], text(&o.stderr));
    }
    let partial = compare(&cfgs, &out, &["--report-only"]);
    let log = text(&partial.stderr);
    assert!(partial.status.success(), "{log}");
    assert!(log.contains("not finished yet (3 of 4)"), "{log}");
    assert_eq!(
        table(&text(&partial.stdout)).len(),
        3,
        "header, rule, one row"
    );

    // The plan again lists only the three that are left; run them, then collect.
    let rest = compare(&cfgs, &out, &["--plan"]);
    let rest: Vec<String> = text(&rest.stdout).lines().map(str::to_owned).collect();
    assert_eq!(rest, lines[1..].to_vec());
    // ... as the tasks of a Slurm job array would, through the shipped script.
    let plan_file = write(tmp.path(), "plan.txt", &(rest.join("\n") + "\n"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm_array.sh");
    for task in 1..=rest.len() {
        let o = Command::new("bash")
            .env("CLR_DATA_DIR", data_dir())
            .arg(&script)
            .arg(&plan_file)
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_SUBMIT_DIR", std::env::current_dir().unwrap())
            .output()
            .unwrap();
        assert!(o.status.success(), "task {task}: {}", text(&o.stderr));
    }
    let collected = compare(&cfgs, &out, &["-q"]);
    assert!(collected.status.success(), "{}", text(&collected.stderr));
    assert_eq!(
        text(&collected.stderr)
            .matches("reusing the finished run")
            .count(),
        4
    );
    assert_eq!(
        table(&text(&collected.stdout)),
        table(&text(&direct.stdout))
    );
}

#[test]
fn reuse_refuses_another_configs_run_and_resumes_an_interrupted_one() {
    if !have_mnist() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let [fixed, cyclic] = configs(tmp.path());
    let dir = tmp.path().join("run");
    let train = |cfg: &Path, extra: &[&str]| {
        clr()
            .arg("train")
            .arg(cfg)
            .args(small())
            .arg("--out")
            .arg(&dir)
            .args(["--reuse", "-q"])
            .args(extra)
            .output()
            .unwrap()
    };
    let ckpt = ["--set", "checkpoint.every=80"];
    let o = train(&fixed, &ckpt);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let first = summary(&dir);
    let weights = std::fs::read(dir.join("weights.safetensors")).unwrap();
    // As if killed after its checkpoint at iteration 80: --reuse resumes it, and the
    // result is the uninterrupted run's bit for bit.
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    std::fs::remove_file(dir.join("weights.safetensors")).unwrap();
    let o = train(&fixed, &ckpt);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("(iteration 80)"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        summary(&dir)["final_test_accuracy"],
        first["final_test_accuracy"]
    );
    assert_eq!(
        std::fs::read(dir.join("weights.safetensors")).unwrap(),
        weights
    );
    // Finished: reported, not trained again.
    let o = train(&fixed, &ckpt);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("reusing the finished run"));
    assert!(
        text(&o.stdout).contains("final test acc"),
        "{}",
        text(&o.stdout)
    );

    let other = train(&cyclic, &[]);
    assert!(!other.status.success());
    let msg = text(&other.stderr);
    assert!(msg.contains("holds a run of a different config"), "{msg}");
    assert!(
        dir.join("weights.safetensors").exists(),
        "nothing was deleted"
    );
    let forced = train(&cyclic, &["--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(summary(&dir)["policy"], "triangular");
}

#[cfg(unix)]
#[test]
fn sigterm_to_compare_jobs_checkpoints_every_child_and_the_same_command_continues() {
    if !have_mnist() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // 2,000 iterations each: a few seconds, long enough to stop them mid-way.
    let [fixed, cyclic] = configs(tmp.path());
    for (p, from, to) in [
        (&fixed, "max_iterations = 160", "max_iterations = 2000"),
        (&cyclic, "cycles = 2", "cycles = 25"),
    ] {
        let body = std::fs::read_to_string(p).unwrap().replace(from, to);
        std::fs::write(p, body).unwrap();
    }
    let cfgs = [fixed, cyclic];
    let out = tmp.path().join("cmp");
    let long = ["--set", "checkpoint.every=20"];
    let args = |extra: &[&str]| {
        let mut c = clr();
        c.arg("compare")
            .args(&cfgs)
            .args(["--out"])
            .arg(&out)
            .args(small())
            .args(long)
            .args(["--plain", "--jobs", "2"])
            .args(extra);
        c
    };
    let mut child = args(&[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let latest = |run: &str| out.join(run).join("checkpoints/latest");
    let t0 = std::time::Instant::now();
    while !(latest("fixed/seed-7").exists() && latest("clr/seed-7").exists()) {
        assert!(
            t0.elapsed().as_secs() < 120,
            "no checkpoints after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        !status.success(),
        "an interrupted sweep exits non-zero: {log}"
    );
    assert!(
        log.contains("run the same `clr compare` command again"),
        "{log}"
    );
    for run in ["fixed/seed-7", "clr/seed-7"] {
        assert!(
            !out.join(run).join("clr.lock").exists(),
            "{run}: the child stopped and released its lock: {log}"
        );
        assert!(
            !out.join(run).join("summary.json").exists() || {
                let s = summary(&out.join(run));
                s["stop_reason"].to_string().contains("nterrupt")
            }
        );
    }
    // The same command continues both from their checkpoints.
    let o = args(&[]).output().unwrap();
    let log = text(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert_eq!(log.matches("] resuming ").count(), 2, "{log}");
    assert_eq!(summary(&out.join("fixed/seed-7"))["iterations"], 2000);
    assert_eq!(summary(&out.join("clr/seed-7"))["iterations"], 2000);
}

#[test]
fn diverging_runs_are_rows_of_the_table_one_at_a_time_and_with_jobs() {
    if !have_mnist() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfgs = configs(tmp.path());
    let diverge = ["--set", "schedule.base_lr=1e5"];
    let cyclic = |out: &Path, extra: &[&str]| {
        clr()
            .arg("compare")
            .arg(&cfgs[1])
            .args(["--seeds", "2", "--out"])
            .arg(out)
            .args(small())
            .args(["--set", "schedule.max_lr=1e6"])
            .args(diverge)
            .args(extra)
            .output()
            .unwrap()
    };
    for extra in [&["-q"][..], &["-q", "--jobs", "2"][..]] {
        let out = tmp.path().join(extra.len().to_string());
        let o = cyclic(&out, extra);
        assert!(o.status.success(), "{extra:?}: {}", text(&o.stderr));
        let table = table(&text(&o.stdout));
        assert_eq!(table.len(), 3, "{table:?}");
        let s = summary(&out.join("clr/seed-7"));
        assert_eq!(s["stop_reason"]["kind"], "diverged");
        assert_eq!(s["stop_reason"]["loss"], "NaN");
        // Again: the diverged runs are reused, not trained again.
        let again = cyclic(&out, extra);
        assert!(again.status.success(), "{}", text(&again.stderr));
        assert_eq!(
            text(&again.stderr)
                .matches("reusing the finished run")
                .count(),
            2
        );
    }
}
