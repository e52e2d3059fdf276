//! `clr schedule` run as a built binary: every reference fixture to a relative error of at
//! most 1e-9, plots, and errors that name the file, key and value without panicking.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn clr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clr"))
        .args(args)
        .output()
        .expect("run clr")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clr-core/tests/fixtures/schedules")
}

/// Parses `iteration,lr,momentum` CSV into rows.
fn rows(csv: &str) -> Vec<(u64, f64, Option<f64>)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("iteration,lr,momentum"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            let m = (!f[2].is_empty()).then(|| f[2].parse().unwrap());
            (f[0].parse().unwrap(), f[1].parse().unwrap(), m)
        })
        .collect()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(f64::MIN_POSITIVE)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_fails(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

#[test]
fn reproduces_every_reference_fixture() {
    let mut cases = 0;
    for entry in fs::read_dir(fixtures()).unwrap() {
        let toml = entry.unwrap().path();
        if toml.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let want = rows(&fs::read_to_string(toml.with_extension("csv")).unwrap());
        let n = want.len().to_string();
        let out = clr(&["schedule", toml.to_str().unwrap(), "--iterations", &n]);
        assert!(out.status.success(), "{}: {}", toml.display(), stderr(&out));
        let got = rows(std::str::from_utf8(&out.stdout).unwrap());
        assert_eq!(got.len(), want.len(), "{}", toml.display());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0);
            assert!(
                close(g.1, w.1),
                "{} row {}: lr {} != {}",
                toml.display(),
                w.0,
                g.1,
                w.1
            );
            match (g.2, w.2) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!(
                    close(a, b),
                    "{} row {}: momentum {a} != {b}",
                    toml.display(),
                    w.0
                ),
                (a, b) => panic!("{} row {}: momentum {a:?} vs {b:?}", toml.display(), w.0),
            }
        }
        cases += 1;
    }
    assert_eq!(cases, 16);
}

#[test]
fn prints_shortest_round_trip_values() {
    let out = clr(&[
        "schedule",
        fixtures().join("easy_triangular.toml").to_str().unwrap(),
        "--iterations",
        "10",
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "iteration,lr,momentum\n0,1,\n1,2,\n2,3,\n3,4,\n4,5,\n5,4,\n6,3,\n7,2,\n8,1,\n9,2,\n"
    );
}

#[test]
fn reads_the_schedule_table_of_a_whole_run_config_and_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.toml");
    fs::write(
        &path,
        "[model]\nname = \"lenet\"\n\n[schedule]\npolicy = \"triangular\"\nbase_lr = 1.0\n\
         max_lr = 3.0\nstep_size_epochs = 1\n\n[data]\nbatch_size = 100\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let out = clr(&[
        "schedule",
        p,
        "--iterations",
        "5",
        "--iterations-per-epoch",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "iteration,lr,momentum\n0,1,\n1,2,\n2,3,\n3,2,\n4,1,\n"
    );
    assert_fails(
        &clr(&["schedule", p, "--iterations", "5"]),
        &["run.toml", "step_size_epochs", "iterations per epoch"],
    );
}

#[test]
fn plots_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let toml = fixtures().join("momentum_triangular.toml");
    for name in ["s.svg", "s.png"] {
        let out_path = dir.path().join(name);
        let out = clr(&[
            "schedule",
            toml.to_str().unwrap(),
            "--iterations",
            "3000",
            "--plot",
            out_path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(fs::metadata(&out_path).unwrap().len() > 1000);
    }
    let svg = fs::read_to_string(dir.path().join("s.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("momentum") && svg.contains("learning rate"));
    let png = image::open(dir.path().join("s.png")).unwrap();
    assert!(png.width() > 500 && png.height() > 500);
}

#[test]
fn errors_name_the_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let p = write(
        "typo.toml",
        "[schedule]\npolicy = \"triangular\"\nbase_lr = 0.1\nmax_lr = 1.0\nstepsize = 4\n",
    );
    assert_fails(
        &clr(&["schedule", &p, "--iterations", "3"]),
        &["typo.toml", "unknown field `stepsize`", "step_size"],
    );
    let p = write(
        "order.toml",
        "[schedule]\npolicy = \"triangular\"\nbase_lr = 0.1\nmax_lr = 0.01\nstep_size = 4\n",
    );
    assert_fails(
        &clr(&["schedule", &p, "--iterations", "3"]),
        &["order.toml", "max_lr", "0.01", "base_lr", "0.1"],
    );
    let p = write(
        "policy.toml",
        "[schedule]\npolicy = \"cosine\"\nbase_lr = 0.1\n",
    );
    assert_fails(
        &clr(&["schedule", &p, "--iterations", "3"]),
        &["policy.toml", "cosine", "triangular2"],
    );
    let p = write("none.toml", "[model]\nname = \"x\"\n");
    assert_fails(
        &clr(&["schedule", &p, "--iterations", "3"]),
        &["none.toml", "no [schedule] table"],
    );
    let p = write("broken.toml", "[schedule\npolicy = ");
    assert_fails(
        &clr(&["schedule", &p, "--iterations", "3"]),
        &["broken.toml"],
    );
    let missing = dir.path().join("missing.toml");
    assert_fails(
        &clr(&["schedule", missing.to_str().unwrap(), "--iterations", "3"]),
        &["missing.toml"],
    );
    let ok = fixtures().join("easy_triangular.toml");
    let bad_plot = dir.path().join("plot.jpg");
    assert_fails(
        &clr(&[
            "schedule",
            ok.to_str().unwrap(),
            "--iterations",
            "3",
            "--plot",
            bad_plot.to_str().unwrap(),
        ]),
        &["plot.jpg", ".svg or .png"],
    );
    assert_fails(&clr(&["schedule", ok.to_str().unwrap()]), &["--iterations"]);
    assert_fails(
        &clr(&["schedule", ok.to_str().unwrap(), "--iterations", "-5"]),
        &["-5"],
    );
}
