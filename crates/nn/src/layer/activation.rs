//! Element-wise activations: ReLU, sigmoid, tanh.

use super::{Dims, Layer, Mode};
use crate::linalg::ELEM_CHUNK;
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
    fn kind(&self) -> &'static str {
        match self.kind {
            ActivationKind::Relu => "relu",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
        }
    }
    fn out_dims(&self) -> Dims {
        self.dims
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        let len = n * self.dims.len();
        let kind = self.kind;
        y[..len]
            .par_chunks_mut(ELEM_CHUNK)
            .zip(x[..len].par_chunks(ELEM_CHUNK))
            .for_each(|(y, x)| match kind {
                ActivationKind::Relu => {
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = if x > T::zero() { x } else { T::zero() };
                    }
                }
                ActivationKind::Sigmoid => {
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = T::one() / (T::one() + (-x).exp());
                    }
                }
                ActivationKind::Tanh => {
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = x.tanh();
                    }
                }
            });
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
            .for_each(|(dx, (y, dy))| {
                let it = dx.iter_mut().zip(y.iter().zip(dy));
                match kind {
                    ActivationKind::Relu => {
                        for (dx, (&y, &dy)) in it {
                            *dx = if y > T::zero() { dy } else { T::zero() };
                        }
                    }
                    ActivationKind::Sigmoid => {
                        for (dx, (&y, &dy)) in it {
                            *dx = dy * y * (T::one() - y);
                        }
                    }
                    ActivationKind::Tanh => {
                        for (dx, (&y, &dy)) in it {
                            *dx = dy * (T::one() - y * y);
                        }
                    }
                }
            });
    }
}
