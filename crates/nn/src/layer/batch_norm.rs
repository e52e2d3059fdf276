//! Batch normalization over the batch (and spatial positions) per channel.
//!
//! # Formula
//! Train mode: `y = gamma * (x - mean) / sqrt(var + eps) + beta` with the batch mean and the
//! biased batch variance; the running statistics are updated as in PyTorch:
//! `running = (1 - momentum) * running + momentum * batch` (unbiased variance).
//! Eval mode uses the running statistics.

use super::{Dims, Layer, Mode, Param};
use crate::Real;
use rayon::prelude::*;

pub(crate) struct BatchNorm<T> {
    dims: Dims,
    eps: f64,
    momentum: f64,
    /// `weight` (gamma), `bias` (beta), `running_mean`, `running_var`.
    params: [Param<T>; 4],
    /// Normalized input of the last train-mode forward.
    xhat: Vec<T>,
    inv_std: Vec<T>,
    /// Per-channel scratch: batch mean and variance, the two gradient sums, or eval mode's
    /// scale and shift.
    sums: [Vec<T>; 2],
    /// Per-block partial sums (`c` or `2 c` values a block of [`ROWS_PER_TASK`] rows).
    partials: Vec<T>,
}

impl<T: Real> BatchNorm<T> {
    pub fn new(dims: Dims, eps: f64, momentum: f64, lr_mult: [f64; 2], decay: [f64; 2]) -> Self {
        let c = dims.c;
        let ones = ndarray::ArrayD::from_elem(vec![c], T::one());
        let zeros = ndarray::ArrayD::zeros(vec![c]);
        Self {
            dims,
            eps,
            momentum,
            params: [
                Param::new("weight", ones.clone(), lr_mult[0], decay[0]),
                Param::new("bias", zeros.clone(), lr_mult[1], decay[1]),
                Param::buffer("running_mean", zeros),
                Param::buffer("running_var", ones),
            ],
            xhat: Vec::new(),
            inv_std: vec![T::zero(); c],
            sums: [vec![T::zero(); c], vec![T::zero(); c]],
            partials: Vec::new(),
        }
    }
}

