//! The `[model]` table: a preset or an explicit list of layers.

use crate::init::{InitSpec, VarianceNorm};
use crate::NnError;
use serde::{Deserialize, Serialize};

/// A named network from the paper and its benchmarks.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Multi-layer perceptron, `hidden` sizes (default `[512, 256]`), `activation`, optional
    /// batch norm after each hidden dense layer.
    Mlp,
    /// Caffe's LeNet: conv20 5x5, max pool 2, conv50 5x5, max pool 2, fc500, ReLU, fc; Caffe's
    /// `xavier` (fan-in) weights, zero biases at 2x LR.
    Lenet,
    /// Caffe's `cifar10_quick`.
    Cifar10Quick,
    /// Caffe's `cifar10_full`, the network of the paper's Table 1.
    Cifar10Full,
}

/// Element-wise activation of the `mlp` preset.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActivationSpec {
    /// `max(x, 0)` (default).
    #[default]
    Relu,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
}

/// LRN neighbourhood (Caffe's `norm_region`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LrnRegionSpec {
    /// `size` adjacent channels (Caffe's default).
    #[default]
    AcrossChannels,
    /// `size x size` pixels of the same channel.
    WithinChannel,
}

fn one() -> usize {
    1
}
fn mult_ones() -> [f64; 2] {
    [1.0, 1.0]
}
fn bn_eps() -> f64 {
    1e-5
}
fn bn_momentum() -> f64 {
    0.1
}
fn lrn_k() -> f64 {
    1.0
}

/// The window of a `max_pool` or `avg_pool` layer.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Window size.
    pub kernel: usize,
    /// Stride (default: the kernel size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<usize>,
    /// Padding (default 0).
    #[serde(default)]
    pub pad: usize,
    /// Round the output size up (Caffe) instead of down (PyTorch, the default).
    #[serde(default)]
    pub ceil: bool,
}

impl PoolSpec {
    /// Caffe's pooling of the CIFAR-10 nets: `kernel`, `stride`, no padding, rounding up.
    pub fn caffe(kernel: usize, stride: usize) -> Self {
        Self {
            kernel,
            stride: Some(stride),
            pad: 0,
            ceil: true,
        }
    }

    /// The stride, the kernel size when not given.
    pub fn stride(&self) -> usize {
        self.stride.unwrap_or(self.kernel)
    }
}

/// One layer of an explicit `layers = [...]` list, selected by `type`.
///
/// Parameterized layers take an optional `name` (default `conv<i>`, `fc<i>`, `bn<i>` counted
/// per type from 1), `init` for the weights (default `xavier`), `bias_init` (default constant
/// 0), and `lr_mult` / `decay_mult` pairs `[weight, bias]` (default `[1, 1]`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// 2-D convolution with square kernel, stride and zero padding.
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride (default 1).
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on each side (default 0).
        #[serde(default)]
        pad: usize,
        /// Weight initializer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        init: Option<InitSpec>,
        /// Bias initializer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bias_init: Option<InitSpec>,
        /// Learning-rate multipliers `[weight, bias]`.
        #[serde(default = "mult_ones")]
        lr_mult: [f64; 2],
        /// Weight-decay multipliers `[weight, bias]`.
        #[serde(default = "mult_ones")]
        decay_mult: [f64; 2],
        /// Parameter name prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Fully connected layer (a non-flat input is flattened first, channel-major).
    Dense {
        /// Output features.
        out: usize,
        /// Weight initializer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        init: Option<InitSpec>,
        /// Bias initializer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bias_init: Option<InitSpec>,
        /// Learning-rate multipliers `[weight, bias]`.
        #[serde(default = "mult_ones")]
        lr_mult: [f64; 2],
        /// Weight-decay multipliers `[weight, bias]`.
        #[serde(default = "mult_ones")]
        decay_mult: [f64; 2],
        /// Parameter name prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Max pooling.
    MaxPool(PoolSpec),
    /// Average pooling (Caffe's divisor; see the `pool` module docs).
    AvgPool(PoolSpec),
    /// `max(x, 0)`.
    Relu,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Local response normalization (Caffe formulas).
    Lrn {
        /// Window size (odd).
        size: usize,
        /// Scale.
        alpha: f64,
        /// Exponent.
        beta: f64,
        /// Additive constant (default 1).
        #[serde(default = "lrn_k")]
        k: f64,
        /// Neighbourhood (default `across_channels`).
        #[serde(default)]
        region: LrnRegionSpec,
    },
    /// Inverted dropout with drop probability `p`.
    Dropout {
        /// Probability of zeroing a value, in `[0, 1)`.
        p: f64,
    },
    /// Batch normalization per channel.
    BatchNorm {
        /// Added to the variance (default 1e-5).
        #[serde(default = "bn_eps")]
        eps: f64,
        /// Running-statistics momentum (default 0.1, PyTorch's convention).
        #[serde(default = "bn_momentum")]
        momentum: f64,
    },
    /// Flatten to a feature vector (channel-major order).
    Flatten,
}

