//! Safetensors files are a function of what is saved: the same network and optimizer state give
//! the same bytes on every save (each save builds its metadata afresh, and a `HashMap` would
//! iterate it in a new random order), and the `safetensors` crate reads them back.

use ndarray::Array4;
use nn::{ModelSpec, Network, Optimizer, OptimizerSpec, Preset, SgdConvention};
use safetensors::SafeTensors;

const SAVES: usize = 24;

/// A small MLP with batch norm, its weights drawn from `seed`.
fn mlp(seed: u64) -> Network {
    let spec = ModelSpec {
        batch_norm: Some(true),
        hidden: Some(vec![5, 4]),
        ..ModelSpec::preset(Preset::Mlp)
    };
    Network::new(&spec, [1, 3, 3], 3, seed).unwrap()
}

/// SGD with momentum for `net`.
fn sgd(net: &Network) -> Optimizer {
    let spec = OptimizerSpec::Sgd {
        momentum: 0.9,
        weight_decay: 0.01,
        nesterov: false,
        convention: SgdConvention::Pytorch,
    };
    Optimizer::new(&spec, net).unwrap()
}

fn trained() -> (Network, Optimizer) {
    let mut net = mlp(11);
    let mut opt = sgd(&net);
    let x = Array4::from_shape_fn((4, 1, 3, 3), |(n, _, h, w)| {
        (n * 9 + h * 3 + w) as f32 * 0.05 - 0.9
    });
    for _ in 0..2 {
        net.forward_backward(x.view(), &[0, 1, 2, 1], 0);
        opt.step(&mut net, 0.1, None);
    }
    (net, opt)
}

/// The bytes of `SAVES` saves, each to its own file, checked to be identical: one of them.
fn identical_saves(save: impl Fn(&std::path::Path)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<u8>> = (0..SAVES)
        .map(|i| {
            let p = dir.path().join(format!("{i}.safetensors"));
            save(&p);
            std::fs::read(&p).unwrap()
        })
        .collect();
    for (i, f) in files.iter().enumerate() {
        assert!(f == &files[0], "save {i} differs from save 0");
    }
    files[0].clone()
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The metadata and tensor names of a file, as the `safetensors` crate reads it.
fn read_back(bytes: &[u8]) -> (Vec<(String, String)>, Vec<String>) {
    let (header_len, meta) = SafeTensors::read_metadata(bytes).unwrap();
    assert_eq!(header_len % 8, 0, "the header is padded to 8 bytes");
    let mut metadata: Vec<_> = meta.metadata().clone().unwrap().into_iter().collect();
    metadata.sort();
    let mut names = SafeTensors::deserialize(bytes)
        .unwrap()
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>();
    names.sort();
    (metadata, names)
}

#[test]
fn network_saves_are_byte_identical_and_load_back() {
    let (net, _) = trained();
    let file = identical_saves(|p| net.save(p).unwrap());
    let (metadata, names) = read_back(&file);
    let expected = [
        ("conv_weight_layout", "out,kh,kw,in"),
        ("format", "clr-nn weights"),
    ];
    assert_eq!(metadata, pairs(&expected));
    assert_eq!(names.len(), net.parameters().len());

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    std::fs::write(&p, &file).unwrap();
    let mut other = mlp(99);
    other.load(&p).unwrap();
    for ((na, va), (nb, vb)) in net.parameters().iter().zip(other.parameters().iter()) {
        assert_eq!(na, nb);
        assert_eq!(va, vb, "{na}");
    }
}

#[test]
fn optimizer_saves_are_byte_identical_and_load_back() {
    let (net, opt) = trained();
    let file = identical_saves(|p| opt.save(p).unwrap());
    let (metadata, _) = read_back(&file);
    assert_eq!(metadata, pairs(&[("kind", "sgd"), ("step", "2")]));

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("opt.safetensors");
    std::fs::write(&p, &file).unwrap();
    let mut other = sgd(&net);
    other.load(&p).unwrap();
    let again = dir.path().join("again.safetensors");
    other.save(&again).unwrap();
    assert!(
        std::fs::read(&again).unwrap() == file,
        "a loaded optimizer saves the bytes it was loaded from"
    );
}