impl<T: Real> Layer<T> for BatchNorm<T> {
    fn kind(&self) -> &'static str {
        "batch_norm"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn params(&self) -> &[Param<T>] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param<T>] {
        &mut self.params
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], mode: Mode) {
        let c = self.dims.c;
        let total = n * self.dims.len();
        let rows = total / c;
        let eps = T::of(self.eps);
        let x = &x[..total];
        let y = &mut y[..total];
        if mode == Mode::Eval {
            // y = x * scale + shift with scale = gamma / sqrt(var + eps) and
            // shift = beta - mean * scale, per channel.
            let [g, b, rm, rv] = &self.params;
            let (g, b, rm, rv) = (g.v(), b.v(), rm.v(), rv.v());
            let [scale, shift] = &mut self.sums;
            for j in 0..c {
                scale[j] = g[j] / (rv[j] + eps).sqrt();
                shift[j] = b[j] - rm[j] * scale[j];
            }
            let (scale, shift) = (&scale[..c], &shift[..c]);
            rows_par(y, x, c, |yr, xr| {
                for j in 0..c {
                    yr[j] = xr[j] * scale[j] + shift[j];
                }
            });
            return;
        }
        // Sums over fixed blocks of rows, in parallel, then over the blocks in order: the
        // partition depends on the shape only, so every thread count gives the same bits.
        let block = c * ROWS_PER_TASK;
        let rn = T::of(rows as f64);
        let [mean, var] = &mut self.sums;
        let (mean, var) = (&mut mean[..c], &mut var[..c]);
        mean.copy_from_slice(block_sums(&mut self.partials, c, rows, |i, p| {
            for xr in x[i * block..].chunks_exact(c).take(ROWS_PER_TASK) {
                p.iter_mut().zip(xr).for_each(|(s, &v)| *s += v);
            }
        }));
        mean.iter_mut().for_each(|m| *m /= rn);
        let m = &*mean;
        var.copy_from_slice(block_sums(&mut self.partials, c, rows, |i, p| {
            for xr in x[i * block..].chunks_exact(c).take(ROWS_PER_TASK) {
                for ((s, &v), &m) in p.iter_mut().zip(xr).zip(m) {
                    let d = v - m;
                    *s += d * d;
                }
            }
        }));
        var.iter_mut().for_each(|v| *v /= rn);
        for (i, &v) in self.inv_std.iter_mut().zip(var.iter()) {
            *i = T::one() / (v + eps).sqrt();
        }
        if self.xhat.len() < total {
            self.xhat.resize(total, T::zero());
        }
        let [g, b, rm, rv] = &mut self.params;
        let (gv, bv, inv, mean) = (g.v(), b.v(), &self.inv_std[..c], &*mean);
        let block = c * ROWS_PER_TASK;
        y.par_chunks_mut(block)
            .zip(x.par_chunks(block))
            .zip(self.xhat[..total].par_chunks_mut(block))
            .for_each(|((yb, xb), hb)| {
                for ((yr, xr), hr) in yb
                    .chunks_exact_mut(c)
                    .zip(xb.chunks_exact(c))
                    .zip(hb.chunks_exact_mut(c))
                {
                    for j in 0..c {
                        hr[j] = (xr[j] - mean[j]) * inv[j];
                        yr[j] = gv[j] * hr[j] + bv[j];
                    }
                }
            });
        let mom = T::of(self.momentum);
        let unbias = if rows > 1 {
            T::of(rows as f64 / (rows - 1) as f64)
        } else {
            T::one()
        };
        let rm = rm.value.as_slice_mut().expect("contiguous");
        let rv = rv.value.as_slice_mut().expect("contiguous");
        for j in 0..c {
            rm[j] = (T::one() - mom) * rm[j] + mom * mean[j];
            rv[j] = (T::one() - mom) * rv[j] + mom * var[j] * unbias;
        }
    }
    fn backward(&mut self, n: usize, _x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let c = self.dims.c;
        let total = n * self.dims.len();
        let rows = total / c;
        let [sum_dy, sum_dy_xhat] = &mut self.sums;
        let (sum_dy, sum_dy_xhat) = (&mut sum_dy[..c], &mut sum_dy_xhat[..c]);
        // Both sums in one pass over fixed blocks of rows (see `forward`): `[sum dy,
        // sum dy * xhat]` per block, then over the blocks in order.
        let block = c * ROWS_PER_TASK;
        let (dy, xhat) = (&dy[..total], &self.xhat[..total]);
        let both = block_sums(&mut self.partials, 2 * c, rows, |i, p| {
            let (pd, ph) = p.split_at_mut(c);
            let rows = dy[i * block..]
                .chunks_exact(c)
                .zip(xhat[i * block..].chunks_exact(c));
            for (dr, hr) in rows.take(ROWS_PER_TASK) {
                for j in 0..c {
                    pd[j] += dr[j];
                    ph[j] += dr[j] * hr[j];
                }
            }
        });
        sum_dy.copy_from_slice(&both[..c]);
        sum_dy_xhat.copy_from_slice(&both[c..]);
        let [g, b, ..] = &mut self.params;
        g.g_mut().copy_from_slice(sum_dy_xhat);
        b.g_mut().copy_from_slice(sum_dy);
        let Some(dx) = dx else { return };
        let rn = T::of(rows as f64);
        let (gamma, inv, sum_dy, sum_dy_xhat) =
            (g.v(), &self.inv_std[..c], &*sum_dy, &*sum_dy_xhat);
        let block = c * ROWS_PER_TASK;
        dx[..total]
            .par_chunks_mut(block)
            .zip(dy[..total].par_chunks(block))
            .zip(self.xhat[..total].par_chunks(block))
            .for_each(|((xb, db), hb)| {
                for ((xr, dr), hr) in xb
                    .chunks_exact_mut(c)
                    .zip(db.chunks_exact(c))
                    .zip(hb.chunks_exact(c))
                {
                    for j in 0..c {
                        xr[j] = gamma[j] * inv[j] / rn
                            * (rn * dr[j] - sum_dy[j] - hr[j] * sum_dy_xhat[j]);
                    }
                }
            });
    }
}

/// Pixels (rows of `c` channels) per parallel task of the element-wise passes.
const ROWS_PER_TASK: usize = 512;

/// Sums of `width` values over the blocks of [`ROWS_PER_TASK`] of `rows` rows:
/// `add(i, partial)` accumulates block `i` into its own zeroed slot of `parts` (grown to fit),
/// in parallel; the slots are then added in block order into the first, which is returned.
fn block_sums<T: Real>(
    parts: &mut Vec<T>,
    width: usize,
    rows: usize,
    add: impl Fn(usize, &mut [T]) + Sync,
) -> &[T] {
    let blocks = rows.div_ceil(ROWS_PER_TASK).max(1);
    if parts.len() < blocks * width {
        parts.resize(blocks * width, T::zero());
    }
    let parts = &mut parts[..blocks * width];
    parts.par_chunks_mut(width).enumerate().for_each(|(i, p)| {
        p.fill(T::zero());
        add(i, p);
    });
    let (total, rest) = parts.split_at_mut(width);
    for p in rest.chunks_exact(width) {
        total.iter_mut().zip(p).for_each(|(s, &v)| *s += v);
    }
    total
}

/// `f(y_row, x_row)` over the rows of `c` values, in parallel blocks.
fn rows_par<T: Real>(y: &mut [T], x: &[T], c: usize, f: impl Fn(&mut [T], &[T]) + Sync) {
    let block = c * ROWS_PER_TASK;
    y.par_chunks_mut(block)
        .zip(x.par_chunks(block))
        .for_each(|(yb, xb)| {
            for (yr, xr) in yb.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                f(yr, xr);
            }
        });
}
