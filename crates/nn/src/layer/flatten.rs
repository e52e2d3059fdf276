//! Flatten: channels-last activations to a feature vector in channel-major (`c, h, w`) order,
//! the order of Caffe's and PyTorch's flatten, so classifier weights keep their usual layout.

use super::{Dims, Layer, Mode};
use crate::Real;
use rayon::prelude::*;

pub(crate) struct Flatten {
    dims: Dims,
}

impl Flatten {
    pub fn new(dims: Dims) -> Self {
        Self { dims }
    }
}

impl<T: Real> Layer<T> for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn out_dims(&self) -> Dims {
        Dims {
            c: self.dims.len(),
            h: 1,
            w: 1,
        }
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        let d = self.dims;
        let len = d.len();
        y[..n * len]
            .par_chunks_mut(len)
            .zip(x[..n * len].par_chunks(len))
            .for_each(|(y, x)| {
                for (p, px) in x.chunks_exact(d.c).enumerate() {
                    for (ch, &v) in px.iter().enumerate() {
                        y[ch * d.h * d.w + p] = v;
                    }
                }
            });
    }
    fn backward(&mut self, n: usize, _x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let Some(dx) = dx else { return };
        let d = self.dims;
        let len = d.len();
        dx[..n * len]
            .par_chunks_mut(len)
            .zip(dy[..n * len].par_chunks(len))
            .for_each(|(dx, dy)| {
                for (p, px) in dx.chunks_exact_mut(d.c).enumerate() {
                    for (ch, v) in px.iter_mut().enumerate() {
                        *v = dy[ch * d.h * d.w + p];
                    }
                }
            });
    }
}
