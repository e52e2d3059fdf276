//! Whole networks: gradients of the mean loss against central differences (f64), presets'
//! shapes, names and multipliers (ResNets' included), save/load, thread-count independence,
//! short training runs.

use ndarray::{Array4, ArrayView4};
use nn::{BatchStats, ModelSpec, Net, Network, Optimizer, OptimizerSpec, Preset, SgdConvention};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

fn spec(toml_text: &str) -> ModelSpec {
    toml::from_str(toml_text).unwrap()
}

fn batch<T: nn::Real>(n: usize, chw: [usize; 3], classes: u8, seed: u64) -> (Array4<T>, Vec<u8>) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let x = Array4::from_shape_fn((n, chw[0], chw[1], chw[2]), |_| {
        T::of(rng.gen_range(-1.0..1.0))
    });
    let y = (0..n).map(|_| rng.gen_range(0..classes)).collect();
    (x, y)
}

const MIXED: &str = r#"
layers = [
  { type = "conv2d", out_channels = 3, kernel = 3, stride = 1, pad = 1, init = { kind = "gaussian", std = 0.5 }, bias_init = { kind = "uniform", low = -0.1, high = 0.1 } },
  { type = "max_pool", kernel = 3, stride = 2, ceil = true },
  { type = "relu" },
  { type = "lrn", size = 3, alpha = 0.5, beta = 0.75, region = "within_channel" },
  { type = "conv2d", out_channels = 4, kernel = 2, stride = 2, pad = 1 },
  { type = "tanh" },
  { type = "avg_pool", kernel = 2, stride = 1, pad = 1, ceil = false },
  { type = "lrn", size = 3, alpha = 0.5, beta = 0.75 },
  { type = "dense", out = 6, lr_mult = [1.0, 2.0], decay_mult = [1.0, 0.0] },
  { type = "batch_norm" },
  { type = "sigmoid" },
  { type = "dropout", p = 0.3 },
  { type = "dense", out = 3 },
]
"#;

/// Checks every gradient of the mean loss of `spec` on a 2x7x6 batch of 4 against central
/// differences (every 25th value per tensor); returns the parameter names.
fn check_network_gradients(spec: &ModelSpec) -> Vec<String> {
    let chw = [2, 7, 6];
    let mut net = Net::<f64>::new(spec, chw, 3, 5).unwrap();
    let (x, y) = batch::<f64>(4, chw, 3, 6);
    let loss = |net: &mut Net<f64>| net.forward_backward(x.view(), &y, 9).loss_sum / 4.0;
    loss(&mut net);
    let grads: Vec<(String, Vec<f64>)> = net
        .gradients()
        .into_iter()
        .map(|(n, g)| (n, g.iter().copied().collect()))
        .collect();
    let eps = 1e-6;
    for (name, g) in &grads {
        for j in (0..g.len()).step_by((g.len() / 25).max(1)) {
            let orig = net.parameter_mut(name).unwrap().as_slice().unwrap()[j];
            net.parameter_mut(name).unwrap().as_slice_mut().unwrap()[j] = orig + eps;
            let lp = loss(&mut net);
            net.parameter_mut(name).unwrap().as_slice_mut().unwrap()[j] = orig - eps;
            let lm = loss(&mut net);
            net.parameter_mut(name).unwrap().as_slice_mut().unwrap()[j] = orig;
            let num = (lp - lm) / (2.0 * eps);
            assert!(
                (num - g[j]).abs() <= 1e-7 * (1.0 + num.abs()),
                "{name}[{j}]: {num:e} vs {:e}",
                g[j]
            );
        }
    }
    grads.into_iter().map(|(n, _)| n).collect()
}

#[test]
fn network_gradients_match_central_differences() {
    assert_eq!(check_network_gradients(&spec(MIXED)).len(), 10);
}

