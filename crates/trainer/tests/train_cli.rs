//! `clr train` end to end: real training, stopping at cycle ends, resume bit
//! for bit, clean errors for bad configs and diverging runs.

mod common;

use std::time::{Duration, Instant};

use common::{
    clr, kill_unfinished, mnist_case, resume, run, sets, summary, text, train, write, MNIST_MLP,
};

#[test]
fn mnist_mlp_reaches_97_percent_within_4_triangular_cycles() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let o = clr()
        .args([
            "train",
            cfg.to_str().unwrap(),
            "--plain",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "stderr:\n{}", text(&o.stderr));
    let s = summary(&out);
    // 4 cycles of 2 x 300 iterations, stopped at the cycle end.
    assert_eq!(s["iterations"], 2400);
    assert_eq!(s["stop_reason"]["kind"], "cycles");
    assert_eq!(s["stop_reason"]["cycles"], 4);
    let acc = s["final_test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.97, "final test accuracy {acc}");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(metrics.starts_with("iteration,epoch,cycle,lr,momentum,train_loss,train_accuracy,test_loss,test_accuracy,elapsed_seconds"));
    // Evaluated at every cycle end.
    for it in [600, 1200, 1800, 2400] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{it},")))
            .unwrap();
        assert!(
            !line.split(',').nth(8).unwrap().is_empty(),
            "no test accuracy at {it}: {line}"
        );
    }
    assert!(out.join("weights.safetensors").exists());
    assert!(out.join("config.toml").exists());
}

/// A convolutional net through the direct convolution kernels (forward and input gradient)
/// and the im2col weight gradient: LeNet passes 98% within one triangular cycle of 300
/// iterations (the MLP with the same settings reaches about 96%).
#[test]
fn mnist_lenet_reaches_98_percent_in_one_short_cycle() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let o = train(
        &cfg,
        &out,
        &[
            "--set",
            "model.preset=lenet",
            "--set",
            "schedule.step_size=150",
            "--set",
            "stop.cycles=1",
            "--set",
            "eval.every=300",
        ],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "stderr:\n{}", text(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["iterations"], 300);
    let acc = s["final_test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.98, "final test accuracy {acc}");
}

/// A residual network from `[model] layers`: conv, a block with a stride-2 projection
/// shortcut (1x1 conv + batch-norm), batch-norm in train and eval mode, global average
/// pooling, with random crops, one-cycle and Nesterov SGD. 3,978 parameters pass 90% on
/// 5,000 MNIST images in 400 iterations (91.7% when written).
#[test]
fn mnist_small_resnet_with_augmentation_reaches_90_percent() {
    let Some((tmp, _)) = mnist_case() else {
        return;
    };
    let cfg = write(tmp.path(), "res.toml", SMALL_RESNET);
    let out = tmp.path().join("run");
    let o = train(&cfg, &out, &[]).output().unwrap();
    assert!(o.status.success(), "stderr:\n{}", text(&o.stderr));
    let s = summary(&out);
    assert_eq!(s["iterations"], 400);
    let acc = s["final_test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.90, "final test accuracy {acc}");
}

const SMALL_RESNET: &str = r#"[data]
dataset = "mnist"
train_limit = 5000
test_limit = 1000
[data.augment]
crop_padding = 2

[model]
layers = [
  { type = "conv2d", out_channels = 8, kernel = 3, pad = 1 },
  { type = "relu" },
  { type = "residual", shortcut = "projection", layers = [
      { type = "conv2d", out_channels = 16, kernel = 3, stride = 2, pad = 1 },
      { type = "batch_norm" },
      { type = "relu" },
      { type = "conv2d", out_channels = 16, kernel = 3, pad = 1 },
      { type = "batch_norm" },
  ] },
  { type = "relu" },
  { type = "global_avg_pool" },
  { type = "dense", out = 10 },
]

[optimizer]
kind = "sgd"
momentum = 0.9
nesterov = true
weight_decay = 0.0005
convention = "pytorch"

[schedule]
policy = "one_cycle"
max_lr = 0.2
total_iterations = 400

[train]
max_iterations = 400
[eval]
every = 100
"#;

#[test]
fn early_stop_and_target_are_reported() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let o = train(&cfg, &out, &[])
        .args(sets(&["data.train_limit=6000", "model.hidden=[64]"]))
        .args(sets(&[
            "schedule.step_size=30",
            "stop.cycles=40",
            "eval.every=1000",
        ]))
        .args(sets(&[
            "stop.target_accuracy=0.85",
            "stop.min_improvement=0.5",
        ]))
        .output()
        .unwrap();
    assert!(o.status.success(), "stderr:\n{}", text(&o.stderr));
    let s = summary(&out);
    // The second cycle end cannot improve by 50 points: plateau at iteration 120.
    assert_eq!(s["stop_reason"]["kind"], "plateau", "{s}");
    assert_eq!(s["iterations"], 120);
    assert!(text(&o.stdout).contains("stopped:"));
}

/// The tensors of a safetensors file by name (raw little-endian bytes).
fn weights(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let b = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&b[8..8 + n]).unwrap();
    let data = &b[8 + n..];
    header
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .map(|(k, v)| {
            let o = &v["data_offsets"];
            let (s, e) = (
                o[0].as_u64().unwrap() as usize,
                o[1].as_u64().unwrap() as usize,
            );
            (k, data[s..e].to_vec())
        })
        .collect()
}

