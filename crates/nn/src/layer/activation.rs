//! Element-wise activations: ReLU, sigmoid, tanh.

use super::{Dims, Layer, Mode};
use crate::linalg::ELEM_CHUNK;
use crate::simd::simd_kernel;
use crate::Real;
use rayon::prelude::*;

/// Which element-wise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActivationKind {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

pub(crate) struct Activation {
    kind: ActivationKind,
    dims: Dims,
}

impl Activation {
    pub fn new(kind: ActivationKind, dims: Dims) -> Self {
        Self { kind, dims }
    }
}

impl<T: Real> Layer<T> for Activation {
    fn is_relu(&self) -> bool {
        self.kind == ActivationKind::Relu
    }
    fn kind(&self) -> &'static str {
        match self.kind {
            ActivationKind::Relu => "relu",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
        }
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        let len = n * self.dims.len();
        let kind = self.kind;
        y[..len]
            .par_chunks_mut(ELEM_CHUNK)
            .zip(x[..len].par_chunks(ELEM_CHUNK))
            .for_each(|(y, x)| forward((kind, x, y)));
    }
    fn backward(&mut self, n: usize, _x: &[T], y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let Some(dx) = dx else { return };
        let len = n * self.dims.len();
        let kind = self.kind;
        dx[..len]
            .par_chunks_mut(ELEM_CHUNK)
            .zip(
                y[..len]
                    .par_chunks(ELEM_CHUNK)
                    .zip(dy[..len].par_chunks(ELEM_CHUNK)),
            )
            .for_each(|(dx, (y, dy))| backward((kind, y, dy, dx)));
    }
}

simd_kernel! {
fn forward<T: Real>((kind, x, y): (ActivationKind, &[T], &mut [T])) {
    let it = y.iter_mut().zip(x);
    match kind {
        ActivationKind::Relu => {
            it.for_each(|(y, &x)| *y = if x > T::zero() { x } else { T::zero() })
        }
        ActivationKind::Sigmoid => it.for_each(|(y, &x)| *y = T::one() / (T::one() + (-x).exp())),
        ActivationKind::Tanh => it.for_each(|(y, &x)| *y = x.tanh()),
    }
}
}

simd_kernel! {
/// Derivatives from the outputs: `1[y > 0]`, `y (1 - y)`, `1 - y^2`.
fn backward<T: Real>((kind, y, dy, dx): (ActivationKind, &[T], &[T], &mut [T])) {
    let it = dx.iter_mut().zip(y.iter().zip(dy));
    match kind {
        ActivationKind::Relu => {
            it.for_each(|(dx, (&y, &dy))| *dx = if y > T::zero() { dy } else { T::zero() })
        }
        ActivationKind::Sigmoid => it.for_each(|(dx, (&y, &dy))| *dx = dy * y * (T::one() - y)),
        ActivationKind::Tanh => it.for_each(|(dx, (&y, &dy))| *dx = dy * (T::one() - y * y)),
    }
}
}
