//! Max and average pooling on channels-last data, with Caffe's (ceil) or PyTorch's (floor)
//! output size.
//!
//! # Formula
//! Output size: `floor((H + 2 pad - k) / s) + 1`, or with `ceil` `ceil((H + 2 pad - k) / s) + 1`,
//! minus one if the last window would start inside the bottom padding (`(out - 1) s >= H + pad`,
//! the rule shared by Caffe and PyTorch).
//!
//! Window of output `o`: `start = o s - pad`, `end = min(start + k, H + pad)`. Max pooling takes
//! the maximum over the cells of `[max(start, 0), min(end, H))` (padding never wins; the first
//! maximum wins ties, as in Caffe). Average pooling divides the sum over those cells by
//! `(end - start)` per dimension, computed *before* clipping to the image: padded cells inside
//! `[-pad, H + pad)` count as zeros in the divisor, cells past `H + pad` that only the ceil
//! rounding adds do not. This is Caffe's `AVE` pooling and PyTorch's `AvgPool2d` with
//! `count_include_pad = True` in both rounding modes.

use super::{Dims, Layer, Mode};
use crate::simd::simd_kernel;
use crate::Real;
use rayon::prelude::*;

/// Max or average.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolKind {
    Max,
    Avg,
}

/// Output size along one dimension (see the module formula). `None` if the window does not fit.
pub(crate) fn pool_out(size: usize, k: usize, s: usize, pad: usize, ceil: bool) -> Option<usize> {
    if size + 2 * pad < k || s == 0 {
        return None;
    }
    let span = size + 2 * pad - k;
    let mut out = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if pad > 0 && (out - 1) * s >= size + pad {
        out -= 1;
    }
    Some(out)
}

pub(crate) struct Pool {
    kind: PoolKind,
    inp: Dims,
    pub(super) out: Dims,
    k: usize,
    s: usize,
    pad: usize,
    /// Max pooling in train mode: per output value, the input pixel (`iy * w + ix`) that won.
    argmax: Vec<u32>,
}

/// Clipped window `[lo, hi)` and the unclipped divisor length along one dimension.
#[inline]
fn window(o: usize, k: usize, s: usize, pad: usize, size: usize) -> (usize, usize, usize) {
    let start = (o * s) as isize - pad as isize;
    let end = (start + k as isize).min((size + pad) as isize);
    let div = (end - start) as usize;
    (
        start.max(0) as usize,
        (end.min(size as isize)) as usize,
        div,
    )
}

/// One output pixel's window: input rows `[y0, y1)` and columns `[x0, x1)` of a `w`-wide,
/// `c`-channel channels-last image.
#[derive(Clone, Copy)]
struct Win {
    y0: usize,
    y1: usize,
    x0: usize,
    x1: usize,
    w: usize,
    c: usize,
}

/// One output pixel, max (`MAX`, recording the winning cells in `ao` with `RECORD`) or
/// average (times `inv`), over channel blocks of 32, then of 8, then single channels. A block's
/// values stay in registers over the whole window and are stored once. Inlined, so it runs with
/// the caller's vector features.
#[inline(always)]
fn pixel<T: Real, const MAX: bool, const RECORD: bool>(
    x: &[T],
    win: Win,
    inv: T,
    yo: &mut [T],
    ao: &mut [u32],
) {
    let mut c0 = 0;
    while c0 + 32 <= win.c {
        block::<T, 32, MAX, RECORD>(x, win, c0, inv, yo, ao);
        c0 += 32;
    }
    while c0 + 8 <= win.c {
        block::<T, 8, MAX, RECORD>(x, win, c0, inv, yo, ao);
        c0 += 8;
    }
    while c0 < win.c {
        block::<T, 1, MAX, RECORD>(x, win, c0, inv, yo, ao);
        c0 += 1;
    }
}

/// Channels `[c0, c0 + B)` of one output pixel. Max: the first maximum wins (strict `>`,
/// window rows then columns), and with `RECORD` the winning cell (`iy * w + ix`) goes to `ao`.
/// Average: the sum from zero in the same order, times `inv`.
#[inline(always)]
fn block<T: Real, const B: usize, const MAX: bool, const RECORD: bool>(
    x: &[T],
    win: Win,
    c0: usize,
    inv: T,
    yo: &mut [T],
    ao: &mut [u32],
) {
    let mut acc = [if MAX { T::neg_infinity() } else { T::zero() }; B];
    let mut a = [0u32; B];
    for iy in win.y0..win.y1 {
        for ix in win.x0..win.x1 {
            let cell = iy * win.w + ix;
            let xs = &x[cell * win.c + c0..][..B];
            for j in 0..B {
                if MAX {
                    // Branch-free selects: vectorize over the block.
                    let gt = xs[j] > acc[j];
                    if RECORD {
                        a[j] = if gt { cell as u32 } else { a[j] };
                    }
                    acc[j] = if gt { xs[j] } else { acc[j] };
                } else {
                    acc[j] += xs[j];
                }
            }
        }
    }
    let yo = &mut yo[c0..c0 + B];
    if MAX {
        yo.copy_from_slice(&acc);
    } else {
        for (v, s) in yo.iter_mut().zip(acc) {
            *v = s * inv;
        }
    }
    if RECORD {
        ao[c0..c0 + B].copy_from_slice(&a);
    }
}