#[test]
fn killed_and_resumed_run_ends_with_identical_weights() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let args = [
        "--set",
        "data.train_limit=5000",
        "--set",
        "model.hidden=[64, 32]",
        "--set",
        "schedule.step_size=100",
        "--set",
        "stop.cycles=5",
        "--set",
        "checkpoint.every=50",
        "--set",
        "eval.every=100",
    ];
    let full = tmp.path().join("full");
    let o = train(&cfg, &full, &["--threads", "2"])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));

    let part = tmp.path().join("part");
    let child = train(&cfg, &part, &["--threads", "2"])
        .args(args)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !part.join("checkpoints/latest").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill_unfinished(child, &part);

    let o = resume(&part, &["--threads", "2"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("resuming"), "{}", text(&o.stderr));
    assert_eq!(summary(&part)["iterations"], 1000);
    let (a, b) = (weights(&full), weights(&part));
    assert!(
        a.len() >= 6,
        "expected the MLP's tensors, found {:?}",
        a.keys()
    );
    assert!(a == b, "resumed weights differ from the uninterrupted run");
    let strip = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(
        strip(&full),
        strip(&part),
        "metrics differ (apart from elapsed time)"
    );
}

#[test]
fn a_diverging_run_stops_cleanly_with_a_hint() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let o = train(&cfg, &out, &[])
        .args(sets(&[
            "schedule.max_lr=1e6",
            "schedule.base_lr=1e5",
            "data.train_limit=2000",
        ]))
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("max_lr") && err.contains("range-test"),
        "{err}"
    );
    let s = summary(&out);
    assert_eq!(s["stop_reason"]["kind"], "diverged");
}

