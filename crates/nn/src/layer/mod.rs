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
    /// `x` and `y` are the values of the preceding `forward` in train mode. A network does not
    /// call it for the layers before its first layer with trainable parameters, and calls that
    /// one with no `dx`.
    fn backward(&mut self, n: usize, x: &[T], y: &[T], dy: &[T], dx: Option<&mut [T]>);
    /// Eval mode: the per-channel `(scale, shift)` of the `y = x * scale + shift` this layer
    /// computes (batch-norm), for the layer before it to apply to its output; both slices
    /// hold one value per channel of `in_dims()`.
    fn eval_affine(&mut self) -> Option<(&[T], &[T])> {
        None
    }
    /// True for a ReLU (`y = x` if `x > 0`, else 0), for the layer before it to apply.
    fn is_relu(&self) -> bool {
        false
    }
    /// Eval-mode [`Layer::forward`] with `epilogue` applied to every output value before it is
    /// stored, giving the same bits as the unfused layers; returns false (having written
    /// nothing) if this layer does not fuse it.
    fn forward_fused(&mut self, n: usize, x: &[T], y: &mut [T], epilogue: Epilogue<'_, T>) -> bool {
        let _ = (n, x, y, epilogue);
        false
    }
}

/// What a layer may apply to its own outputs in eval mode: the batch-norm after it
/// (`v * scale + shift` per channel), then the ReLU after that.
#[derive(Clone, Copy)]
pub struct Epilogue<'a, T> {
    /// Per-channel `(scale, shift)`: `v * scale + shift` (a multiply, then an add).
    pub affine: Option<(&'a [T], &'a [T])>,
    /// Then `v` if `v > 0`, else 0.
    pub relu: bool,
}

impl<T: Real> Epilogue<'_, T> {
    /// Nothing to apply.
    pub const NONE: Self = Epilogue {
        affine: None,
        relu: false,
    };

    /// Applies it to the values of channels `c0..` in `v`, one after another, as the
    /// batch-norm and ReLU layers would.
    pub fn apply(&self, c0: usize, v: &mut [T]) {
        if let Some((scale, shift)) = self.affine {
            let (scale, shift) = (&scale[c0..][..v.len()], &shift[c0..][..v.len()]);
            for ((v, &a), &b) in v.iter_mut().zip(scale).zip(shift) {
                *v = *v * a + b;
            }
        }
        if self.relu {
            v.iter_mut()
                .for_each(|v| *v = if *v > T::zero() { *v } else { T::zero() });
        }
    }
}

/// Forward through a chain of layers from `x`, layer `k` writing `outs[k]` (`layer(&mut
/// item)` gives the layer of an item). In eval mode a layer followed by a batch-norm and/or a
/// ReLU that it can fuse (see [`Layer::forward_fused`]) writes their output directly; the
/// outputs of the layers it took over are then left as they were.
pub(crate) fn forward_chain<T: Real, L>(
    items: &mut [L],
    layer: impl Fn(&mut L) -> &mut dyn Layer<T>,
    outs: &mut [Vec<T>],
    n: usize,
    x: &[T],
    mode: Mode,
) {
    let mut k = 0;
    while k < items.len() {
        let (before, rest) = outs.split_at_mut(k);
        let input = if k == 0 { x } else { &before[k - 1][..] };
        let taken = if mode == Mode::Eval {
            fused(items, &layer, k, rest, n, input)
        } else {
            0
        };
        if taken == 0 {
            layer(&mut items[k]).forward(n, input, &mut rest[0], mode);
        }
        k += taken.max(1);
    }
}

/// Runs layer `k` with the batch-norm / ReLU after it fused, writing the last fused layer's
/// output in `outs`; returns the number of layers run (0: nothing fuses here).
fn fused<T: Real, L>(
    items: &mut [L],
    layer: &impl Fn(&mut L) -> &mut dyn Layer<T>,
    k: usize,
    outs: &mut [Vec<T>],
    n: usize,
    x: &[T],
) -> usize {
    let (head, tail) = items.split_at_mut(k + 1);
    let first = layer(&mut head[k]);
    let mut tail = tail.iter_mut().map(layer);
    let Some(next) = tail.next() else {
        return 0;
    };
    let (affine, relu) = if next.is_relu() {
        (None, true)
    } else if let Some(a) = next.eval_affine() {
        (Some(a), tail.next().is_some_and(|l| l.is_relu()))
    } else {
        return 0;
    };
    let count = 1 + usize::from(affine.is_some()) + usize::from(relu);
    if first.forward_fused(n, x, &mut outs[count - 1], Epilogue { affine, relu }) {
        count
    } else {
        0
    }
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