impl Pool {
    pub fn new(kind: PoolKind, inp: Dims, k: usize, s: usize, pad: usize, ceil: bool) -> Self {
        let oh = pool_out(inp.h, k, s, pad, ceil).expect("validated by the builder");
        let ow = pool_out(inp.w, k, s, pad, ceil).expect("validated by the builder");
        let out = Dims {
            c: inp.c,
            h: oh,
            w: ow,
        };
        Self {
            kind,
            inp,
            out,
            k,
            s,
            pad,
            argmax: Vec::new(),
        }
    }

    simd_kernel! {
    fn forward_image<T: Real>((this, x, y, arg): (&Pool, &[T], &mut [T], &mut [u32])) {
        let (k, s, pad, out) = (this.k, this.s, this.pad, this.out);
        let Dims { c, h, w } = this.inp;
        for oy in 0..out.h {
            let (y0, y1, dh) = window(oy, k, s, pad, h);
            for ox in 0..out.w {
                let (x0, x1, dw) = window(ox, k, s, pad, w);
                let win = Win { y0, y1, x0, x1, w, c };
                let o = (oy * out.w + ox) * c;
                let yo = &mut y[o..o + c];
                match (this.kind, arg.get_mut(o..o + c)) {
                    (PoolKind::Max, Some(ao)) => pixel::<T, true, true>(x, win, T::one(), yo, ao),
                    (PoolKind::Max, None) => pixel::<T, true, false>(x, win, T::one(), yo, &mut []),
                    (PoolKind::Avg, _) => {
                        let inv = T::one() / T::of((dh * dw) as f64);
                        pixel::<T, false, false>(x, win, inv, yo, &mut [])
                    }
                }
            }
        }
    }
    }

    simd_kernel! {
    fn backward_image<T: Real>((this, dy, dx, arg): (&Pool, &[T], &mut [T], &[u32])) {
        let (k, s, pad, out) = (this.k, this.s, this.pad, this.out);
        let Dims { c, h, w } = this.inp;
        dx.fill(T::zero());
        match this.kind {
            PoolKind::Max => {
                for (g, a) in dy.chunks_exact(c).zip(arg.chunks_exact(c)) {
                    for ch in 0..c {
                        dx[a[ch] as usize * c + ch] += g[ch];
                    }
                }
            }
            PoolKind::Avg => {
                for oy in 0..out.h {
                    let (y0, y1, dh) = window(oy, k, s, pad, h);
                    for ox in 0..out.w {
                        let (x0, x1, dw) = window(ox, k, s, pad, w);
                        let o = (oy * out.w + ox) * c;
                        let inv = T::one() / T::of((dh * dw) as f64);
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let base = (iy * w + ix) * c;
                                for (d, &g) in dx[base..base + c].iter_mut().zip(&dy[o..o + c]) {
                                    *d += g * inv;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    }
}

impl<T: Real> Layer<T> for Pool {
    fn kind(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "max_pool",
            PoolKind::Avg => "avg_pool",
        }
    }
    fn in_dims(&self) -> Dims {
        self.inp
    }
    fn out_dims(&self) -> Dims {
        self.out
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], mode: Mode) {
        let (il, ol) = (self.inp.len(), self.out.len());
        let record = self.kind == PoolKind::Max && mode != Mode::Eval;
        if record && self.argmax.len() < n * ol {
            self.argmax.resize(n * ol, 0);
        }
        let mut argmax = std::mem::take(&mut self.argmax);
        let this = &*self;
        let arg_chunks = argmax.par_chunks_mut(ol.max(1));
        let work = y[..n * ol]
            .par_chunks_mut(ol)
            .zip(x[..n * il].par_chunks(il));
        if record {
            work.zip(arg_chunks)
                .for_each(|((y, x), a)| Pool::forward_image((this, x, y, a)));
        } else {
            work.for_each(|(y, x)| Pool::forward_image((this, x, y, &mut [])));
        }
        self.argmax = argmax;
    }
    fn backward(&mut self, n: usize, _x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let Some(dx) = dx else { return };
        let (il, ol) = (self.inp.len(), self.out.len());
        let this = &*self;
        let work = dx[..n * il]
            .par_chunks_mut(il)
            .zip(dy[..n * ol].par_chunks(ol));
        if this.kind == PoolKind::Max {
            work.zip(this.argmax.par_chunks(ol))
                .for_each(|((dx, dy), a)| Pool::backward_image((this, dy, dx, a)));
        } else {
            work.for_each(|(dx, dy)| Pool::backward_image((this, dy, dx, &[])));
        }
    }
}