/// Identity, projection (`auto` on a block that changes the shape) and `pad` shortcuts.
const RESIDUAL: &str = r#"
layers = [
  { type = "conv2d", out_channels = 3, kernel = 3, pad = 1 },
  { type = "batch_norm" },
  { type = "relu" },
  { type = "residual", layers = [
      { type = "conv2d", out_channels = 3, kernel = 3, pad = 1 },
      { type = "batch_norm" },
      { type = "tanh" },
      { type = "conv2d", out_channels = 3, kernel = 3, pad = 1 },
  ] },
  { type = "tanh" },
  { type = "residual", layers = [
      { type = "conv2d", out_channels = 4, kernel = 3, stride = 2, pad = 1 },
      { type = "batch_norm" },
  ] },
  { type = "sigmoid" },
  { type = "residual", shortcut = "pad", layers = [
      { type = "conv2d", out_channels = 5, kernel = 3, stride = 2, pad = 1 },
  ] },
  { type = "global_avg_pool" },
  { type = "dense", out = 3 },
]
"#;

#[test]
fn residual_network_gradients_match_central_differences() {
    let names = check_network_gradients(&spec(RESIDUAL));
    for want in [
        "res1.conv2.bias",
        "res2.shortcut_conv1.weight",
        "res2.shortcut_bn1.weight",
        "res3.conv1.weight",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
}

#[test]
fn presets_have_the_paper_shapes_and_multipliers() {
    let full = Network::new(&ModelSpec::preset(Preset::Cifar10Full), [3, 32, 32], 10, 1).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = full
        .parameters()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("conv1.weight".into(), vec![32, 5, 5, 3]),
            ("conv1.bias".into(), vec![32]),
            ("conv2.weight".into(), vec![32, 5, 5, 32]),
            ("conv2.bias".into(), vec![32]),
            ("conv3.weight".into(), vec![64, 5, 5, 32]),
            ("conv3.bias".into(), vec![64]),
            ("fc1.weight".into(), vec![10, 1024]),
            ("fc1.bias".into(), vec![10]),
        ]
    );
    // `(lr_mult, decay_mult)` as Caffe's `cifar10_full_train_test.prototxt` gives them:
    // conv1/conv2 `param { lr_mult: 1 } param { lr_mult: 2 }` (decay_mult defaults to 1, so
    // their biases are decayed), conv3 no `param` at all, ip1
    // `param { lr_mult: 1 decay_mult: 250 } param { lr_mult: 2 decay_mult: 0 }`.
    let mults = full.multipliers();
    assert_eq!(
        mults,
        vec![
            (1.0, 1.0),
            (2.0, 1.0),
            (1.0, 1.0),
            (2.0, 1.0),
            (1.0, 1.0),
            (1.0, 1.0),
            (1.0, 250.0),
            (2.0, 0.0)
        ]
    );
    // Initial weight scales: conv1 std 1e-4, fc std 0.01, biases zero.
    let p = full.parameters();
    let std = |v: &ndarray::ArrayViewD<f32>| {
        (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!((std(&p[0].1) / 1e-4 - 1.0).abs() < 0.05);
    assert!((std(&p[6].1) / 1e-2 - 1.0).abs() < 0.05);
    assert!(p[1].1.iter().all(|&v| v == 0.0));

    let quick = Network::new(&ModelSpec::preset(Preset::Cifar10Quick), [3, 32, 32], 10, 1).unwrap();
    // cifar10_quick_train_test.prototxt: every layer `lr_mult` 1 / 2, no `decay_mult`.
    assert_eq!(quick.multipliers(), [(1.0, 1.0), (2.0, 1.0)].repeat(5));
    assert_eq!(quick.num_params(), 2432 + 25632 + 51264 + 65600 + 650);
    assert_eq!(quick.flops_per_sample(), 24_708_352);
    let lenet = Network::new(&ModelSpec::preset(Preset::Lenet), [1, 28, 28], 10, 1).unwrap();
    assert_eq!(lenet.num_params(), 431_080);
    assert_eq!(lenet.flops_per_sample(), 4_586_000);
    let mlp = Network::new(&ModelSpec::preset(Preset::Mlp), [1, 28, 28], 10, 1).unwrap();
    assert_eq!(mlp.num_params(), 784 * 512 + 512 + 512 * 256 + 256 + 2570);
    assert_eq!(mlp.flops_per_sample(), 1_070_080);
    assert!(quick.summary().contains("64x4x4"), "{}", quick.summary());
}

#[test]
fn spec_errors_name_the_problem() {
    let err = |t: &str| {
        Network::new(&spec(t), [3, 8, 8], 10, 0)
            .err()
            .unwrap()
            .to_string()
    };
    assert!(toml::from_str::<ModelSpec>("preset = \"resnet\"").is_err());
    // A typo in a conv or dense table is named with the keys allowed, as serde's
    // `deny_unknown_fields` does for the other layers.
    let typo = |t: &str| toml::from_str::<ModelSpec>(t).unwrap_err().to_string();
    let e = typo("layers = [{ type = \"dense\", out = 3, bogus = 1 }]");
    assert!(
        e.contains("unknown field `bogus`") && e.contains("lr_mult"),
        "{e}"
    );
    let e = typo("layers = [{ type = \"conv2d\", out_channels = 3, kernal = 3 }]");
    assert!(
        e.contains("unknown field `kernal`") && e.contains("`kernel`"),
        "{e}"
    );
    assert!(typo("layers = [{ type = \"conv2d\", kernel = 3 }]").contains("out_channels"));
    assert!(typo("layers = [{ type = \"dense\", out = 3, lr_mult = 2 }]").contains("lr_mult"));
    assert!(toml::from_str::<ModelSpec>("preset = \"mlp\"\nhiden = [3]").is_err());
    assert!(err("layers = [{ type = \"dense\", out = 4 }]").contains("num_classes = 10"));
    assert!(err("layers = [{ type = \"conv2d\", out_channels = 2, kernel = 11 }, { type = \"dense\", out = 10 }]").contains("conv1"));
    assert!(err("layers = [{ type = \"lrn\", size = 4, alpha = 1.0, beta = 0.75 }, { type = \"dense\", out = 10 }]").contains("odd"));
    assert!(
        err("layers = [{ type = \"dropout\", p = 1.0 }, { type = \"dense\", out = 10 }]")
            .contains("p = 1")
    );
    assert!(err("preset = \"lenet\"\nhidden = [3]").contains("mlp"));
    assert!(err("").contains("preset"));
}

#[test]
fn save_load_round_trip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let s = ModelSpec {
        batch_norm: Some(true),
        hidden: Some(vec![16]),
        ..ModelSpec::preset(Preset::Mlp)
    };
    let mut a = Network::new(&s, [1, 4, 4], 3, 1).unwrap();
    let (x, y) = batch::<f32>(8, [1, 4, 4], 3, 2);
    a.forward_backward(x.view(), &y, 0); // moves the batch-norm running statistics
    a.save(&path).unwrap();
    assert!(!dir.path().join("w.safetensors.tmp").exists());
    let mut b = Network::new(&s, [1, 4, 4], 3, 99).unwrap();
    b.load(&path).unwrap();
    for ((na, va), (nb, vb)) in a.parameters().iter().zip(b.parameters().iter()) {
        assert_eq!(na, nb);
        assert_eq!(va, vb, "{na}");
    }
    assert_eq!(
        a.evaluate(x.view(), &y).loss_sum,
        b.evaluate(x.view(), &y).loss_sum
    );
    let mut other = Network::new(
        &ModelSpec {
            hidden: Some(vec![17]),
            ..s.clone()
        },
        [1, 4, 4],
        3,
        1,
    )
    .unwrap();
    let e = other.load(&path).unwrap_err().to_string();
    assert!(e.contains("fc1.weight") && e.contains("[16, 16]"), "{e}");
}

