//! 2-D convolution (`groups = 1`, zero padding, any kernel and stride) by im2col + GEMM on
//! channels-last data.
//!
//! An image's im2col matrix has one row per output pixel and `kh * kw * c_in` columns in
//! `(ky, kx, c)` order, which in channels-last layout is a run of `kw * c_in` contiguous input
//! values per kernel row. The weights are stored as `[c_out, kh, kw, c_in]` so that
//! `y = col * W^T` lands directly in channels-last order. The batch is split into
//! [`BATCH_CHUNKS`] fixed chunks; each chunk works through a few images at a time in a small
//! im2col buffer that stays in cache (recomputed in backward rather than stored), and
//! accumulates its own partial weight gradient; the partials are summed in chunk order.

use super::{Dims, Layer, Mode, Param};
use crate::linalg::{batch_chunk, matmul, MatRef, BATCH_CHUNKS};
use crate::simd::simd_kernel;
use crate::Real;
use rayon::prelude::*;

/// Shape of a convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvGeom {
    pub inp: Dims,
    pub out_c: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    fn k(&self) -> usize {
        self.kernel * self.kernel * self.inp.c
    }
    fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    /// im2col rows with the bias column (`k() + 1` wide) of consecutive images.
    fn im2col_images<T: Real>(&self, x: &[T], col: &mut [T]) {
        let (in_len, rows) = (self.inp.len(), self.pixels() * (self.k() + 1));
        for (xi, ci) in x.chunks_exact(in_len).zip(col.chunks_mut(rows)) {
            ConvGeom::im2col((self, xi, ci, self.k() + 1));
        }
    }

    simd_kernel! {
    /// Writes the im2col matrix of one image: `pixels()` rows of `k()` values, `ld` apart;
    /// with `ld = k() + 1` each row ends with a 1 (the bias column).
    fn im2col<T: Real>((this, x, col, ld): (&ConvGeom, &[T], &mut [T], usize)) {
        let Dims { c, h, w } = this.inp;
        let (ks, s, p) = (this.kernel, this.stride, this.pad);
        let k = this.k();
        for oy in 0..this.oh {
            for ox in 0..this.ow {
                let full = &mut col[(oy * this.ow + ox) * ld..][..ld];
                let (row, ones) = full.split_at_mut(k);
                ones.fill(T::one());
                for ky in 0..ks {
                    let dst = &mut row[ky * ks * c..][..ks * c];
                    let iy = (oy * s + ky) as isize - p as isize;
                    if iy < 0 || iy >= h as isize {
                        dst.fill(T::zero());
                        continue;
                    }
                    let ix0 = (ox * s) as isize - p as isize;
                    let src_row = &x[iy as usize * w * c..][..w * c];
                    if ix0 >= 0 && ix0 as usize + ks <= w {
                        copy_run(dst, &src_row[ix0 as usize * c..][..ks * c]);
                        continue;
                    }
                    for kx in 0..ks {
                        let ix = ix0 + kx as isize;
                        let d = &mut dst[kx * c..][..c];
                        if ix < 0 || ix >= w as isize {
                            d.fill(T::zero());
                        } else {
                            copy_run(d, &src_row[ix as usize * c..][..c]);
                        }
                    }
                }
            }
        }
    }
    }

    simd_kernel! {
    /// Adds the im2col-shaped gradient `dcol` of one image into `dx` (which it does not clear).
    fn col2im_add<T: Real>((this, dcol, dx): (&ConvGeom, &[T], &mut [T])) {
        let Dims { c, h, w } = this.inp;
        let (ks, s, p) = (this.kernel, this.stride, this.pad);
        let k = this.k();
        for oy in 0..this.oh {
            for ox in 0..this.ow {
                let row = &dcol[(oy * this.ow + ox) * k..][..k];
                for ky in 0..ks {
                    let iy = (oy * s + ky) as isize - p as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let src = &row[ky * ks * c..][..ks * c];
                    let dst_row = &mut dx[iy as usize * w * c..][..w * c];
                    for kx in 0..ks {
                        let ix = (ox * s + kx) as isize - p as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        let d = &mut dst_row[ix as usize * c..][..c];
                        for (d, &g) in d.iter_mut().zip(&src[kx * c..][..c]) {
                            *d += g;
                        }
                    }
                }
            }
        }
    }
    }
}

/// `dst.copy_from_slice(src)` for short runs without a `memcpy` call: fixed 8-value blocks
/// (the last one overlapping) that compile to vector moves.
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    assert_eq!(n, src.len());
    if n < 8 {
        // An element loop on purpose: `copy_from_slice` would call `memcpy` for a few values.
        #[allow(clippy::manual_memcpy)]
        for i in 0..n {
            dst[i] = src[i];
        }
        return;
    }
    let block = |dst: &mut [T], src: &[T], i: usize| {
        let s: &[T; 8] = src[i..i + 8].try_into().expect("8 values");
        let d: &mut [T; 8] = (&mut dst[i..i + 8]).try_into().expect("8 values");
        *d = *s;
    };
    let mut i = 0;
    while i + 8 <= n {
        block(dst, src, i);
        i += 8;
    }
    if i < n {
        block(dst, src, n - 8);
    }
}