#[test]
fn bad_configs_name_the_file_key_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "unknown key",
            "[schedule]\npolicy = \"triangular\"\n",
            &["stepsize = 3"],
        ),
        ("max below base", "", &["--set", "schedule.max_lr=0.001"]),
        ("bad target", "", &["--set", "stop.target_accuracy=97"]),
        ("zero batch", "", &["--set", "train.batch_size=0"]),
        ("bad override", "", &["--set", "nonsense"]),
        ("unknown policy", "", &["--set", "schedule.policy=zigzag"]),
        (
            "crop too large",
            "",
            &["--set", "data.augment.crop_padding=20"],
        ),
        (
            "smoothing of 1",
            "",
            &["--set", "train.label_smoothing=1.0"],
        ),
    ];
    for (what, _, extra) in cases {
        let (body, args): (String, Vec<&str>) = if what == "unknown key" {
            (
                MNIST_MLP.replace("step_size = 300", "stepsize = 300"),
                vec![],
            )
        } else {
            (MNIST_MLP.to_owned(), extra.to_vec())
        };
        let cfg = write(tmp.path(), "bad.toml", &body);
        let o = clr()
            .args(["train", cfg.to_str().unwrap(), "-q", "--out"])
            .arg(tmp.path().join("r"))
            .args(&args)
            .output()
            .unwrap();
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{what}: succeeded");
        assert!(!err.contains("panicked"), "{what}: {err}");
        match what {
            "unknown key" => assert!(
                err.contains("bad.toml") && err.contains("stepsize"),
                "{what}: {err}"
            ),
            "max below base" => assert!(
                err.contains("bad.toml") && err.contains("max_lr") && err.contains("0.001"),
                "{what}: {err}"
            ),
            "bad target" => assert!(
                err.contains("stop.target_accuracy") && err.contains("97"),
                "{what}: {err}"
            ),
            "zero batch" => assert!(err.contains("train.batch_size"), "{what}: {err}"),
            "crop too large" => assert!(
                err.contains("data.augment.crop_padding") && err.contains("20"),
                "{what}: {err}"
            ),
            "bad override" => assert!(
                err.contains("nonsense") && err.contains("section.key=value"),
                "{what}: {err}"
            ),
            "smoothing of 1" => assert!(
                err.contains("bad.toml")
                    && err.contains("train.label_smoothing")
                    && err.contains("up to, not including, 1"),
                "{what}: {err}"
            ),
            _ => assert!(err.contains("zigzag"), "{what}: {err}"),
        }
    }
    let o = run(&["train", "/nonexistent/run.toml"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("/nonexistent/run.toml"));
}

#[test]
fn ctrl_c_checkpoints_and_the_run_resumes() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let out = tmp.path().join("run");
    let child = train(&cfg, &out, &[])
        .args(sets(&[
            "data.train_limit=5000",
            "model.hidden=[64]",
            "checkpoint.every=0",
        ]))
        .args(sets(&["checkpoint.at_cycle_end=false", "stop.cycles=10"]))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.join("metrics.csv").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success(), "an interrupted run must exit non-zero");
    assert!(
        err.contains("interrupted") && err.contains("--resume"),
        "{err}"
    );
    assert!(
        out.join("checkpoints/latest").exists(),
        "no checkpoint on Ctrl-C"
    );
    let s = summary(&out);
    assert_eq!(s["stop_reason"]["kind"], "interrupted");
    let o = resume(&out, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(summary(&out)["iterations"], 6000);
}

/// `train.label_smoothing` reaches the loss: with e = 0.1 over 10 classes the training loss
/// cannot fall below the entropy of the smoothed target, -(0.91 ln 0.91 + 9 * 0.01 ln 0.01)
/// = 0.50, while the same run without smoothing goes well below it; both learn.
#[test]
fn label_smoothing_bounds_the_training_loss_from_below() {
    let Some((tmp, cfg)) = mnist_case() else {
        return;
    };
    let small = sets(&[
        "data.train_limit=5000",
        "data.test_limit=2000",
        "model.hidden=[64]",
        "stop.cycles=2",
    ]);
    let mut loss_and_accuracy = Vec::new();
    for e in ["0", "0.1"] {
        let out = tmp.path().join(format!("run-{e}"));
        let set = format!("train.label_smoothing={e}");
        let o = train(&cfg, &out, &small)
            .args(["--set", &set])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let rows = trainer::metrics::read_csv(&out.join("metrics.csv")).unwrap();
        let last = rows.last().unwrap();
        loss_and_accuracy.push((last.train_loss, last.test_accuracy.unwrap()));
    }
    let [(plain, plain_acc), (smoothed, smoothed_acc)] = loss_and_accuracy[..] else {
        unreachable!()
    };
    let floor = -(0.91f64 * 0.91f64.ln() + 0.09 * 0.01f64.ln());
    assert!(
        smoothed > floor && plain < floor - 0.15,
        "{plain} vs {smoothed}, floor {floor}"
    );
    assert!(
        plain_acc > 0.9 && smoothed_acc > 0.9,
        "{plain_acc} / {smoothed_acc}"
    );
}
