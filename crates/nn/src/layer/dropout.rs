//! Inverted dropout: in train mode each value is kept with probability `1 - p` and scaled by
//! `1 / (1 - p)`; in eval mode the layer is the identity (Caffe and PyTorch semantics).

use super::{Dims, Layer, Mode};
use crate::seed::mix;
use crate::Real;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

pub(crate) struct Dropout<T> {
    p: f64,
    dims: Dims,
    /// Distinguishes the random streams of several dropout layers in one network.
    salt: u64,
    /// Per value: `0` or `1 / (1 - p)` from the last train-mode forward.
    mask: Vec<T>,
}

impl<T: Real> Dropout<T> {
    pub fn new(p: f64, dims: Dims, salt: u64) -> Self {
        Self {
            p,
            dims,
            salt,
            mask: Vec::new(),
        }
    }
}

impl<T: Real> Layer<T> for Dropout<T> {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], mode: Mode) {
        let len = self.dims.len();
        let Mode::Train { seed } = mode else {
            y[..n * len].copy_from_slice(&x[..n * len]);
            return;
        };
        if self.mask.len() < n * len {
            self.mask.resize(n * len, T::zero());
        }
        let keep = 1.0 - self.p;
        let scale = T::of(1.0 / keep);
        let base = mix(seed ^ mix(self.salt));
        self.mask[..n * len]
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, m)| {
                // One stream per sample: the mask does not depend on how work is split.
                let mut rng = Pcg64Mcg::seed_from_u64(mix(base.wrapping_add(i as u64)));
                for v in m {
                    *v = if rng.gen::<f64>() < keep {
                        scale
                    } else {
                        T::zero()
                    };
                }
            });
        for ((y, &x), &m) in y[..n * len].iter_mut().zip(&x[..n * len]).zip(&self.mask) {
            *y = x * m;
        }
    }
    fn backward(&mut self, n: usize, _x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let Some(dx) = dx else { return };
        let len = n * self.dims.len();
        for ((dx, &dy), &m) in dx[..len].iter_mut().zip(&dy[..len]).zip(&self.mask) {
            *dx = dy * m;
        }
    }
}
