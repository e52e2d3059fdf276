//! Fully connected layer.

use super::{Dims, Layer, Mode, Param};
use crate::linalg::{par_matmul, MatRef};
use crate::Real;

/// `y = x W^T + b` with `W` of shape `[out, in]` (PyTorch layout) and `b` of shape `[out]`.
pub(crate) struct Dense<T> {
    inp: usize,
    out: usize,
    params: [Param<T>; 2],
}

impl<T: Real> Dense<T> {
    /// `weight` is `[out, in]`, `bias` `[out]`.
    pub fn new(inp: usize, out: usize, weight: Param<T>, bias: Param<T>) -> Self {
        assert_eq!(weight.value.shape(), &[out, inp]);
        assert_eq!(bias.value.shape(), &[out]);
        Self {
            inp,
            out,
            params: [weight, bias],
        }
    }
}

impl<T: Real> Layer<T> for Dense<T> {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn in_dims(&self) -> Dims {
        Dims {
            c: self.inp,
            h: 1,
            w: 1,
        }
    }
    fn out_dims(&self) -> Dims {
        Dims {
            c: self.out,
            h: 1,
            w: 1,
        }
    }
    fn params(&self) -> &[Param<T>] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param<T>] {
        &mut self.params
    }
    fn flops(&self) -> u64 {
        2 * (self.inp * self.out) as u64
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        let (inp, out) = (self.inp, self.out);
        let b = self.params[1].v();
        for row in y[..n * out].chunks_exact_mut(out) {
            row.copy_from_slice(b);
        }
        let w = MatRef::rows(self.params[0].v(), out, inp);
        par_matmul(y, out, MatRef::rows(x, n, inp), w.t(), true);
    }
    fn backward(&mut self, n: usize, x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let (inp, out) = (self.inp, self.out);
        let dym = MatRef::rows(dy, n, out);
        let [w, b] = &mut self.params;
        par_matmul(w.g_mut(), inp, dym.t(), MatRef::rows(x, n, inp), false);
        let db = b.g_mut();
        db.fill(T::zero());
        for row in dy[..n * out].chunks_exact(out) {
            for (d, &g) in db.iter_mut().zip(row) {
                *d += g;
            }
        }
        if let Some(dx) = dx {
            par_matmul(dx, inp, dym, MatRef::rows(w.v(), out, inp), false);
        }
    }
}
