//! Local response normalization, Caffe's two regions.
//!
//! # Formula
//! `y_i = x_i * s_i^-beta` with `s_i = k + alpha / N * sum_{j in W(i)} x_j^2`, where
//! - `ACROSS_CHANNELS`: `W(i)` = the `size` channels centred on `i` at the same pixel (clipped
//!   at the first and last channel), `N = size`;
//! - `WITHIN_CHANNEL`: `W(i)` = the `size x size` pixels centred on `i` in the same channel
//!   (clipped at the image border, i.e. zero padding), `N = size^2` (Caffe's average pooling
//!   with pad `(size - 1) / 2` always divides by `size^2` here). Caffe fixes `k = 1` for this
//!   region; `k` is kept as a parameter with default 1.
//!
//! Gradient: `dx_i = dy_i s_i^-beta - (2 alpha beta / N) x_i sum_{j: i in W(j)} dy_j y_j / s_j`.
//! `size` must be odd (as in Caffe), so `W` is symmetric.

use super::{Dims, Layer, Mode};
use crate::simd::simd_kernel;
use crate::Real;
use rayon::prelude::*;

/// Which neighbourhood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LrnRegion {
    AcrossChannels,
    WithinChannel,
}

pub(crate) struct Lrn<T> {
    region: LrnRegion,
    dims: Dims,
    size: usize,
    alpha: f64,
    beta: f64,
    k: f64,
    /// `s` of the last forward.
    scale: Vec<T>,
    /// `s^-beta` of the last forward.
    pw: Vec<T>,
    /// Backward scratch (`dy * y / s`, then its window sums).
    tmp: Vec<T>,
}

impl<T: Real> Lrn<T> {
    pub fn new(region: LrnRegion, dims: Dims, size: usize, alpha: f64, beta: f64, k: f64) -> Self {
        Self {
            region,
            dims,
            size,
            alpha,
            beta,
            k,
            scale: Vec::new(),
            pw: Vec::new(),
            tmp: Vec::new(),
        }
    }

    fn norm(&self) -> f64 {
        match self.region {
            LrnRegion::AcrossChannels => self.size as f64,
            LrnRegion::WithinChannel => (self.size * self.size) as f64,
        }
    }

    /// `out_i = sum_{j in W(i)} f(v_j)` for one sample.
    #[inline(always)]
    fn window_sum(&self, v: &[T], out: &mut [T], f: impl Fn(T) -> T) {
        let Dims { c, h, w } = self.dims;
        let r = self.size / 2;
        match self.region {
            LrnRegion::AcrossChannels => {
                for (o, px) in out.chunks_exact_mut(c).zip(v.chunks_exact(c)) {
                    for ch in 0..c {
                        let lo = ch.saturating_sub(r);
                        let hi = (ch + r + 1).min(c);
                        o[ch] = px[lo..hi].iter().map(|&x| f(x)).sum();
                    }
                }
            }
            LrnRegion::WithinChannel => {
                out.fill(T::zero());
                for y in 0..h {
                    for x in 0..w {
                        let o = &mut out[(y * w + x) * c..][..c];
                        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                            for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                                let src = &v[(yy * w + xx) * c..][..c];
                                for (o, &s) in o.iter_mut().zip(src) {
                                    *o += f(s);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl<T: Real> Layer<T> for Lrn<T> {
    fn kind(&self) -> &'static str {
        "lrn"
    }
    fn in_dims(&self) -> Dims {
        self.dims
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        let len = self.dims.len();
        if self.scale.len() < n * len {
            self.scale.resize(n * len, T::zero());
            self.pw.resize(n * len, T::zero());
        }
        let (mut scale, mut pw) = (
            std::mem::take(&mut self.scale),
            std::mem::take(&mut self.pw),
        );
        let this = &*self;
        scale[..n * len]
            .par_chunks_mut(len)
            .zip(pw[..n * len].par_chunks_mut(len))
            .zip(
                y[..n * len]
                    .par_chunks_mut(len)
                    .zip(x[..n * len].par_chunks(len)),
            )
            .for_each(|((s, pw), (y, x))| forward_sample((this, x, s, pw, y)));
        (self.scale, self.pw) = (scale, pw);
    }
    fn backward(&mut self, n: usize, x: &[T], y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        let Some(dx) = dx else { return };
        let len = self.dims.len();
        if self.tmp.len() < 2 * n * len {
            self.tmp.resize(2 * n * len, T::zero());
        }
        let mut tmp = std::mem::take(&mut self.tmp);
        let this = &*self;
        let m = n * len;
        tmp[..2 * m]
            .par_chunks_mut(2 * len)
            .zip(dx[..m].par_chunks_mut(len))
            .zip(x[..m].par_chunks(len).zip(y[..m].par_chunks(len)))
            .zip(dy[..m].par_chunks(len).zip(this.scale[..m].par_chunks(len)))
            .zip(this.pw[..m].par_chunks(len))
            .for_each(|((((t, dx), (x, y)), (dy, s)), pw)| {
                backward_sample((this, [x, y, dy, s, pw], t, dx))
            });
        self.tmp = tmp;
    }
}

simd_kernel! {
/// One sample's forward: `s`, `s^-beta` and `y`.
fn forward_sample<T: Real>((this, x, s, pw, y): (&Lrn<T>, &[T], &mut [T], &mut [T], &mut [T])) {
    let (a, b, k) = (
        T::of(this.alpha / this.norm()),
        T::of(this.beta),
        T::of(this.k),
    );
    this.window_sum(x, s, |v| v * v);
    for (((s, pw), y), &x) in s.iter_mut().zip(pw.iter_mut()).zip(y.iter_mut()).zip(x) {
        *s = k + a * *s;
        *pw = neg_pow(*s, b);
        *y = x * *pw;
    }
}
}
simd_kernel! {
/// One sample's input gradient from `[x, y, dy, s, s^-beta]`, with scratch `t` of twice
/// the sample size.
fn backward_sample<T: Real>((this, [x, y, dy, s, pw], t, dx): (&Lrn<T>, [&[T]; 5], &mut [T], &mut [T])) {
    let coef = T::of(2.0 * this.alpha * this.beta / this.norm());
    let (t, sum) = t.split_at_mut(x.len());
    for (((t, &dy), &y), &s) in t.iter_mut().zip(dy).zip(y).zip(s) {
        *t = dy * y / s;
    }
    this.window_sum(t, sum, |v| v);
    for i in 0..x.len() {
        dx[i] = dy[i] * pw[i] - coef * x[i] * sum[i];
    }
}
}

/// `s^-beta`; for `beta = 0.75` (Caffe's value) as `1 / (sqrt(s) * sqrt(sqrt(s)))`, which
/// vectorizes, unlike `powf`.
#[inline(always)]
fn neg_pow<T: Real>(s: T, beta: T) -> T {
    if beta == T::of(0.75) {
        let r = s.sqrt();
        T::one() / (r * r.sqrt())
    } else {
        s.powf(-beta)
    }
}
