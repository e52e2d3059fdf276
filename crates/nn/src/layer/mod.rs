//! Layers. Activations are stored per sample in channels-last order (`h, w, c`), a batch as
//! `n` consecutive samples (NHWC). Every layer reads its input and writes its output into
//! buffers owned by the network; backward writes the input gradient (when asked) and the
//! gradients of its own parameters, and never touches the parameter values.

mod activation;
mod batch_norm;
pub(crate) mod conv2d;
mod dense;
mod direct;
mod direct_dw;
mod dropout;
mod flatten;
mod global_pool;
mod lrn;
pub(crate) mod pool;
mod residual;

pub(crate) use activation::{Activation, ActivationKind};
pub(crate) use batch_norm::BatchNorm;
pub(crate) use conv2d::Conv2d;
pub(crate) use dense::Dense;
pub(crate) use dropout::Dropout;
pub(crate) use flatten::Flatten;
pub(crate) use global_pool::GlobalAvgPool;
pub(crate) use lrn::{Lrn, LrnRegion};
pub(crate) use pool::{Pool, PoolKind};
pub use residual::{Residual, Shortcut, Sublayers};

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
pub struct Param<T> {
    /// Suffix of the full name, e.g. `weight`, `bias`, `running_mean`.
    pub name: &'static str,
    /// The values.
    pub value: ArrayD<T>,
    /// The gradient of the loss with respect to `value`, written by `backward`.
    pub grad: ArrayD<T>,
    /// Multiplier of the learning rate for this parameter (Caffe's `lr_mult`).
    pub lr_mult: f64,
    /// Multiplier of the weight decay for this parameter (Caffe's `decay_mult`).
    pub decay_mult: f64,
    /// False for buffers (batch-norm running statistics): saved, never optimized.
    pub trainable: bool,
}

impl<T: Real> Param<T> {
    /// A trainable parameter with a zero gradient.
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
    /// A buffer: saved with the weights, never optimized.
    pub fn buffer(name: &'static str, value: ArrayD<T>) -> Self {
        Self {
            trainable: false,
            ..Self::new(name, value, 0.0, 0.0)
        }
    }
    /// The values as a slice.
    pub fn v(&self) -> &[T] {
        self.value.as_slice().expect("parameters are contiguous")
    }
    /// The gradient as a mutable slice.
    pub fn g_mut(&mut self) -> &mut [T] {
        self.grad.as_slice_mut().expect("gradients are contiguous")
    }
}

/// Train (dropout on, batch statistics) or eval mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: `seed` drives this iteration's random masks (a function of the run's seed
    /// and the iteration, so a resumed run draws the same ones).
    Train {
        /// The iteration's seed.
        seed: u64,
    },
    /// Evaluation and inference.
    Eval,
}

/// One layer of a network: the extension point for layers the `[model]` table does not
/// have. Buffers are per sample in channels-last order (`h, w, c`), `n` samples one after
/// another; see [`Net::from_layers`](crate::Net::from_layers) for a network with custom
/// layers. Results must not depend on the number of rayon threads (split work in fixed
/// chunks) for runs to replay bit for bit.
pub trait Layer<T: Real>: Send + Sync {
    /// Layer type, e.g. `conv2d` (shown in the network summary).
    fn kind(&self) -> &'static str;
    /// Per-sample shape of the input it was built for.
    fn in_dims(&self) -> Dims;
    /// Per-sample shape of its output (by default the input's: element-wise layers,
    /// normalizations, dropout).
    fn out_dims(&self) -> Dims {
        self.in_dims()
    }
    /// Its parameters and buffers (saved with the weights; trainable ones optimized).
    fn params(&self) -> &[Param<T>] {
        &[]
    }
    /// The same, mutable (the optimizer and weight loading use it).
    fn params_mut(&mut self) -> &mut [Param<T>] {
        &mut []
    }
    /// Layers nested in this one (a [`Residual`] block's branch and shortcut), with their
    /// names. Their parameters belong to the network too, named
    /// `<this layer>.<sub-layer>.<param>`; the layer itself runs them in its `forward` and
    /// `backward`.
    fn sublayers(&self) -> &[(String, Box<dyn Layer<T>>)] {
        &[]
    }
    /// The same, mutable.
    fn sublayers_mut(&mut self) -> &mut [(String, Box<dyn Layer<T>>)] {
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

/// Calls `f` with the full name (`prefix.param`, sub-layers' as `prefix.sub.param`) of every
/// parameter and buffer of `layer` and its sub-layers, in order.
pub(crate) fn visit_params<'a, T: Real>(
    prefix: &str,
    layer: &'a dyn Layer<T>,
    f: &mut dyn FnMut(String, &'a Param<T>),
) {
    for p in layer.params() {
        f(format!("{prefix}.{}", p.name), p);
    }
    for (name, sub) in layer.sublayers() {
        visit_params(&format!("{prefix}.{name}"), sub.as_ref(), f);
    }
}

/// Mutable [`visit_params`].
pub(crate) fn visit_params_mut<T: Real>(
    prefix: &str,
    layer: &mut dyn Layer<T>,
    f: &mut dyn FnMut(String, &mut Param<T>),
) {
    for p in layer.params_mut() {
        f(format!("{prefix}.{}", p.name), p);
    }
    for (name, sub) in layer.sublayers_mut() {
        visit_params_mut(&format!("{prefix}.{name}"), sub.as_mut(), f);
    }
}

/// Every trainable parameter of `layer` and its sub-layers, in [`visit_params`] order,
/// without building names (the optimizer's step allocates nothing).
pub(crate) fn each_trainable_mut<T: Real>(
    layer: &mut dyn Layer<T>,
    f: &mut dyn FnMut(&mut Param<T>),
) {
    layer
        .params_mut()
        .iter_mut()
        .filter(|p| p.trainable)
        .for_each(&mut *f);
    for (_, sub) in layer.sublayers_mut() {
        each_trainable_mut(sub.as_mut(), f);
    }
}

#[cfg(test)]
mod tests;
