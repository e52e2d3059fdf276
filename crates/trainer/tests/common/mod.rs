//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

/// The workspace's data directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// CLR_DATA_MIRROR as given to `cargo test` in the workspace root (the README's
/// `../shared/data`; the tests run in their crate's folder).
pub fn mirror() -> Option<String> {
    trainer::data::mirror_from_env_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The `clr` binary with the workspace data directory (and [`mirror`]).
pub fn clr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clr"));
    c.env("CLR_DATA_DIR", data_dir());
    if let Some(m) = mirror() {
        c.env("CLR_DATA_MIRROR", m);
    }
    c
}

/// `clr train CONFIG -q --out OUT` plus `extra`.
pub fn train(config: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = clr();
    c.arg("train")
        .arg(config)
        .args(["-q", "--out"])
        .arg(out)
        .args(extra);
    c
}

/// `clr train --resume OUT -q` plus `extra`, run to its end.
pub fn resume(out: &Path, extra: &[&str]) -> Output {
    clr()
        .args(["train", "--resume"])
        .arg(out)
        .arg("-q")
        .args(extra)
        .output()
        .expect("running clr")
}

/// Kills the training `child` writing to `out` and checks that its run had not finished.
pub fn kill_unfinished(mut child: Child, out: &Path) {
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        !out.join("summary.json").exists(),
        "the run finished before it could be killed"
    );
}

/// A run directory's `summary.json`.
pub fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// `--set KEY=VALUE` for each of `pairs`.
pub fn sets<'a>(pairs: &[&'a str]) -> Vec<&'a str> {
    pairs.iter().flat_map(|kv| ["--set", kv]).collect()
}

pub fn run(args: &[&str]) -> Output {
    clr().args(args).output().expect("running clr")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Fetches MNIST into the workspace data directory. Returns false (test
/// skipped) when it cannot be had, unless CLR_REQUIRE_DATA=1, where that fails.
pub fn have_mnist() -> bool {
    let out = run(&["data", "fetch", "mnist"]);
    if out.status.success() {
        return true;
    }
    let msg = text(&out.stderr);
    if std::env::var("CLR_REQUIRE_DATA").as_deref() == Ok("1") {
        panic!("MNIST is required (CLR_REQUIRE_DATA=1) but could not be fetched:\n{msg}");
    }
    eprintln!("skipping: MNIST not available (set CLR_DATA_MIRROR to a local mirror):\n{msg}");
    false
}

/// A temp dir holding the MNIST MLP config, or None (test skipped) without MNIST.
pub fn mnist_case() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_mnist() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "mlp.toml", MNIST_MLP);
    Some((tmp, cfg))
}

/// `--set`s that make MNIST runs small: 3,000 train and 2,000 test images, one hidden
/// layer of 64.
pub const SMALL: [&str; 6] = [
    "--set",
    "data.train_limit=3000",
    "--set",
    "data.test_limit=2000",
    "--set",
    "model.hidden=[64]",
];

/// A small MNIST MLP config.
pub const MNIST_MLP: &str = r#"
seed = 7

[data]
dataset = "mnist"

[model]
preset = "mlp"

[optimizer]
kind = "sgd"
momentum = 0.9
weight_decay = 0.0005
convention = "pytorch"

[schedule]
policy = "triangular"
base_lr = 0.01
max_lr = 0.1
step_size = 300

[stop]
cycles = 4

[eval]
every = 300
"#;

pub fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}
