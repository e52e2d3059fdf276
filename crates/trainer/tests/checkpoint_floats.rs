//! The loop state of a checkpoint (`state.json`) gives back every `f64` bit for bit, so the
//! `metrics.csv` rows a resumed run rewrites from it print exactly as they did before the
//! interruption.

use nn::{ModelSpec, Network, Optimizer, OptimizerSpec, Preset, SgdConvention};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use trainer::checkpoint::{self, LoopState};
use trainer::metrics::{self, Row, Smoother};
use trainer::stop::PlateauTracker;

/// Values that serde_json's default (not correctly rounded) parser reads back one ulp off:
/// shortest round-trip decimals of learning rates, losses and accuracies among them.
const MISREAD_BY_THE_DEFAULT_PARSER: [f64; 7] = [
    0.013600000000000001,
    0.014499999999999999,
    0.45278131564040924,
    2.1348583389992726,
    2.5575700216052146,
    1.2270068823758293e-5,
    2.4991680318334886e-303,
];

/// Finite values: the list above, then random bit patterns and random values in the ranges
/// a run records (about a third of either kind were misread before).
fn values(n: usize) -> Vec<f64> {
    let mut rng = Pcg64::seed_from_u64(5);
    let mut v = MISREAD_BY_THE_DEFAULT_PARSER.to_vec();
    while v.len() < n {
        let bits = f64::from_bits(rng.gen::<u64>());
        if bits.is_finite() {
            v.push(bits);
        }
        v.push(rng.gen::<f64>());
        v.push(rng.gen::<f64>() * 3.0);
        v.push(0.001 + rng.gen_range(0..100_000) as f64 * 1e-7);
    }
    v
}

fn rows(v: &[f64]) -> Vec<Row> {
    v.chunks_exact(8)
        .enumerate()
        .map(|(i, c)| Row {
            iteration: 10 * i as u64 + 10,
            epoch: c[0],
            cycle: i as u64 / 7,
            lr: c[1],
            momentum: (i % 2 == 0).then_some(c[2]),
            train_loss: c[3],
            train_accuracy: c[4],
            test_loss: (i % 3 == 0).then_some(c[5]),
            test_accuracy: (i % 3 == 0).then_some(c[6]),
            elapsed_seconds: c[7],
        })
        .collect()
}

/// A loop state through its JSON form, so that fields added to it keep their defaults here.
fn state(rows: Vec<Row>, smoother: Smoother, seconds: f64) -> LoopState {
    serde_json::from_value(serde_json::json!({
        "iteration": 1234,
        "threads": 2,
        "best": [rows[0].lr, 700],
        "iterations_to_target": null,
        "plateau": PlateauTracker::default(),
        "smoother": smoother,
        "rows": rows,
        "train_seconds": seconds,
        "elapsed_seconds": seconds * 1.5,
    }))
    .unwrap()
}

/// Saves `state` as a checkpoint of a tiny network and loads it back.
fn through_a_checkpoint(state: &LoopState) -> LoopState {
    let dir = tempfile::tempdir().unwrap();
    let spec = ModelSpec {
        hidden: Some(vec![2]),
        ..ModelSpec::preset(Preset::Mlp)
    };
    let mut net = Network::new(&spec, [1, 2, 2], 2, 1).unwrap();
    let sgd = OptimizerSpec::Sgd {
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: false,
        convention: SgdConvention::Pytorch,
    };
    let mut opt = Optimizer::new(&sgd, &net).unwrap();
    let ckpt = checkpoint::save(dir.path(), &net, &opt, state).unwrap();
    checkpoint::load(&ckpt, &mut net, &mut opt).unwrap()
}

/// Every float of every row, as bits.
fn bits(rows: &[Row]) -> Vec<(u64, [Option<u64>; 8])> {
    rows.iter()
        .map(|r| {
            let v = [
                Some(r.epoch),
                Some(r.lr),
                r.momentum,
                Some(r.train_loss),
                Some(r.train_accuracy),
                r.test_loss,
                r.test_accuracy,
                Some(r.elapsed_seconds),
            ];
            (r.iteration, v.map(|v| v.map(f64::to_bits)))
        })
        .collect()
}

/// Fails on the first row whose floats differ.
fn assert_same_rows(after: &[Row], before: &[Row]) {
    assert_eq!(after.len(), before.len());
    for ((a, b), (ra, rb)) in bits(after)
        .iter()
        .zip(bits(before))
        .zip(after.iter().zip(before))
    {
        assert!(*a == b, "row of iteration {} changed:\n{ra:?}\n{rb:?}", b.0);
    }
}

#[test]
fn checkpointed_rows_come_back_bit_for_bit_and_print_the_same() {
    let v = values(4000);
    let mut smoother = Smoother::new(100);
    for (i, &x) in v.iter().take(100).enumerate() {
        smoother.push(x, i % 7, 10);
    }
    let before = state(rows(&v), smoother, v[3]);
    let after = through_a_checkpoint(&before);
    assert_same_rows(&after.rows, &before.rows);
    assert_eq!(metrics::to_csv(&after.rows), metrics::to_csv(&before.rows));
    assert_eq!(
        after.smoother.loss().to_bits(),
        before.smoother.loss().to_bits()
    );
    assert_eq!(
        after.best.map(|b| b.0.to_bits()),
        before.best.map(|b| b.0.to_bits())
    );
    assert_eq!(
        after.train_seconds.to_bits(),
        before.train_seconds.to_bits()
    );
    assert_eq!(
        after.elapsed_seconds.to_bits(),
        before.elapsed_seconds.to_bits()
    );
}

/// JSON has no NaN or infinity (serde_json writes `null`): a test loss that went NaN at the
/// checkpoint's evaluation still prints `NaN`, not an empty field, after the resume.
#[test]
fn non_finite_values_in_rows_survive_a_checkpoint() {
    let mut r = rows(&values(16));
    r[0].test_loss = Some(f64::NAN);
    r[0].test_accuracy = Some(0.1);
    r[1].train_loss = f64::INFINITY;
    r[1].test_loss = Some(f64::NEG_INFINITY);
    r[1].lr = -0.0;
    let before = state(r, Smoother::new(3), 1.0);
    let after = through_a_checkpoint(&before);
    let csv = metrics::to_csv(&after.rows);
    assert_eq!(csv, metrics::to_csv(&before.rows));
    assert!(csv.contains(",NaN,0.1,"), "{csv}");
    assert!(csv.contains(",inf,") && csv.contains(",-inf,"), "{csv}");
    assert_eq!(after.rows[1].lr.to_bits(), (-0.0f64).to_bits());
}