#[derive(Default)]
struct Scratch<T> {
    /// im2col rows with the bias column (`k + 1` wide).
    col: Vec<T>,
    dcol: Vec<T>,
    /// Partial `[c_out, k + 1]` gradient: weights, then the bias in the last column.
    dw: Vec<T>,
}

/// Bytes of im2col buffer a chunk works in at a time.
const COL_BYTES: usize = 1 << 19;

pub(crate) struct Conv2d<T> {
    pub(super) g: ConvGeom,
    /// `weight` `[c_out, kh, kw, c_in]`, `bias` `[c_out]`.
    params: [Param<T>; 2],
    scratch: Vec<Scratch<T>>,
    /// Images per im2col block.
    sub: usize,
    /// Stride 1: the input gradient is the convolution of the zero-padded output gradient
    /// with the flipped, transposed kernel; this is its geometry (`None` for other strides,
    /// which scatter the im2col gradient back instead).
    pub(super) transposed: Option<ConvGeom>,
    /// The flipped kernel `[c_in, kh, kw, c_out]` of `transposed`, refreshed every backward.
    wflip: Vec<T>,
    /// `[c_out, k + 1]`: the weights with the bias as last column, refreshed every forward, so
    /// one product `[col 1] [W b]^T` adds the bias (and `dY^T [col 1]` yields its gradient).
    wb: Vec<T>,
}

impl<T: Real> Conv2d<T> {
    pub fn new(g: ConvGeom, weight: Param<T>, bias: Param<T>) -> Self {
        assert_eq!(
            weight.value.shape(),
            &[g.out_c, g.kernel, g.kernel, g.inp.c]
        );
        assert_eq!(bias.value.shape(), &[g.out_c]);
        let per_image = g.pixels() * g.k() * std::mem::size_of::<T>();
        let sub = (COL_BYTES / per_image.max(1)).max(1);
        let scratch = (0..BATCH_CHUNKS).map(|_| Scratch::default()).collect();
        // Only when it does no more work than the scatter ("same" padding) and its product
        // is wide enough (many input channels).
        let same = g.oh * g.ow >= g.inp.h * g.inp.w;
        let transposed =
            (g.stride == 1 && g.pad < g.kernel && same && g.inp.c >= 16).then(|| ConvGeom {
                inp: Dims {
                    c: g.out_c,
                    h: g.oh,
                    w: g.ow,
                },
                out_c: g.inp.c,
                kernel: g.kernel,
                stride: 1,
                pad: g.kernel - 1 - g.pad,
                oh: g.inp.h,
                ow: g.inp.w,
            });
        Self {
            g,
            params: [weight, bias],
            scratch,
            sub,
            transposed,
            wflip: Vec::new(),
            wb: Vec::new(),
        }
    }

    fn ensure_scratch(&mut self, n: usize, backward: bool) {
        let rows = self.sub.min(batch_chunk(n)) * self.g.pixels();
        let k = self.g.k();
        for s in &mut self.scratch {
            if s.col.len() < rows * (k + 1) {
                s.col.resize(rows * (k + 1), T::zero());
            }
            if backward {
                // Either the im2col gradient (`rows x k`) or the transposed convolution's
                // im2col matrix of one sub-block of output gradients.
                let dlen = match self.transposed {
                    Some(t) => self.sub.min(batch_chunk(n)) * t.pixels() * t.k(),
                    None => rows * k,
                };
                if s.dcol.len() < dlen {
                    s.dcol.resize(dlen, T::zero());
                }
                s.dw.resize(self.g.out_c * (k + 1), T::zero());
            }
        }
    }
}