fn train_steps(
    threads: usize,
    spec: &ModelSpec,
    chw: [usize; 3],
    steps: usize,
) -> Vec<(String, Vec<f32>)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut net = Network::new(spec, chw, 10, 3).unwrap();
        let opt_spec = OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 0.004,
            nesterov: false,
            convention: SgdConvention::Caffe,
        };
        let mut opt = Optimizer::new(&opt_spec, &net).unwrap();
        for s in 0..steps {
            let (x, y) = batch::<f32>(20, chw, 10, s as u64);
            net.forward_backward(x.view(), &y, s as u64);
            opt.step(&mut net, 0.01, None);
        }
        net.parameters()
            .into_iter()
            .map(|(n, v)| (n, v.iter().copied().collect()))
            .collect()
    })
}

#[test]
fn one_and_two_threads_give_bit_identical_weights() {
    let quick = ModelSpec::preset(Preset::Cifar10Full);
    assert_eq!(
        train_steps(1, &quick, [3, 32, 32], 2),
        train_steps(2, &quick, [3, 32, 32], 2)
    );
    let resnet = ModelSpec::preset(Preset::Resnet20);
    let trained = train_steps(1, &resnet, [3, 32, 32], 2);
    assert_eq!(trained, train_steps(2, &resnet, [3, 32, 32], 2));
    assert_ne!(trained, train_steps(1, &resnet, [3, 32, 32], 0));
    let mlp = spec("preset = \"mlp\"\nbatch_norm = true");
    assert_eq!(
        train_steps(1, &mlp, [1, 28, 28], 3),
        train_steps(2, &mlp, [1, 28, 28], 3)
    );
}

