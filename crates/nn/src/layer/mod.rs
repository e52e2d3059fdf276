//! Layers. Activations are stored per sample in channels-last order (`h, w, c`), a batch as
//! `n` consecutive samples (NHWC). Every layer reads its input and writes its output into
//! buffers owned by the network; backward writes the input gradient (when asked) and the
//! gradients of its own parameters, and never touches the parameter values.

mod activation;
mod batch_norm;
pub(crate) mod conv2d;
mod dense;
mod direct;
mod dropout;
mod flatten;
mod lrn;
pub(crate) mod pool;

pub(crate) use activation::{Activation, ActivationKind};
pub(crate) use batch_norm::BatchNorm;
pub(crate) use conv2d::Conv2d;
pub(crate) use dense::Dense;
pub(crate) use dropout::Dropout;
pub(crate) use flatten::Flatten;
pub(crate) use lrn::{Lrn, LrnRegion};
pub(crate) use pool::{Pool, PoolKind};

use crate::Real;
use ndarray::ArrayD;

/// Per-sample shape of an activation: `c` channels of `h x w` pixels, stored channels-last.
/// A flat vector of `f` features is `c = f, h = w = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Channels (or features).
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Dims {
    /// Values per sample.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// True if a sample holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True for a flat feature vector.
    pub fn is_flat(&self) -> bool {
        self.h == 1 && self.w == 1
    }
}

/// A parameter (or buffer) of a layer with its gradient and Caffe-style multipliers.
#[derive(Clone, Debug)]
pub(crate) struct Param<T> {
    /// Suffix of the full name, e.g. `weight`, `bias`, `running_mean`.
    pub name: &'static str,
    pub value: ArrayD<T>,
    pub grad: ArrayD<T>,
    pub lr_mult: f64,
    pub decay_mult: f64,
    /// False for buffers (batch-norm running statistics): saved, never optimized.
    pub trainable: bool,
}

impl<T: Real> Param<T> {
    pub fn new(name: &'static str, value: ArrayD<T>, lr_mult: f64, decay_mult: f64) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Self {
            name,
            value,
            grad,
            lr_mult,
            decay_mult,
            trainable: true,
        }
    }
    pub fn buffer(name: &'static str, value: ArrayD<T>) -> Self {
        Self {
            trainable: false,
            ..Self::new(name, value, 0.0, 0.0)
        }
    }
    pub fn v(&self) -> &[T] {
        self.value.as_slice().expect("parameters are contiguous")
    }
    pub fn g_mut(&mut self) -> &mut [T] {
        self.grad.as_slice_mut().expect("gradients are contiguous")
    }
}

/// Train (dropout on, batch statistics) or eval mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Train { seed: u64 },
    Eval,
}

/// One layer of a network.
pub(crate) trait Layer<T: Real>: Send + Sync {
    /// Layer type as written in the `[model]` table, e.g. `conv2d`.
    fn kind(&self) -> &'static str;
    fn out_dims(&self) -> Dims;
    fn params(&self) -> &[Param<T>] {
        &[]
    }
    fn params_mut(&mut self) -> &mut [Param<T>] {
        &mut []
    }
    /// Forward FLOPs per sample, counted as 2 x multiply-accumulates (conv and dense only).
    fn flops(&self) -> u64 {
        0
    }
    /// Computes `y` (`n * out_dims().len()` values) from `x`.
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], mode: Mode);
    /// Given `dy = dL/dy`, writes the parameter gradients and, when `dx` is given, `dL/dx`.
    /// `x` and `y` are the values of the preceding `forward` in train mode.
    fn backward(&mut self, n: usize, x: &[T], y: &[T], dy: &[T], dx: Option<&mut [T]>);
}

#[cfg(test)]
mod tests;