impl<T: Real> Layer<T> for Conv2d<T> {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn out_dims(&self) -> Dims {
        Dims {
            c: self.g.out_c,
            h: self.g.oh,
            w: self.g.ow,
        }
    }
    fn params(&self) -> &[Param<T>] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param<T>] {
        &mut self.params
    }
    fn flops(&self) -> u64 {
        2 * (self.g.pixels() * self.g.out_c * self.g.k()) as u64
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], _mode: Mode) {
        self.ensure_scratch(n, false);
        let g = self.g;
        let (in_len, out_len, k, px) = (g.inp.len(), g.pixels() * g.out_c, g.k(), g.pixels());
        let chunk = batch_chunk(n);
        let sub = self.sub;
        let kb = k + 1;
        self.wb.resize(g.out_c * kb, T::zero());
        let (w, b) = (self.params[0].v(), self.params[1].v());
        for ((row, wr), &bo) in self.wb.chunks_exact_mut(kb).zip(w.chunks_exact(k)).zip(b) {
            row[..k].copy_from_slice(wr);
            row[k] = bo;
        }
        let wb = MatRef::rows(&self.wb, g.out_c, kb).t();
        y[..n * out_len]
            .par_chunks_mut(chunk * out_len)
            .zip(x[..n * in_len].par_chunks(chunk * in_len))
            .zip(self.scratch.par_iter_mut())
            .for_each(|((y, x), s)| {
                let imgs = x.len() / in_len;
                for i0 in (0..imgs).step_by(sub) {
                    let m = (imgs - i0).min(sub);
                    g.im2col_images(&x[i0 * in_len..][..m * in_len], &mut s.col);
                    let ys = &mut y[i0 * out_len..][..m * out_len];
                    matmul(ys, g.out_c, MatRef::rows(&s.col, m * px, kb), wb, false);
                }
            });
    }
    fn backward(&mut self, n: usize, x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>) {
        self.ensure_scratch(n, true);
        let g = self.g;
        let (in_len, out_len, k, px, oc) = (
            g.inp.len(),
            g.pixels() * g.out_c,
            g.k(),
            g.pixels(),
            g.out_c,
        );
        let chunk = batch_chunk(n);
        let sub = self.sub;
        let wmat = MatRef::rows(self.params[0].v(), oc, k);
        if let (Some(t), true) = (self.transposed, dx.is_some()) {
            // wflip[c][ky][kx][o] = w[o][ks-1-ky][ks-1-kx][c]
            let (ks, ci) = (g.kernel, g.inp.c);
            self.wflip.resize(ci * t.k(), T::zero());
            let w = self.params[0].v();
            for c in 0..ci {
                for ky in 0..ks {
                    for kx in 0..ks {
                        for o in 0..oc {
                            self.wflip[((c * ks + ky) * ks + kx) * oc + o] =
                                w[((o * ks + ks - 1 - ky) * ks + ks - 1 - kx) * ci + c];
                        }
                    }
                }
            }
        }
        let transposed = self.transposed.map(|t| (t, &self.wflip[..]));
        let kb = k + 1;
        let work = |x: &[T], dy: &[T], s: &mut Scratch<T>, mut dx: Option<&mut [T]>| {
            s.dw.fill(T::zero());
            let imgs = x.len() / in_len;
            for i0 in (0..imgs).step_by(sub) {
                let m = (imgs - i0).min(sub);
                g.im2col_images(&x[i0 * in_len..][..m * in_len], &mut s.col);
                let dys = MatRef::rows(&dy[i0 * out_len..], m * px, oc);
                matmul(
                    &mut s.dw,
                    kb,
                    dys.t(),
                    MatRef::rows(&s.col, m * px, kb),
                    true,
                );
                match (dx.as_deref_mut(), &transposed) {
                    (None, _) => {}
                    (Some(dx), Some((t, wflip))) => {
                        let (tpx, tk) = (t.pixels(), t.k());
                        for i in 0..m {
                            let dyi = &dy[(i0 + i) * out_len..][..out_len];
                            ConvGeom::im2col((t, dyi, &mut s.dcol[i * tpx * tk..], tk));
                        }
                        let wf = MatRef::rows(wflip, t.out_c, tk).t();
                        let cols = MatRef::rows(&s.dcol, m * tpx, tk);
                        matmul(
                            &mut dx[i0 * in_len..][..m * in_len],
                            t.out_c,
                            cols,
                            wf,
                            false,
                        );
                    }
                    (Some(dx), None) => {
                        matmul(&mut s.dcol, k, dys, wmat, false);
                        for i in 0..m {
                            let d = &mut dx[(i0 + i) * in_len..][..in_len];
                            d.fill(T::zero());
                            ConvGeom::col2im_add((&g, &s.dcol[i * px * k..][..px * k], d));
                        }
                    }
                }
            }
        };
        let xs = x[..n * in_len].par_chunks(chunk * in_len);
        let dys = dy[..n * out_len].par_chunks(chunk * out_len);
        match dx {
            Some(dx) => xs
                .zip(dys)
                .zip(dx[..n * in_len].par_chunks_mut(chunk * in_len))
                .zip(self.scratch.par_iter_mut())
                .for_each(|(((x, dy), dx), s)| work(x, dy, s, Some(dx))),
            None => xs
                .zip(dys)
                .zip(self.scratch.par_iter_mut())
                .for_each(|((x, dy), s)| work(x, dy, s, None)),
        }
        let used = n.div_ceil(chunk);
        // Partials summed in chunk order, then split into weight and bias gradients.
        let (first, rest) = self.scratch.split_at_mut(1);
        let total = &mut first[0].dw;
        for part in &rest[..used - 1] {
            total.iter_mut().zip(&part.dw).for_each(|(d, &v)| *d += v);
        }
        let [w, b] = &mut self.params;
        let (dw, db) = (w.g_mut(), b.g_mut());
        for ((row, dwr), dbo) in total.chunks_exact(kb).zip(dw.chunks_exact_mut(k)).zip(db) {
            dwr.copy_from_slice(&row[..k]);
            *dbo = row[k];
        }
    }
}
