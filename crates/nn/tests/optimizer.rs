//! Optimizers on a network: per-parameter multipliers, momentum override, state save/load.

use ndarray::Array4;
use nn::{ModelSpec, Network, Optimizer, OptimizerSpec, SgdConvention};

fn net() -> (Network, Array4<f32>, Vec<u8>) {
    let spec: ModelSpec = toml::from_str(
        r#"layers = [{ type = "dense", out = 3, lr_mult = [1.0, 2.0], decay_mult = [1.0, 0.0], bias_init = { kind = "constant", value = 0.5 } }]"#,
    )
    .unwrap();
    let net = Network::new(&spec, [2, 1, 2], 3, 4).unwrap();
    let x = Array4::from_shape_fn((4, 2, 1, 2), |(n, c, _, w)| {
        (n * 4 + c * 2 + w) as f32 * 0.1 - 0.7
    });
    (net, x, vec![0, 2, 1, 2])
}

fn flat(net: &Network) -> Vec<Vec<f32>> {
    net.parameters()
        .iter()
        .map(|(_, v)| v.iter().copied().collect())
        .collect()
}

#[test]
fn lr_and_decay_multipliers_apply_per_parameter() {
    let (mut net, x, y) = net();
    net.forward_backward(x.view(), &y, 0);
    let before = flat(&net);
    let grads: Vec<Vec<f32>> = net
        .gradients()
        .iter()
        .map(|(_, g)| g.iter().copied().collect())
        .collect();
    let spec = OptimizerSpec::Sgd {
        momentum: 0.9,
        weight_decay: 0.5,
        nesterov: false,
        convention: SgdConvention::Caffe,
    };
    let mut opt = Optimizer::new(&spec, &net).unwrap();
    // Momentum overridden to 0 for this step: w -= lr * lr_mult * (g + wd * decay_mult * w).
    opt.step(&mut net, 0.1, Some(0.0));
    let after = flat(&net);
    for j in 0..before[0].len() {
        let want = before[0][j] - 0.1 * (grads[0][j] + 0.5 * before[0][j]);
        assert!((after[0][j] - want).abs() < 1e-6);
    }
    for j in 0..3 {
        let want = before[1][j] - 0.2 * grads[1][j];
        assert!((after[1][j] - want).abs() < 1e-6);
    }
}

#[test]
fn state_round_trip_resumes_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    for spec in [
        OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: true,
            convention: SgdConvention::Pytorch,
        },
        OptimizerSpec::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        OptimizerSpec::Adadelta {
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
        },
    ] {
        let (mut a, x, y) = net();
        let mut oa = Optimizer::new(&spec, &a).unwrap();
        for _ in 0..3 {
            a.forward_backward(x.view(), &y, 0);
            oa.step(&mut a, 0.05, None);
        }
        oa.save(&path).unwrap();
        let (mut b, _, _) = net();
        for ((_, src), name) in a.parameters().iter().zip(["fc1.weight", "fc1.bias"]) {
            b.parameter_mut(name).unwrap().assign(src);
        }
        let mut ob = Optimizer::new(&spec, &b).unwrap();
        ob.load(&path).unwrap();
        assert_eq!(ob.steps(), 3);
        for (net, opt) in [(&mut a, &mut oa), (&mut b, &mut ob)] {
            net.forward_backward(x.view(), &y, 0);
            opt.step(net, 0.05, None);
        }
        assert_eq!(flat(&a), flat(&b), "{spec:?}");
    }
    // Another kind's state is refused.
    let (n, _, _) = net();
    let mut adam = Optimizer::new(
        &OptimizerSpec::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        &n,
    )
    .unwrap();
    let sgd_state = Optimizer::new(
        &OptimizerSpec::Adagrad {
            eps: 1e-10,
            weight_decay: 0.0,
        },
        &n,
    )
    .unwrap();
    sgd_state.save(&path).unwrap();
    assert!(adam
        .load(&path)
        .unwrap_err()
        .to_string()
        .contains("adagrad"));
}
