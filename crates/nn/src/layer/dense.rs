//! Fully connected layer.
//!
//! Training runs on the GEMM. In eval mode, where the CPU has the direct kernels (see
//! [`direct`]), the forward pass is a 1x1 convolution of the batch seen as one row of `n`
//! pixels by `W^T`, with the bias, and a following batch-norm or ReLU fused in its output
//! tiles, one block of output channels per task so that the block's weights stay in cache
//! while every sample passes through them. That copy of the weights is rebuilt only after
//! the parameters were handed out mutably, so an evaluation pass lays them out once, where a
//! GEMM packs them for every batch (in training they change every step, and there the GEMM
//! measured as fast). Every output value is one chain of fused multiply-adds from the bias
//! over the inputs in order, whatever the blocks or the thread count.

use super::conv2d::ConvGeom;
use super::direct::{self, Tiles};
use super::{Dims, Epilogue, Layer, Mode, Param};
use crate::linalg::{par_matmul, MatRef};
use crate::Real;
use rayon::prelude::*;

/// `y = x W^T + b` with `W` of shape `[out, in]` (PyTorch layout) and `b` of shape `[out]`.
pub(crate) struct Dense<T> {
    inp: usize,
    out: usize,
    params: [Param<T>; 2],
    /// Direct kernel of the eval-mode forward pass (`out` output channels), or `None` for
    /// the GEMM.
    pub(super) tiles: Option<Tiles>,
    /// `W^T` in blocks of the tile's channels, `[out_pad / cb, in, cb]`, then the bias and an
    /// epilogue's scale and shift (`[out_pad]` each), for the direct forward pass; the weights
    /// and the bias are valid while `wt_fresh`.
    wt: Vec<T>,
    wt_fresh: bool,
    /// Each channel block's outputs `[n, cb]`, before they are interleaved into `y`.
    outs: Vec<Vec<T>>,
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
            tiles: Tiles::choose(out),
            wt: Vec::new(),
            wt_fresh: false,
            outs: Vec::new(),
        }
    }

    /// The batch as one row of `n` pixels with `c` channels, mapped to `out_c` by a 1x1
    /// convolution.
    fn geom(n: usize, c: usize, out_c: usize) -> ConvGeom {
        ConvGeom {
            inp: Dims { c, h: 1, w: n },
            out_c,
            kernel: 1,
            stride: 1,
            pad: 0,
            oh: 1,
            ow: n,
        }
    }

    /// `y = epi(x W^T + b)` by the direct kernel `tiles`, one block of output channels per
    /// task: each block's weights stay in cache while every sample passes through them.
    fn forward_direct(
        &mut self,
        tiles: Tiles,
        n: usize,
        x: &[T],
        y: &mut [T],
        epi: Epilogue<'_, T>,
    ) {
        let (inp, out) = (self.inp, self.out);
        let (cb, ocp) = (tiles.channels(), tiles.padded(out));
        if !self.wt_fresh {
            // wt[b][j][o % cb] = w[o][j] for o in block b; the padding columns of the last
            // block are never written, so they stay zero.
            self.wt.resize(inp * ocp + 3 * ocp, T::zero());
            let w = self.params[0].v();
            for (wb, rows) in self.wt.chunks_exact_mut(inp * cb).zip(w.chunks(cb * inp)) {
                for (r, row) in rows.chunks_exact(inp).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        wb[j * cb + r] = v;
                    }
                }
            }
            self.wt[inp * ocp..][..out].copy_from_slice(self.params[1].v());
            self.wt_fresh = true;
        }
        let (wt, tail) = self.wt.split_at_mut(inp * ocp);
        let (bias, affine) = tail.split_at_mut(ocp);
        let affine = epi.affine.map(|(scale, shift)| {
            let (a, b) = affine.split_at_mut(ocp);
            a[..out].copy_from_slice(scale);
            b[..out].copy_from_slice(shift);
            (&*a, &*b)
        });
        let (wt, bias, x) = (&*wt, &*bias, &x[..n * inp]);
        let blocks = ocp / cb;
        self.outs.resize_with(blocks, Vec::new);
        self.outs
            .par_iter_mut()
            .zip(wt.par_chunks_exact(inp * cb))
            .enumerate()
            .for_each(|(b, (ys, wb))| {
                let c0 = b * cb;
                let g = Self::geom(n, inp, cb.min(out - c0));
                ys.resize(n * g.out_c, T::zero());
                let epi = Epilogue {
                    affine: affine.map(|(a, s)| (&a[c0..], &s[c0..])),
                    ..epi
                };
                direct::conv_image(tiles, &g, x, n, wb, Some(&bias[c0..]), epi, ys);
            });
        for (b, ys) in self.outs.iter().enumerate() {
            let c0 = b * cb;
            let width = cb.min(out - c0);
            for (row, src) in y[..n * out]
                .chunks_exact_mut(out)
                .zip(ys.chunks_exact(width))
            {
                row[c0..c0 + width].copy_from_slice(src);
            }
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
    /// The caller may change the weights: the direct kernel's copy is rebuilt before use.
    fn params_mut(&mut self) -> &mut [Param<T>] {
        self.wt_fresh = false;
        &mut self.params
    }
    fn flops(&self) -> u64 {
        2 * (self.inp * self.out) as u64
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], mode: Mode) {
        if let (Some(tiles), Mode::Eval) = (self.tiles, mode) {
            self.forward_direct(tiles, n, x, y, Epilogue::NONE);
            return;
        }
        let (inp, out) = (self.inp, self.out);
        let b = self.params[1].v();
        for row in y[..n * out].chunks_exact_mut(out) {
            row.copy_from_slice(b);
        }
        let w = MatRef::rows(self.params[0].v(), out, inp);
        par_matmul(y, out, MatRef::rows(x, n, inp), w.t(), true);
    }
    /// The direct kernel applies the epilogue in its output tiles.
    fn forward_fused(&mut self, n: usize, x: &[T], y: &mut [T], epi: Epilogue<'_, T>) -> bool {
        let Some(tiles) = self.tiles else {
            return false;
        };
        self.forward_direct(tiles, n, x, y, epi);
        true
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