/// Accuracy on a separable synthetic task (class = which quadrant of an 8x8 image holds the
/// bright blob) after `steps` SGD steps of batch 50.
fn quadrant_accuracy(spec: &ModelSpec, steps: u64) -> f64 {
    let mut net = Network::new(spec, [1, 8, 8], 4, 1).unwrap();
    let mut opt = Optimizer::new(
        &OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
            convention: SgdConvention::Pytorch,
        },
        &net,
    )
    .unwrap();
    let make = |seed: u64| {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let labels: Vec<u8> = (0..50).map(|_| rng.gen_range(0..4)).collect();
        let x = Array4::from_shape_fn((50, 1, 8, 8), |(i, _, h, w)| {
            let q = (h / 4) * 2 + w / 4;
            let noise: f32 = rng.gen_range(-0.5..0.5);
            noise + if q == labels[i] as usize { 1.0 } else { 0.0 }
        });
        (x, labels)
    };
    for s in 0..steps {
        let (x, y) = make(s);
        net.forward_backward(x.view(), &y, s);
        opt.step(&mut net, 0.05, None);
    }
    let mut stats = BatchStats::default();
    for s in 1000..1010 {
        let (x, y) = make(s);
        stats.merge(net.evaluate(x.view(), &y));
    }
    stats.accuracy()
}

/// The MLP must learn the quadrant task to at least 95 % accuracy.
#[test]
fn mlp_learns_a_synthetic_task() {
    let acc = quadrant_accuracy(&spec("preset = \"mlp\"\nhidden = [64]"), 200);
    assert!(acc > 0.95, "accuracy {acc}");
}

/// A small residual net (identity and `pad` blocks, batch norm) must too.
#[test]
fn small_resnet_learns_a_synthetic_task() {
    let s = spec(
        r#"layers = [
        { type = "conv2d", out_channels = 8, kernel = 3, pad = 1, init = { kind = "kaiming" } },
        { type = "batch_norm" },
        { type = "relu" },
        { type = "residual", layers = [
            { type = "conv2d", out_channels = 8, kernel = 3, pad = 1, init = { kind = "kaiming" } },
            { type = "batch_norm" },
            { type = "relu" },
            { type = "conv2d", out_channels = 8, kernel = 3, pad = 1, init = { kind = "kaiming" } },
            { type = "batch_norm" },
        ] },
        { type = "relu" },
        { type = "residual", shortcut = "pad", layers = [
            { type = "conv2d", out_channels = 16, kernel = 3, stride = 2, pad = 1, init = { kind = "kaiming" } },
            { type = "batch_norm" },
        ] },
        { type = "relu" },
        { type = "max_pool", kernel = 2 },
        { type = "flatten" },
        { type = "dense", out = 4 },
    ]"#,
    );
    let acc = quadrant_accuracy(&s, 150);
    assert!(acc > 0.95, "accuracy {acc}");
}

