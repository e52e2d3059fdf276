//! Numbers TOML cannot hold (integers beyond 64 bits signed, floats beyond `f64`) are reported
//! as out of range, naming the file or the `--set`, the key and the value, whether they come
//! from a config file or a `--set` override; they are never taken for strings.

mod common;

use std::path::Path;

use common::{text, train, write};
use trainer::config::{self, ConfigError};

const FIXED: &str = include_str!("../../../configs/mnist_mlp_fixed.toml");

const INTEGERS: &str = "out of range: TOML integers are 64-bit signed, from -9223372036854775808 to 9223372036854775807";
const FLOATS: &str =
    "out of range: TOML floats are 64-bit, at most 1.7976931348623157e308 in magnitude";

fn set_err(arg: &str) -> String {
    let e = config::parse(Path::new("c.toml"), FIXED, &[arg.to_owned()]).unwrap_err();
    assert!(matches!(e, ConfigError::Override { .. }), "{e:?}");
    e.to_string()
}

fn file_err(text: &str) -> String {
    config::parse(Path::new("dir/c.toml"), text, &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn set_overrides_name_the_key_value_and_range() {
    assert_eq!(
        set_err("train.max_iterations=99999999999999999999"),
        format!(
            "--set train.max_iterations=99999999999999999999: \
             `train.max_iterations` = 99999999999999999999: {INTEGERS}"
        )
    );
    assert_eq!(
        set_err("seed = -9223372036854775809"),
        format!("--set seed = -9223372036854775809: `seed` = -9223372036854775809: {INTEGERS}")
    );
    assert_eq!(
        set_err("model.hidden=[512, 1_000_000_000_000_000_000_000]"),
        format!(
            "--set model.hidden=[512, 1_000_000_000_000_000_000_000]: \
             `model.hidden[1]` = 1_000_000_000_000_000_000_000: {INTEGERS}"
        )
    );
    assert_eq!(
        set_err("stop.x={ a = 0x1_0000_0000_0000_0000 }"),
        format!("--set stop.x={{ a = 0x1_0000_0000_0000_0000 }}: `stop.x.a` = 0x1_0000_0000_0000_0000: {INTEGERS}")
    );
    assert_eq!(
        set_err("schedule.base_lr=1e400"),
        format!("--set schedule.base_lr=1e400: `schedule.base_lr` = 1e400: {FLOATS}")
    );
    assert_eq!(
        set_err("schedule.base_lr=-2.5e308"),
        format!("--set schedule.base_lr=-2.5e308: `schedule.base_lr` = -2.5e308: {FLOATS}")
    );
}

#[test]
fn numbers_in_range_and_bare_strings_are_unchanged() {
    let c = config::parse(
        Path::new("c.toml"),
        FIXED,
        &[
            "train.max_iterations=9223372036854775807".to_owned(),
            "schedule.base_lr=1e300".to_owned(),
            "data.dataset=fashion-mnist".to_owned(),
            "stop.min_improvement=-inf".to_owned(),
        ],
    )
    .unwrap();
    // (`-inf` as written is a TOML float; validation rejects it later.)
    assert_eq!(c.stop.min_improvement, Some(f64::NEG_INFINITY));
    assert_eq!(c.train.max_iterations, Some(i64::MAX as u64));
    let clr_core::ScheduleConfig::Fixed(fixed) = &c.schedule else {
        panic!("{:?}", c.schedule);
    };
    assert_eq!(fixed.base_lr, Some(1e300));
    // Not numbers, so bare strings as before (and then the wrong type for the key).
    for bad in ["seed=007", "seed=12abc", "seed=1.2.3"] {
        let e = config::parse(Path::new("c.toml"), FIXED, &[bad.to_owned()]).unwrap_err();
        assert!(e.to_string().contains("invalid type: string"), "{bad}: {e}");
    }
}

#[test]
fn config_files_name_the_file_key_value_and_line() {
    let text = FIXED.replace("max_epochs = 16", "max_iterations = 99999999999999999999");
    assert_eq!(
        file_err(&text),
        format!(
            "config dir/c.toml: `train.max_iterations` = 99999999999999999999: {INTEGERS} (line 19)"
        )
    );
    let text = FIXED.replace("base_lr = 0.03", "base_lr = 3e999");
    assert_eq!(
        file_err(&text),
        format!("config dir/c.toml: `schedule.base_lr` = 3e999: {FLOATS} (line 16)")
    );
    assert_eq!(
        file_err("[model]\nlayers = [{ type = \"dense\", out = -99999999999999999999 }]\n"),
        format!(
            "config dir/c.toml: `model.layers[0].out` = -99999999999999999999: {INTEGERS} (line 2)"
        )
    );
    assert_eq!(
        file_err("a.b.c = 1\n[[x]]\n[[x]]\ny = 18446744073709551616\n"),
        format!("config dir/c.toml: `x[1].y` = 18446744073709551616: {INTEGERS} (line 4)")
    );
    // A negative float that overflows, which the parser alone would take for -inf.
    let text = FIXED.replace("base_lr = 0.03", "base_lr = -1e400");
    assert_eq!(
        file_err(&text),
        format!("config dir/c.toml: `schedule.base_lr` = -1e400: {FLOATS} (line 16)")
    );
    assert_eq!(
        file_err("[model]\nlayers = [{ type = \"dense\", out = 10, lr_mult = [1.0, -2e308] }]\n"),
        format!("config dir/c.toml: `model.layers[0].lr_mult[1]` = -2e308: {FLOATS} (line 2)")
    );
    // With overrides the file is read as a table first: the same error.
    let text = FIXED.replace("max_epochs = 16", "max_iterations = 99999999999999999999");
    let e = config::parse(Path::new("dir/c.toml"), &text, &["seed=2".to_owned()]).unwrap_err();
    assert!(
        e.to_string()
            .contains("`train.max_iterations` = 99999999999999999999: out of range"),
        "{e}"
    );
    // When the rest of the file does not parse either, the line stands in for the key.
    assert_eq!(
        file_err("x = 99999999999999999999\ny = [\n"),
        format!("config dir/c.toml: line 1: 99999999999999999999 {INTEGERS}")
    );
}

#[test]
fn clr_train_reports_out_of_range_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "fixed.toml", FIXED);
    let out = tmp.path().join("run");
    let o = train(
        &cfg,
        &out,
        &["--set", "train.max_iterations=99999999999999999999"],
    )
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "--set train.max_iterations=99999999999999999999: `train.max_iterations` = 99999999999999999999: {INTEGERS}"
        )),
        "{err}"
    );
    assert!(!err.contains("invalid type"), "{err}");

    let bad = write(
        tmp.path(),
        "bad.toml",
        &FIXED.replace("max_epochs = 16", "max_iterations = 99999999999999999999"),
    );
    let o = train(&bad, &out, &[]).output().unwrap();
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}: `train.max_iterations` = 99999999999999999999: {INTEGERS} (line 19)",
            bad.display()
        )),
        "{err}"
    );
    assert!(!out.exists(), "no run directory for a bad config");
}
