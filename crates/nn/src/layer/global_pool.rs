//! Global average pooling: each channel's mean over all pixels, `c x h x w` to `c` features
//! (ResNet's last feature map to its classifier).

use super::{Dims, Layer, Mode};
use crate::Real;
use rayon::prelude::*;

pub(crate) struct GlobalAvgPool {
    dims: Dims,
}

impl GlobalAvgPool {
    pub fn new(dims: Dims) -> Self {
        Self { dims }
    }
}

impl<T: Real> Layer<T> for GlobalAvgPool {
    fn kind(&self) -> &'static str {
        "global_avg_pool"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn out_dims(&self) -> Dims {
        Dims {
            c: self.dims.c,
            h: 1,
            w: 1,
        }
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        let d = self.dims;
        let scale = T::of(1.0 / (d.h * d.w) as f64);
        y[..n * d.c]
            .par_chunks_mut(d.c)
            .zip(x[..n * d.len()].par_chunks(d.len()))
            .for_each(|(y, x)| {
                y.fill(T::zero());
                for px in x.chunks_exact(d.c) {
                    y.iter_mut().zip(px).for_each(|(s, v)| *s += *v);
                }
                y.iter_mut().for_each(|s| *s *= scale);
            });
    }
    fn backward(&mut self, n: usize, _x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let Some(dx) = dx else { return };
        let d = self.dims;
        let scale = T::of(1.0 / (d.h * d.w) as f64);
        dx[..n * d.len()]
            .par_chunks_mut(d.len())
            .zip(dy[..n * d.c].par_chunks(d.c))
            .for_each(|(dx, dy)| {
                for px in dx.chunks_exact_mut(d.c) {
                    px.iter_mut().zip(dy).for_each(|(v, g)| *v = *g * scale);
                }
            });
    }
}