/// The `[model]` table: either `preset = "..."` (with `hidden`, `activation`, `batch_norm` for
/// `mlp`) or `layers = [...]`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// A named network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// `mlp` only: hidden layer sizes (default `[512, 256]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// `mlp` only: activation (default `relu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<ActivationSpec>,
    /// `mlp` only: batch norm after each hidden dense layer (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_norm: Option<bool>,
    /// An explicit list of layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerSpec>>,
}

impl ModelSpec {
    /// A preset with its defaults.
    pub fn preset(preset: Preset) -> Self {
        Self {
            preset: Some(preset),
            ..Self::default()
        }
    }

    /// The explicit layer list this spec stands for; the classifier of a preset has
    /// `num_classes` outputs.
    ///
    /// # Errors
    /// [`NnError::InvalidModel`] if both or neither of `preset` and `layers` are given, or
    /// `hidden`/`activation`/`batch_norm` are used with anything but `preset = "mlp"`.
    pub fn expand(&self, num_classes: usize) -> Result<Vec<LayerSpec>, NnError> {
        let invalid = |m: &str| Err(NnError::InvalidModel(m.to_string()));
        let mlp_keys =
            self.hidden.is_some() || self.activation.is_some() || self.batch_norm.is_some();
        match (&self.preset, &self.layers) {
            (Some(_), Some(_)) => invalid("give either `preset` or `layers`, not both"),
            (None, None) => invalid(
                "give `preset` (mlp, lenet, cifar10_quick, cifar10_full) or a `layers` list",
            ),
            (None, Some(layers)) if mlp_keys => {
                let _ = layers;
                invalid("`hidden`, `activation` and `batch_norm` apply to `preset = \"mlp\"` only")
            }
            (None, Some(layers)) => Ok(layers.clone()),
            (Some(Preset::Mlp), None) => {
                let hidden = self.hidden.clone().unwrap_or_else(|| vec![512, 256]);
                Ok(mlp(
                    &hidden,
                    self.activation.unwrap_or_default(),
                    self.batch_norm.unwrap_or(false),
                    num_classes,
                ))
            }
            (Some(_), None) if mlp_keys => {
                invalid("`hidden`, `activation` and `batch_norm` apply to `preset = \"mlp\"` only")
            }
            (Some(Preset::Lenet), None) => Ok(lenet(num_classes)),
            (Some(Preset::Cifar10Quick), None) => Ok(cifar10_quick(num_classes)),
            (Some(Preset::Cifar10Full), None) => Ok(cifar10_full(num_classes)),
        }
    }
}

fn dense(out: usize, init: InitSpec, lr_mult: [f64; 2], decay_mult: [f64; 2]) -> LayerSpec {
    LayerSpec::Dense {
        out,
        init: Some(init),
        bias_init: None,
        lr_mult,
        decay_mult,
        name: None,
    }
}

fn conv(
    out_channels: usize,
    pad: usize,
    init: InitSpec,
    lr_mult: [f64; 2],
    decay_mult: [f64; 2],
) -> LayerSpec {
    LayerSpec::Conv2d {
        out_channels,
        kernel: 5,
        stride: 1,
        pad,
        init: Some(init),
        bias_init: None,
        lr_mult,
        decay_mult,
        name: None,
    }
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

fn mlp(hidden: &[usize], act: ActivationSpec, bn: bool, classes: usize) -> Vec<LayerSpec> {
    let init = match act {
        ActivationSpec::Relu => InitSpec::Kaiming {
            variance_norm: None,
        },
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

fn lenet(classes: usize) -> Vec<LayerSpec> {
    let xavier = InitSpec::Xavier {
        variance_norm: Some(VarianceNorm::FanIn),
    };
    let m = [1.0, 2.0];
    let d = [1.0, 1.0];
    let c = |out| LayerSpec::Conv2d {
        out_channels: out,
        kernel: 5,
        stride: 1,
        pad: 0,
        init: Some(xavier.clone()),
        bias_init: None,
        lr_mult: m,
        decay_mult: d,
        name: None,
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

fn cifar10_quick(classes: usize) -> Vec<LayerSpec> {
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

fn cifar10_full(classes: usize) -> Vec<LayerSpec> {
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
