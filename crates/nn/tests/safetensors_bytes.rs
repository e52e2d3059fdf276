//! Safetensors files are a function of what is saved: the same network and optimizer state give
//! the same bytes on every save (each save builds its metadata afresh, and a `HashMap` would
//! iterate it in a new random order), and the `safetensors` crate reads them back.

use ndarray::Array4;
use nn::{ModelSpec, Network, Optimizer, OptimizerSpec, Preset, SgdConvention};
use safetensors::SafeTensors;

const SAVES: usize = 24;

fn trained() -> (Network, Optimizer) {
    let spec = ModelSpec {
        batch_norm: Some(true),
        hidden: Some(vec![5, 4]),
        ..ModelSpec::preset(Preset::Mlp)
    };
    let mut net = Network::new(&spec, [1, 3, 3], 3, 11).unwrap();
    let mut opt = Optimizer::new(
        &OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: false,
            convention: SgdConvention::Pytorch,
        },
        &net,
    )
    .unwrap();
    let x = Array4::from_shape_fn((4, 1, 3, 3), |(n, _, h, w)| {
        (n * 9 + h * 3 + w) as f32 * 0.05 - 0.9
    });
    for _ in 0..2 {
        net.forward_backward(x.view(), &[0, 1, 2, 1], 0);
        opt.step(&mut net, 0.1, None);
    }
    (net, opt)
}

/// The bytes of `SAVES` saves, each to its own file.
fn saves(save: impl Fn(&std::path::Path)) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    (0..SAVES)
        .map(|i| {
            let p = dir.path().join(format!("{i}.safetensors"));
            save(&p);
            std::fs::read(&p).unwrap()
        })
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
    let files = saves(|p| net.save(p).unwrap());
    for (i, f) in files.iter().enumerate() {
        assert!(f == &files[0], "save {i} differs from save 0");
    }
    let (metadata, names) = read_back(&files[0]);
    assert_eq!(
        metadata,
        [
            ("conv_weight_layout".to_string(), "out,kh,kw,in".to_string()),
            ("format".to_string(), "clr-nn weights".to_string()),
        ]
    );
    assert_eq!(names.len(), net.parameters().len());

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    std::fs::write(&p, &files[0]).unwrap();
    let spec = ModelSpec {
        batch_norm: Some(true),
        hidden: Some(vec![5, 4]),
        ..ModelSpec::preset(Preset::Mlp)
    };
    let mut other = Network::new(&spec, [1, 3, 3], 3, 99).unwrap();
    other.load(&p).unwrap();
    for ((na, va), (nb, vb)) in net.parameters().iter().zip(other.parameters().iter()) {
        assert_eq!(na, nb);
        assert_eq!(va, vb, "{na}");
    }
}

#[test]
fn optimizer_saves_are_byte_identical_and_load_back() {
    let (net, opt) = trained();
    let files = saves(|p| opt.save(p).unwrap());
    for (i, f) in files.iter().enumerate() {
        assert!(f == &files[0], "save {i} differs from save 0");
    }
    let (metadata, _) = read_back(&files[0]);
    assert_eq!(
        metadata,
        [
            ("kind".to_string(), "sgd".to_string()),
            ("step".to_string(), "2".to_string()),
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("opt.safetensors");
    std::fs::write(&p, &files[0]).unwrap();
    let mut other = Optimizer::new(
        &OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: false,
            convention: SgdConvention::Pytorch,
        },
        &net,
    )
    .unwrap();
    other.load(&p).unwrap();
    let again = dir.path().join("again.safetensors");
    other.save(&again).unwrap();
    assert!(
        std::fs::read(&again).unwrap() == files[0],
        "a loaded optimizer saves the bytes it was loaded from"
    );
}
