//! Neural-network layers, losses and optimizers on `ndarray`, parallelized with `rayon`.
//!
//! A [`Network`] is built from a [`ModelSpec`] (the `[model]` table of a run config: a preset
//! or a list of layers), trained with [`Network::forward_backward`] plus an [`Optimizer`]
//! step, evaluated with [`Network::evaluate`], and saved as safetensors.
//!
//! Activations are stored channels-last (NHWC) internally; the public input is NCHW. Results
//! do not depend on the number of rayon threads: work is split in fixed chunks and partial
//! sums are reduced in a fixed order.

pub mod bench;
mod error;
pub mod init;
mod io;
mod layer;
mod linalg;
mod loss;
mod model;
pub mod optim;
mod scalar;
mod seed;
mod simd;
pub mod spec;

pub use error::NnError;
pub use init::{InitSpec, VarianceNorm};
pub use layer::Dims;
pub use loss::BatchStats;
pub use model::{Net, Network};
pub use optim::{Optimizer, OptimizerSpec, SgdConvention};
pub use scalar::Real;
pub use spec::{ActivationSpec, LayerSpec, LrnRegionSpec, ModelSpec, Preset};
