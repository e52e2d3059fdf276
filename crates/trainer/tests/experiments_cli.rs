//! `clr range-test`, `clr compare` and `clr plot` end to end on a small MNIST subset.

mod common;

use common::{clr, have_mnist, mnist_case, text, write, MNIST_MLP, SMALL};

#[test]
fn range_test_writes_a_suggestion_that_trains() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("range");
    // 8 epochs of 30 iterations: 2 cycles of step 2 epochs (clr_core::policy_length).
    let range_test = |dir: &std::path::Path, extra: &[&str]| {
        clr()
            .args([
                "range-test",
                cfg.to_str().unwrap(),
                "-q",
                "--iterations",
                "600",
            ])
            .args(["--evals", "30", "--min-lr", "1e-4", "--max-lr", "3"])
            .args(["--budget-epochs", "8", "--out", dir.to_str().unwrap()])
            .args(extra)
            .args(SMALL)
            .output()
            .unwrap()
    };
    let o = range_test(&out, &[]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}\n{stdout}", text(&o.stderr));
    assert!(
        stdout.contains("suggested from test accuracy: base_lr ="),
        "{stdout}"
    );
    for f in [
        "range_test.csv",
        "range_test.svg",
        "range_test.png",
        "suggested.toml",
        "suggested_run.toml",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("range_test.csv")).unwrap();
    assert!(csv.starts_with("iteration,lr,train_loss,test_accuracy\n"));
    let lrs: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        lrs.len() >= 10 && lrs.windows(2).all(|w| w[1] > w[0]),
        "{lrs:?}"
    );

    let s: toml::Table =
        toml::from_str(&std::fs::read_to_string(out.join("suggested.toml")).unwrap()).unwrap();
    let (b, m) = (
        s["schedule"]["base_lr"].as_float().unwrap(),
        s["schedule"]["max_lr"].as_float().unwrap(),
    );
    assert!(b > 1e-4 && b < m && m < 3.0, "base {b} max {m}");
    // 3000 images / batch 100 = 30 iterations per epoch, step 2 epochs.
    assert_eq!(s["schedule"]["step_size"].as_integer(), Some(60));
    let why = std::fs::read_to_string(out.join("suggested.toml")).unwrap();
    assert!(
        why.contains("budget 8 epochs: 2 cycle(s) of step 2 epochs"),
        "{why}"
    );

    // The CSV alone, analysed again: the same suggestion; without it, an error naming it.
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(out.join("range_test.csv"), copy.join("range_test.csv")).unwrap();
    let o = range_test(&copy, &["--from-csv"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("sweep read from its range_test.csv"));
    assert_eq!(
        std::fs::read_to_string(copy.join("suggested.toml")).unwrap(),
        why
    );
    assert!(copy.join("range_test.png").exists());
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = range_test(&empty, &["--from-csv"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("range_test.csv") && err.contains("--from-csv"),
        "{err}"
    );

    let run = tmp.path().join("run");
    let o = clr()
        .args([
            "train",
            out.join("suggested_run.toml").to_str().unwrap(),
            "-q",
            "--out",
            run.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["iterations"], 240, "2 cycles of 2 x 60 iterations");
    let name = summary["name"].as_str().unwrap();
    assert!(name.ends_with("_range_clr"), "{name}");
}

#[test]
fn compare_runs_seeds_writes_the_table_and_reuses_finished_runs() {
    if !have_mnist() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fixed = MNIST_MLP.replace(
        "policy = \"triangular\"\nbase_lr = 0.01\nmax_lr = 0.1\nstep_size = 300",
        "policy = \"fixed\"\nbase_lr = 0.03",
    );
    let fixed = fixed.replace("[stop]\ncycles = 4", "[train]\nmax_iterations = 240");
    let a = write(tmp.path(), "fixed.toml", &fixed);
    let b = write(
        tmp.path(),
        "clr.toml",
        &MNIST_MLP
            .replace("step_size = 300", "step_size = 30")
            .replace("cycles = 4", "cycles = 2"),
    );
    let out = tmp.path().join("cmp");
    let cmd = |extra: &[&str]| {
        clr()
            .args([
                "compare",
                a.to_str().unwrap(),
                b.to_str().unwrap(),
                "--seeds",
                "2",
                "--target",
                "0.5",
                "-q",
            ])
            .args(["--out", out.to_str().unwrap(), "--set", "eval.every=40"])
            .args(SMALL)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = cmd(&[]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        stdout.contains("| fixed | fixed | 0.03 | 2 | 240 |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| clr | triangular | 0.01-0.1 | 2 | 120 |"),
        "{stdout}"
    );
    for f in [
        "comparison.md",
        "comparison.csv",
        "comparison.svg",
        "comparison.png",
        "fixed/seed-7/summary.json",
        "clr/seed-8/summary.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");

    // The same command again reuses all four finished runs.
    let again = cmd(&[]);
    assert!(again.status.success());
    assert_eq!(
        text(&again.stderr)
            .matches("reusing the finished run")
            .count(),
        4,
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        text(&again.stdout),
        stdout,
        "the reused table must be the same"
    );

    let plot = tmp.path().join("plot");
    let o = clr()
        .args([
            "plot",
            out.to_str().unwrap(),
            "--out",
            plot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(plot.with_extension("png").exists() && plot.with_extension("svg").exists());
    let svg = std::fs::read_to_string(plot.with_extension("svg")).unwrap();
    assert!(svg.contains("fixed") && svg.contains("clr"));

    let o = clr()
        .arg("plot")
        .args([out.join("fixed"), out.join("clr/seed-8")])
        .arg("--out")
        .arg(&plot)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "config and run directories: {}",
        text(&o.stderr)
    );
    let o = clr().args(["plot", "/nonexistent"]).output().unwrap();
    assert!(!o.status.success() && text(&o.stderr).contains("/nonexistent"));
}