#[test]
fn smaller_batches_reuse_buffers_and_views_may_be_strided() {
    let mut net = Network::new(&ModelSpec::preset(Preset::Lenet), [1, 28, 28], 10, 1).unwrap();
    let (x, y) = batch::<f32>(6, [1, 28, 28], 10, 1);
    let full = net.evaluate(x.view(), &y);
    let part = net.evaluate(x.slice(ndarray::s![..3, .., .., ..]), &y[..3]);
    let rest = net.evaluate(x.slice(ndarray::s![3.., .., .., ..]), &y[3..]);
    assert!((full.loss_sum - part.loss_sum - rest.loss_sum).abs() < 1e-4);
    // A non-contiguous (transposed back) view gives the same result as a contiguous copy.
    let t = x.view().permuted_axes([0, 1, 3, 2]).to_owned();
    let back: ArrayView4<f32> = t.view().permuted_axes([0, 1, 3, 2]);
    assert_eq!(net.evaluate(back, &y).loss_sum, full.loss_sum);
    // The same for a 3-channel input (its own fast copy path).
    let mut c3 =
        Network::new(&ModelSpec::preset(Preset::Cifar10Quick), [3, 32, 32], 10, 1).unwrap();
    let (x3, y3) = batch::<f32>(2, [3, 32, 32], 10, 4);
    let t3 = x3.view().permuted_axes([0, 1, 3, 2]).to_owned();
    let a = c3.evaluate(x3.view(), &y3).loss_sum;
    assert_eq!(
        c3.evaluate(t3.view().permuted_axes([0, 1, 3, 2]), &y3)
            .loss_sum,
        a
    );
    // An empty batch is a no-op, also for batch norm's running statistics.
    let mut bn = Network::new(
        &spec("preset = \"mlp\"\nbatch_norm = true"),
        [1, 28, 28],
        10,
        1,
    )
    .unwrap();
    let before: Vec<f32> = bn
        .parameters()
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let empty = x.slice(ndarray::s![..0, .., .., ..]);
    assert_eq!(bn.forward_backward(empty, &[], 0), BatchStats::default());
    assert_eq!(bn.evaluate(empty, &[]).count, 0);
    let after: Vec<f32> = bn
        .parameters()
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn specs_round_trip_through_toml() {
    for text in [
        MIXED,
        "preset = \"mlp\"\nhidden = [64, 32]\nactivation = \"tanh\"\nbatch_norm = true",
        "preset = \"cifar10_full\"",
    ] {
        let s = spec(text);
        let back: ModelSpec = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
    for text in [
        "kind = \"sgd\"\nnesterov = true\nconvention = \"pytorch\"",
        "kind = \"adam\"\nbeta1 = 0.95",
        "kind = \"rmsprop\"",
        "kind = \"adagrad\"",
        "kind = \"adadelta\"",
    ] {
        let s: OptimizerSpec = toml::from_str(text).unwrap();
        let back: OptimizerSpec = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}

#[test]
fn resnet_presets_have_he_et_al_shapes() {
    let net = Network::new(&ModelSpec::preset(Preset::Resnet20), [3, 32, 32], 10, 1).unwrap();
    // He et al.'s ResNet-20 with option A shortcuts has 269,722 parameters; the 19
    // convolutions here keep a bias held at zero (16 + 6 x 16 + 6 x 32 + 6 x 64 = 688).
    assert_eq!(net.num_params(), 269_722 + 688);
    // 40,551,040 multiply-accumulates per image: the usual "41M FLOPs".
    assert_eq!(net.flops_per_sample(), 2 * 40_551_040);
    let params = net.parameters();
    let shape = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.shape().to_vec())
    };
    assert_eq!(shape("conv1.weight"), Some(vec![16, 3, 3, 3]));
    assert_eq!(shape("res1.conv1.weight"), Some(vec![16, 3, 3, 16]));
    // The first block of stage 2 halves the image and doubles the channels.
    assert_eq!(shape("res4.conv1.weight"), Some(vec![32, 3, 3, 16]));
    assert_eq!(shape("res9.bn2.running_var"), Some(vec![64]));
    assert_eq!(shape("fc1.weight"), Some(vec![10, 64]));
    assert!(
        !params.iter().any(|(n, _)| n.contains("shortcut")),
        "no projections"
    );
    let summary = net.summary();
    assert!(summary.contains("residual") && summary.contains("global_avg_pool"));
    let depth = |p| {
        let net = Network::new(&ModelSpec::preset(p), [3, 32, 32], 10, 1).unwrap();
        let convs = net
            .parameters()
            .iter()
            .filter(|(n, _)| n.ends_with("conv1.weight") || n.ends_with("conv2.weight"))
            .count();
        convs + 1 // the classifier
    };
    assert_eq!(depth(Preset::Resnet32), 32);
    assert_eq!(depth(Preset::Resnet56), 56);
}

#[test]
fn residual_spec_errors_name_the_block() {
    let err = |text: &str| {
        Network::new(&spec(text), [3, 8, 8], 10, 1)
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(r#"layers = [
        { type = "residual", shortcut = "identity", layers = [{ type = "conv2d", out_channels = 4, kernel = 3, pad = 1 }] },
        { type = "dense", out = 10 }]"#);
    assert!(e.contains("res1") && e.contains("identity"), "{e}");
    let e = err(r#"layers = [
        { type = "residual", layers = [{ type = "conv2d", out_channels = 4, kernel = 30 }] },
        { type = "dense", out = 10 }]"#);
    assert!(e.contains("res1.conv1"), "{e}");
    let e = err(r#"layers = [{ type = "residual", layers = [] }, { type = "dense", out = 10 }]"#);
    assert!(e.contains("at least one layer"), "{e}");
}

#[test]
fn resnet_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.safetensors");
    let s = ModelSpec::preset(Preset::Resnet20);
    let mut a = Network::new(&s, [3, 32, 32], 10, 1).unwrap();
    let (x, y) = batch::<f32>(4, [3, 32, 32], 10, 2);
    a.forward_backward(x.view(), &y, 0);
    a.save(&path).unwrap();
    let mut b = Network::new(&s, [3, 32, 32], 10, 7).unwrap();
    b.load(&path).unwrap();
    assert_eq!(a.parameters(), b.parameters());
    assert_eq!(a.forward(x.view()).to_vec(), b.forward(x.view()).to_vec());
}

#[test]
fn expanded_presets_round_trip_through_json_and_toml() {
    for preset in [
        Preset::Mlp,
        Preset::Lenet,
        Preset::Cifar10Full,
        Preset::Resnet20,
    ] {
        let layers = ModelSpec::preset(preset).expand(10).unwrap();
        let spec = ModelSpec {
            layers: Some(layers),
            ..ModelSpec::default()
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            serde_json::from_str::<ModelSpec>(&json).unwrap(),
            spec,
            "{json}"
        );
        let text = toml::to_string(&spec).unwrap();
        assert_eq!(toml::from_str::<ModelSpec>(&text).unwrap(), spec, "{text}");
        // The parameter keys sit in the layer's own table.
        assert!(
            json.contains("\"lr_mult\":[1.0,") && !json.contains("params"),
            "{json}"
        );
    }
}
