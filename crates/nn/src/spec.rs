//! The `[model]` table: a preset or an explicit list of layers.

use crate::init::InitSpec;
use crate::presets::{cifar10_full, cifar10_quick, lenet, mlp, resnet};
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
    /// He et al.'s CIFAR-10 ResNet-20: a 3x3 conv of 16 channels, then 3 stages of 3 residual
    /// blocks (conv3x3-bn-relu-conv3x3-bn, then ReLU after the sum) of 16, 32 and 64 channels,
    /// the first block of stages 2 and 3 with stride 2 and a parameter-free `pad` shortcut
    /// (the paper's option A), global average pooling and one dense layer; He (Kaiming)
    /// initialization. Convolutions keep a bias held at zero (`lr_mult` and `decay_mult` 0)
    /// since batch norm follows each.
    Resnet20,
    /// ResNet-32: as ResNet-20 with 5 blocks per stage.
    Resnet32,
    /// ResNet-56: as ResNet-20 with 9 blocks per stage.
    Resnet56,
}

impl Preset {
    /// The preset's name in configs (`cifar10_quick`, `resnet20`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Mlp => "mlp",
            Preset::Lenet => "lenet",
            Preset::Cifar10Quick => "cifar10_quick",
            Preset::Cifar10Full => "cifar10_full",
            Preset::Resnet20 => "resnet20",
            Preset::Resnet32 => "resnet32",
            Preset::Resnet56 => "resnet56",
        }
    }
}

/// How a residual block's input reaches its sum.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShortcutSpec {
    /// The identity when the branch keeps the shape, a projection otherwise (default).
    #[default]
    Auto,
    /// The input itself; the branch must keep the shape.
    Identity,
    /// A 1x1 convolution with the branch's stride to its channels, then batch norm (He et
    /// al.'s option B).
    Projection,
    /// The input at every stride-th pixel in the first channels, the others zero (option A;
    /// no parameters).
    Pad,
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
pub(crate) fn bn_eps() -> f64 {
    1e-5
}
pub(crate) fn bn_momentum() -> f64 {
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

/// What the layers holding a weight and a bias share: their name, initializers and
/// multipliers. Its keys sit in the layer's own table (`{ type = "dense", out = 10,
/// lr_mult = [1, 2] }`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Weight initializer (default `xavier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitSpec>,
    /// Bias initializer (default constant 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_init: Option<InitSpec>,
    /// Learning-rate multipliers `[weight, bias]` (default `[1, 1]`).
    #[serde(default = "mult_ones")]
    pub lr_mult: [f64; 2],
    /// Weight-decay multipliers `[weight, bias]` (default `[1, 1]`).
    #[serde(default = "mult_ones")]
    pub decay_mult: [f64; 2],
    /// Parameter name prefix (default `conv<i>` / `fc<i>`, counted per type from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Default for ParamSpec {
    fn default() -> Self {
        Self {
            init: None,
            bias_init: None,
            lr_mult: mult_ones(),
            decay_mult: mult_ones(),
            name: None,
        }
    }
}

impl ParamSpec {
    /// Weights from `init`, biases zero, the given multipliers `[weight, bias]`.
    pub fn new(init: InitSpec, lr_mult: [f64; 2], decay_mult: [f64; 2]) -> Self {
        Self {
            init: Some(init),
            lr_mult,
            decay_mult,
            ..Self::default()
        }
    }
}

const PARAM_FIELDS: [&str; 5] = ["init", "bias_init", "lr_mult", "decay_mult", "name"];

/// A 2-D convolution: `out_channels` square `kernel`s over all input channels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(remote = "Self")]
pub struct Conv2dSpec {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride (default 1).
    #[serde(default = "one")]
    pub stride: usize,
    /// Zero padding on each side (default 0).
    #[serde(default)]
    pub pad: usize,
    /// Name, initializers and multipliers.
    #[serde(flatten)]
    pub params: ParamSpec,
}

impl Conv2dSpec {
    /// `out_channels` kernels of `kernel` x `kernel`, stride 1, padding `pad`, with `params`.
    pub fn new(out_channels: usize, kernel: usize, pad: usize, params: ParamSpec) -> Self {
        Self {
            out_channels,
            kernel,
            stride: 1,
            pad,
            params,
        }
    }
}

/// A fully connected layer of `out` features.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(remote = "Self")]
pub struct DenseSpec {
    /// Output features.
    pub out: usize,
    /// Name, initializers and multipliers.
    #[serde(flatten)]
    pub params: ParamSpec,
}

impl DenseSpec {
    /// `out` features with `params`.
    pub fn new(out: usize, params: ParamSpec) -> Self {
        Self { out, params }
    }
}

/// Serde for a layer spec whose [`ParamSpec`] keys share its table: the derived (`remote =
/// "Self"`) functions, plus the unknown-key check that `deny_unknown_fields` cannot make
/// beside `flatten`, reported before any other error of the table as serde does (a typo
/// reads "unknown field `kernal`", not "missing field `kernel`"). `$own` are the spec's
/// own keys.
macro_rules! layer_table_serde {
    ($ty:ident, [$($own:literal),+]) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error;
                fn spec_or_error<'de, D: serde::Deserializer<'de>>(
                    d: D,
                ) -> Result<Result<$ty, String>, D::Error> {
                    Ok($ty::deserialize(d).map_err(|e| e.to_string()))
                }
                #[derive(Deserialize)]
                struct Table {
                    #[serde(flatten)]
                    keys: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
                    #[serde(flatten, deserialize_with = "spec_or_error")]
                    spec: Result<$ty, String>,
                }
                const FIELDS: &[&str] = &[$($own,)+ PARAM_FIELDS[0], PARAM_FIELDS[1],
                    PARAM_FIELDS[2], PARAM_FIELDS[3], PARAM_FIELDS[4]];
                let t = Table::deserialize(d)?;
                match t.keys.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                    Some(k) => Err(D::Error::unknown_field(k, FIELDS)),
                    None => t.spec.map_err(D::Error::custom),
                }
            }
        }
    };
}

layer_table_serde!(Conv2dSpec, ["out_channels", "kernel", "stride", "pad"]);
layer_table_serde!(DenseSpec, ["out"]);

/// One layer of an explicit `layers = [...]` list, selected by `type`.
///
/// `conv2d` and `dense` take the [`ParamSpec`] keys (`name`, `init`, `bias_init`, `lr_mult`,
/// `decay_mult`) beside their own.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// 2-D convolution with square kernel, stride and zero padding.
    Conv2d(Conv2dSpec),
    /// Fully connected layer (a non-flat input is flattened first, channel-major).
    Dense(DenseSpec),
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
    /// Each channel's mean over all pixels: `c x h x w` to `c` features.
    GlobalAvgPool,
    /// A residual block: `y = layers(x) + shortcut(x)`; the sub-layers are named within the
    /// block (`res1.conv1.weight`). Put the activation after the sum as the next layer.
    Residual {
        /// The branch.
        layers: Vec<LayerSpec>,
        /// The shortcut (default `auto`).
        #[serde(default)]
        shortcut: ShortcutSpec,
    },
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
                "give `preset` (mlp, lenet, cifar10_quick, cifar10_full, resnet20, resnet32, resnet56) or a `layers` list",
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
            (Some(Preset::Resnet20), None) => Ok(resnet(3, num_classes)),
            (Some(Preset::Resnet32), None) => Ok(resnet(5, num_classes)),
            (Some(Preset::Resnet56), None) => Ok(resnet(9, num_classes)),
        }
    }
}
