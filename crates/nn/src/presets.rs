//! The layer lists of the presets: Caffe's MNIST and CIFAR-10 nets as their prototxt files
//! give them, the MLP, and He et al.'s CIFAR ResNets.

use crate::init::{InitSpec, VarianceNorm};
use crate::spec::{
    bn_eps, bn_momentum, ActivationSpec, Conv2dSpec, DenseSpec, LayerSpec, LrnRegionSpec,
    ModelSpec, ParamSpec, PoolSpec, ShortcutSpec,
};

fn dense(out: usize, init: InitSpec, lr_mult: [f64; 2], decay_mult: [f64; 2]) -> LayerSpec {
    LayerSpec::Dense(DenseSpec::new(
        out,
        ParamSpec::new(init, lr_mult, decay_mult),
    ))
}

fn conv(
    out_channels: usize,
    pad: usize,
    init: InitSpec,
    lr_mult: [f64; 2],
    decay_mult: [f64; 2],
) -> LayerSpec {
    let params = ParamSpec::new(init, lr_mult, decay_mult);
    LayerSpec::Conv2d(Conv2dSpec::new(out_channels, 5, pad, params))
}

fn gauss(std: f64) -> InitSpec {
    InitSpec::Gaussian { mean: 0.0, std }
}

fn pool(max: bool, kernel: usize, stride: usize) -> LayerSpec {
    let p = PoolSpec::caffe(kernel, stride);
    if max {
        LayerSpec::MaxPool(p)
    } else {
        LayerSpec::AvgPool(p)
    }
}

pub(crate) fn mlp(
    hidden: &[usize],
    act: ActivationSpec,
    bn: bool,
    classes: usize,
) -> Vec<LayerSpec> {
    let init = match act {
        ActivationSpec::Relu => he(),
        _ => InitSpec::Xavier {
            variance_norm: None,
        },
    };
    let mut layers = vec![LayerSpec::Flatten];
    for &h in hidden {
        layers.push(dense(h, init.clone(), [1.0, 1.0], [1.0, 1.0]));
        if bn {
            layers.push(LayerSpec::BatchNorm {
                eps: bn_eps(),
                momentum: bn_momentum(),
            });
        }
        layers.push(match act {
            ActivationSpec::Relu => LayerSpec::Relu,
            ActivationSpec::Sigmoid => LayerSpec::Sigmoid,
            ActivationSpec::Tanh => LayerSpec::Tanh,
        });
    }
    layers.push(dense(
        classes,
        InitSpec::Xavier {
            variance_norm: None,
        },
        [1.0, 1.0],
        [1.0, 1.0],
    ));
    layers
}

pub(crate) fn lenet(classes: usize) -> Vec<LayerSpec> {
    let xavier = InitSpec::Xavier {
        variance_norm: Some(VarianceNorm::FanIn),
    };
    let m = [1.0, 2.0];
    let d = [1.0, 1.0];
    let c = |out| {
        let params = ParamSpec::new(xavier.clone(), m, d);
        LayerSpec::Conv2d(Conv2dSpec::new(out, 5, 0, params))
    };
    vec![
        c(20),
        pool(true, 2, 2),
        c(50),
        pool(true, 2, 2),
        LayerSpec::Flatten,
        dense(500, xavier.clone(), m, d),
        LayerSpec::Relu,
        dense(classes, xavier.clone(), m, d),
    ]
}

pub(crate) fn cifar10_quick(classes: usize) -> Vec<LayerSpec> {
    let m = [1.0, 2.0];
    let d = [1.0, 1.0];
    vec![
        conv(32, 2, gauss(1e-4), m, d),
        pool(true, 3, 2),
        LayerSpec::Relu,
        conv(32, 2, gauss(0.01), m, d),
        LayerSpec::Relu,
        pool(false, 3, 2),
        conv(64, 2, gauss(0.01), m, d),
        LayerSpec::Relu,
        pool(false, 3, 2),
        LayerSpec::Flatten,
        dense(64, gauss(0.1), m, d),
        dense(classes, gauss(0.1), m, d),
    ]
}

pub(crate) fn cifar10_full(classes: usize) -> Vec<LayerSpec> {
    let lrn = || LayerSpec::Lrn {
        size: 3,
        alpha: 5e-5,
        beta: 0.75,
        k: 1.0,
        region: LrnRegionSpec::WithinChannel,
    };
    // Multipliers as in Caffe's `cifar10_full_train_test.prototxt`: conv1 and conv2 set only
    // `lr_mult` (so both their blobs keep `decay_mult` 1, biases decayed), conv3 sets nothing,
    // ip1 sets `decay_mult` 250 for the weights and 0 for the bias.
    vec![
        conv(32, 2, gauss(1e-4), [1.0, 2.0], [1.0, 1.0]),
        pool(true, 3, 2),
        LayerSpec::Relu,
        lrn(),
        conv(32, 2, gauss(0.01), [1.0, 2.0], [1.0, 1.0]),
        LayerSpec::Relu,
        pool(false, 3, 2),
        lrn(),
        conv(64, 2, gauss(0.01), [1.0, 1.0], [1.0, 1.0]),
        LayerSpec::Relu,
        pool(false, 3, 2),
        LayerSpec::Flatten,
        dense(classes, gauss(0.01), [1.0, 2.0], [250.0, 0.0]),
    ]
}

impl ModelSpec {
    /// The projection shortcut of a residual block: 1x1 conv of `stride` to `out_channels`
    /// (He init, bias held at zero), batch norm.
    pub(crate) fn projection(out_channels: usize, stride: usize) -> Vec<LayerSpec> {
        vec![
            conv_bn_input(out_channels, 1, stride),
            LayerSpec::BatchNorm {
                eps: bn_eps(),
                momentum: bn_momentum(),
            },
        ]
    }
}

/// A `kernel` x `kernel` convolution feeding batch norm: He init, "same" padding, a bias
/// held at zero (batch norm's shift does its work).
fn conv_bn_input(out_channels: usize, kernel: usize, stride: usize) -> LayerSpec {
    let params = ParamSpec::new(he(), [1.0, 0.0], [1.0, 0.0]);
    LayerSpec::Conv2d(Conv2dSpec {
        stride,
        ..Conv2dSpec::new(out_channels, kernel, kernel / 2, params)
    })
}

fn he() -> InitSpec {
    InitSpec::Kaiming {
        variance_norm: None,
    }
}

/// He et al.'s CIFAR ResNet with `n` blocks per stage (depth 6n + 2).
pub(crate) fn resnet(n: usize, classes: usize) -> Vec<LayerSpec> {
    let bn = || LayerSpec::BatchNorm {
        eps: bn_eps(),
        momentum: bn_momentum(),
    };
    let mut layers = vec![conv_bn_input(16, 3, 1), bn(), LayerSpec::Relu];
    for (stage, channels) in [16, 32, 64].into_iter().enumerate() {
        for block in 0..n {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            layers.push(LayerSpec::Residual {
                layers: vec![
                    conv_bn_input(channels, 3, stride),
                    bn(),
                    LayerSpec::Relu,
                    conv_bn_input(channels, 3, 1),
                    bn(),
                ],
                shortcut: if stride == 1 {
                    ShortcutSpec::Identity
                } else {
                    ShortcutSpec::Pad
                },
            });
            layers.push(LayerSpec::Relu);
        }
    }
    layers.push(LayerSpec::GlobalAvgPool);
    layers.push(dense(classes, he(), [1.0, 1.0], [1.0, 1.0]));
    layers
}
