//! A layer of one's own through the public `Layer` trait, in a network rebuilt with
//! `Net::from_layers`.

use ndarray::Array4;
use nn::{Dims, Layer, Mode, ModelSpec, Network, NnError, Optimizer, OptimizerSpec};

/// Multiplies its input by a constant (and the gradient by the same).
struct Scale {
    dims: Dims,
    factor: f32,
}

impl Layer<f32> for Scale {
    fn kind(&self) -> &'static str {
        "scale"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn forward(&mut self, n: usize, x: &[f32], y: &mut [f32], _mode: Mode) {
        let len = n * self.dims.len();
        for (y, x) in y[..len].iter_mut().zip(&x[..len]) {
            *y = self.factor * x;
        }
    }
    fn backward(&mut self, n: usize, _x: &[f32], _y: &[f32], dy: &[f32], dx: Option<&mut [f32]>) {
        if let Some(dx) = dx {
            let len = n * self.dims.len();
            for (dx, dy) in dx[..len].iter_mut().zip(&dy[..len]) {
                *dx = self.factor * dy;
            }
        }
    }
}

fn mlp() -> Network {
    let spec: ModelSpec = toml::from_str("preset = \"mlp\"\nhidden = [16, 8]").unwrap();
    Network::new(&spec, [1, 6, 6], 4, 11).unwrap()
}

fn batch() -> (Array4<f32>, Vec<u8>) {
    let x = Array4::from_shape_fn((8, 1, 6, 6), |(n, _, h, w)| {
        ((n * 7 + h * 3 + w) % 11) as f32 / 11.0
    });
    (x, (0..8).map(|i| (i % 4) as u8).collect())
}

/// Losses of `steps` SGD steps on one batch.
fn train(net: &mut Network, steps: usize) -> Vec<f64> {
    let spec: OptimizerSpec = toml::from_str("kind = \"sgd\"\nmomentum = 0.9").unwrap();
    let mut opt = Optimizer::new(&spec, net).unwrap();
    let (x, y) = batch();
    (0..steps)
        .map(|t| {
            let s = net.forward_backward(x.view(), &y, t as u64);
            opt.step(net, 0.1, None);
            s.mean_loss()
        })
        .collect()
}

#[test]
fn rebuilt_networks_train_bit_for_bit_like_the_original() {
    let want = train(&mut mlp(), 5);
    let mut rebuilt = Network::from_layers([1, 6, 6], mlp().into_layers()).unwrap();
    assert_eq!(train(&mut rebuilt, 5), want);

    // An identity layer in the middle changes nothing; a factor of 2 changes the training.
    let mut layers = mlp().into_layers();
    let dims = layers[1].1.out_dims();
    layers.insert(2, ("id".into(), Box::new(Scale { dims, factor: 1.0 })));
    let mut with_identity = Network::from_layers([1, 6, 6], layers).unwrap();
    assert!(with_identity.summary().contains("scale"));
    assert_eq!(train(&mut with_identity, 5), want);
    let mut layers = mlp().into_layers();
    layers.insert(2, ("x2".into(), Box::new(Scale { dims, factor: 2.0 })));
    let doubled = train(&mut Network::from_layers([1, 6, 6], layers).unwrap(), 5);
    assert_ne!(doubled, want);
    assert!(doubled[4] < doubled[0], "it still learns: {doubled:?}");
}

#[test]
fn a_custom_last_layer_scales_the_logits_and_inference_needs_no_labels() {
    let (x, _) = batch();
    let mut plain = mlp();
    let logits = plain.forward(x.view()).to_vec();
    let mut layers = mlp().into_layers();
    let dims = layers.last().unwrap().1.out_dims();
    layers.push(("x2".into(), Box::new(Scale { dims, factor: 2.0 })));
    let mut net = Network::from_layers([1, 6, 6], layers).unwrap();
    let doubled: Vec<f32> = net.forward(x.view()).to_vec();
    assert_eq!(doubled.len(), 8 * 4);
    for (d, l) in doubled.iter().zip(&logits) {
        assert_eq!(*d, 2.0 * l);
    }
    assert_eq!(net.predict(x.view()), plain.predict(x.view()));
}

#[test]
fn layers_that_do_not_chain_are_refused_naming_the_layer() {
    let mut layers = mlp().into_layers();
    let wrong = Dims { c: 5, h: 1, w: 1 };
    layers.insert(
        2,
        (
            "odd".into(),
            Box::new(Scale {
                dims: wrong,
                factor: 1.0,
            }),
        ),
    );
    let Err(e) = Network::from_layers([1, 6, 6], layers) else {
        panic!("a 5-value layer after a 16-value one must be refused");
    };
    assert!(matches!(e, NnError::InvalidModel(_)), "{e}");
    assert!(e.to_string().contains("`odd` (scale) takes 5x1x1"), "{e}");
    let Err(e) = Network::from_layers([1, 6, 6], Vec::new()) else {
        panic!("no layers");
    };
    assert!(e.to_string().contains("at least one layer"), "{e}");
    let Err(e) = Network::from_layers([1, 7, 6], mlp().into_layers()) else {
        panic!("another input shape");
    };
    assert!(e.to_string().contains("gets 1x7x6"), "{e}");
}

/// Counts its backward calls and the input gradients asked of it.
struct Probe {
    dims: Dims,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Layer<f32> for Probe {
    fn kind(&self) -> &'static str {
        "probe"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn forward(&mut self, n: usize, x: &[f32], y: &mut [f32], _mode: Mode) {
        let len = n * self.dims.len();
        y[..len].copy_from_slice(&x[..len]);
    }
    fn backward(&mut self, n: usize, _x: &[f32], _y: &[f32], dy: &[f32], dx: Option<&mut [f32]>) {
        let dx = dx.expect("called, so it must be after a trainable layer, which needs dx");
        let len = n * self.dims.len();
        dx[..len].copy_from_slice(&dy[..len]);
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn backward_stops_at_the_first_trainable_layer() {
    use std::sync::{atomic::AtomicUsize, atomic::Ordering, Arc};
    let (front, middle) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut layers = mlp().into_layers();
    let dims = layers[1].1.out_dims();
    // Before the flatten and the first dense layer: nothing there has a gradient to receive.
    let probe = |d, calls: &Arc<AtomicUsize>| -> Box<dyn Layer<f32>> {
        Box::new(Probe {
            dims: d,
            calls: calls.clone(),
        })
    };
    layers.insert(2, ("middle".into(), probe(dims, &middle)));
    let input = Dims { c: 1, h: 6, w: 6 };
    layers.insert(0, ("front".into(), probe(input, &front)));
    let mut net = Network::from_layers([1, 6, 6], layers).unwrap();
    let want = train(&mut mlp(), 3);
    assert_eq!(train(&mut net, 3), want);
    assert_eq!(front.load(Ordering::Relaxed), 0);
    assert_eq!(middle.load(Ordering::Relaxed), 3);
}
