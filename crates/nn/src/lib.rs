//! Neural-network layers, losses and optimizers on `ndarray`, parallelized with `rayon`.
//!
//! A [`Network`] is built from a [`ModelSpec`] (the `[model]` table of a run config: a preset
//! or a list of layers), trained with [`Network::forward_backward`] plus an [`Optimizer`]
//! step, evaluated with [`Network::evaluate`], and saved as safetensors.
//!
//! ```
//! use ndarray::Array4;
//! use nn::{ModelSpec, Network, Optimizer, OptimizerSpec};
//!
//! let spec: ModelSpec = toml::from_str("preset = \"mlp\"\nhidden = [32]").unwrap();
//! let mut net = Network::new(&spec, [1, 8, 8], 10, 42).unwrap();
//! let opt_spec: OptimizerSpec = toml::from_str("kind = \"sgd\"\nmomentum = 0.9").unwrap();
//! let mut opt = Optimizer::new(&opt_spec, &net).unwrap();
//! let x = Array4::<f32>::zeros((4, 1, 8, 8));
//! let labels = [0u8, 1, 2, 3];
//! let stats = net.forward_backward(x.view(), &labels, 0);
//! assert_eq!(stats.count, 4);
//! // All-zero inputs and zero biases give equal logits: loss ln(10) per sample.
//! assert!((stats.mean_loss() - 10f64.ln()).abs() < 1e-5);
//! opt.step(&mut net, 0.01, None);
//! assert_eq!(net.num_params(), 64 * 32 + 32 + 32 * 10 + 10);
//! ```
//!
//! Activations are stored channels-last (NHWC) internally; the public input is NCHW. Results
//! do not depend on the number of rayon threads: work is split in fixed chunks and partial
//! sums are reduced in a fixed order.

#![warn(missing_docs)]

pub mod bench;
mod build;
mod error;
pub mod footprint;
pub mod init;
mod io;
mod layer;
mod linalg;
mod loss;
mod model;
pub mod optim;
mod presets;
mod scalar;
pub mod seed;
mod simd;
pub mod spec;

pub use error::NnError;
pub use footprint::{footprint, Footprint};
pub use init::{InitSpec, VarianceNorm};
pub use layer::{Dims, Epilogue, Layer, Mode, Param, Residual, Shortcut, Sublayers};
pub use loss::BatchStats;
pub use model::{Net, Network};
pub use optim::{Optimizer, OptimizerSpec, SgdConvention};
pub use scalar::Real;
pub use simd::flush_subnormals;
pub use spec::{
    ActivationSpec, Conv2dSpec, DenseSpec, LayerSpec, LrnRegionSpec, ModelSpec, ParamSpec,
    PoolSpec, Preset, ShortcutSpec,
};
