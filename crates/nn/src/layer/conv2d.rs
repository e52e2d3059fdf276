//! 2-D convolution (`groups = 1`, zero padding, any kernel and stride) by im2col + GEMM on
//! channels-last data.
//!
//! An image's im2col matrix has one row per output pixel and `kh * kw * c_in` columns in
//! `(ky, kx, c)` order, which in channels-last layout is a run of `kw * c_in` contiguous input
//! values per kernel row. The weights are stored as `[c_out, kh, kw, c_in]` so that
//! `y = col * W^T` lands directly in channels-last order. The batch is split into
//! [`BATCH_CHUNKS`] fixed chunks; each chunk works through its output pixels a block of rows at
//! a time (a block may start inside one image and end inside the next) in an im2col buffer of
//! [`COL_BYTES`] that stays in cache (recomputed in backward rather than stored), and
//! accumulates its own partial weight gradient; the partials are summed in chunk order.
//!
//! Where the channel counts allow, the direct kernels replace the products: the forward pass
//! and the stride-1 input gradient ([`direct`]), the weight gradient ([`direct_dw`]); the
//! chunks and their order stay the same.

use super::direct::{self, Tiles};
use super::direct_dw::{self, DwTiles};
use super::{Dims, Epilogue, Layer, Mode, Param};
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
    /// The geometry of a `kernel x kernel` convolution of `inp` to `out_c` channels with
    /// `stride` and zero padding `pad` on every side; computes the output size
    /// `(size + 2 * pad - kernel) / stride + 1`.
    ///
    /// # Errors
    /// A zero count, a kernel larger than the padded input, or sizes that overflow.
    pub fn new(
        inp: Dims,
        out_c: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Self, String> {
        if out_c == 0 || kernel == 0 || stride == 0 {
            return Err(format!(
                "out_channels {out_c}, kernel {kernel} and stride {stride} must be >= 1"
            ));
        }
        let out = |size: usize| {
            let padded = pad.checked_mul(2).and_then(|p| p.checked_add(size));
            match padded {
                Some(p) if p >= kernel => Ok((p - kernel) / stride + 1),
                _ => Err(format!(
                    "kernel {kernel} larger than the padded input {}x{} (pad {pad})",
                    inp.h, inp.w
                )),
            }
        };
        Ok(Self {
            inp,
            out_c,
            kernel,
            stride,
            pad,
            oh: out(inp.h)?,
            ow: out(inp.w)?,
        })
    }

    fn k(&self) -> usize {
        self.kernel * self.kernel * self.inp.c
    }
    fn pixels(&self) -> usize {
        self.oh * self.ow
    }

    simd_kernel! {
    /// Writes rows `first..` of the im2col matrix of the consecutive images in `x` (row
    /// `i * pixels() + p` is output pixel `p` of image `i`), as many as `col` holds, `ld`
    /// apart: `k()` values each, then, if `ld > k()`, a 1 (the bias column).
    fn im2col<T: Real>((this, x, first, col, ld): (&ConvGeom, &[T], usize, &mut [T], usize)) {
        let Dims { c, h, w } = this.inp;
        let (ks, s, p) = (this.kernel, this.stride, this.pad);
        let k = this.k();
        let (mut img, mut oy, mut ox) = (
            first / this.pixels(),
            first % this.pixels() / this.ow,
            first % this.ow,
        );
        for full in col.chunks_exact_mut(ld) {
            let xi = &x[img * this.inp.len()..][..this.inp.len()];
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
                let src_row = &xi[iy as usize * w * c..][..w * c];
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
            ox += 1;
            if ox == this.ow {
                ox = 0;
                oy += 1;
                if oy == this.oh {
                    oy = 0;
                    img += 1;
                }
            }
        }
    }
    }

    simd_kernel! {
    /// Adds rows `first..` of an im2col-shaped gradient (`k()` wide, numbered as in
    /// [`ConvGeom::im2col`]) into the gradient `dx` of the images, which it does not clear.
    fn col2im_add<T: Real>((this, first, dcol, dx): (&ConvGeom, usize, &[T], &mut [T])) {
        let Dims { c, h, w } = this.inp;
        let (ks, s, p) = (this.kernel, this.stride, this.pad);
        let k = this.k();
        for (r, row) in dcol.chunks_exact(k).enumerate() {
            let (img, px) = ((first + r) / this.pixels(), (first + r) % this.pixels());
            let (oy, ox) = (px / this.ow, px % this.ow);
            let dxi = &mut dx[img * this.inp.len()..][..this.inp.len()];
            for ky in 0..ks {
                let iy = (oy * s + ky) as isize - p as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let src = &row[ky * ks * c..][..ks * c];
                let dst_row = &mut dxi[iy as usize * w * c..][..w * c];
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

/// `dst.copy_from_slice(src)` for short runs without a `memcpy` call: fixed blocks of 16 (or,
/// for runs shorter than that, 8) values, the last one overlapping, that compile to vector
/// moves (one per block with AVX-512, two with AVX2).
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    assert_eq!(n, src.len());
    if n >= 16 {
        copy_blocks::<T, 16>(dst, src);
    } else if n >= 8 {
        copy_blocks::<T, 8>(dst, src);
    } else {
        // An element loop on purpose: `copy_from_slice` would call `memcpy` for a few values.
        #[allow(clippy::manual_memcpy)]
        for i in 0..n {
            dst[i] = src[i];
        }
    }
}

/// Copies `src` (at least `B` values) into `dst` in blocks of `B`, the last one overlapping.
#[inline(always)]
fn copy_blocks<T: Copy, const B: usize>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    let block = |dst: &mut [T], src: &[T], i: usize| {
        let s: &[T; B] = src[i..i + B].try_into().expect("B values");
        let d: &mut [T; B] = (&mut dst[i..i + B]).try_into().expect("B values");
        *d = *s;
    };
    let mut i = 0;
    while i + B <= n {
        block(dst, src, i);
        i += B;
    }
    if i < n {
        block(dst, src, n - B);
    }
}

#[derive(Default)]
struct Scratch<T> {
    /// im2col rows with the bias column (`k + 1` wide).
    col: Vec<T>,
    dcol: Vec<T>,
    /// Partial gradient of a batch chunk: `[c_out, k + 1]`, the weights then the bias in the
    /// last column (GEMM), or `[k + 1, c_out]`, the bias in the last row (direct kernel).
    dw: Vec<T>,
    /// The zero-padded image of a direct convolution.
    xp: Vec<T>,
}

/// Bytes of im2col buffer a chunk works in at a time.
const COL_BYTES: usize = 1 << 19;

pub(crate) struct Conv2d<T> {
    pub(super) g: ConvGeom,
    /// `weight` `[c_out, kh, kw, c_in]`, `bias` `[c_out]`.
    params: [Param<T>; 2],
    scratch: Vec<Scratch<T>>,
    /// im2col rows (output pixels) per block, and the same for the transposed convolution.
    /// A block may start and end anywhere in an image.
    pub(super) rows: usize,
    pub(super) trows: usize,
    /// Stride 1: the input gradient is the convolution of the zero-padded output gradient
    /// with the flipped, transposed kernel; this is its geometry (`None` for other strides,
    /// which scatter the im2col gradient back instead).
    pub(super) transposed: Option<ConvGeom>,
    /// The flipped kernel `[c_in, kh, kw, c_out]` of `transposed`, refreshed every backward.
    wflip: Vec<T>,
    /// `[c_out, k + 1]`: the weights with the bias as last column, refreshed every forward, so
    /// one product `[col 1] [W b]^T` adds the bias (and `dY^T [col 1]` yields its gradient).
    wb: Vec<T>,
    /// Direct convolution (see [`direct`]) for the forward pass and for the transposed
    /// convolution of the input gradient, when the channel counts allow; im2col + GEMM
    /// otherwise.
    pub(super) tiles: Option<Tiles>,
    pub(super) ttiles: Option<Tiles>,
    /// Direct weight gradient (see [`direct_dw`]) when the output channels allow; im2col +
    /// GEMM otherwise.
    pub(super) dtiles: Option<DwTiles>,
    /// The weights `[kh, kw, c_in, c_out_pad]` of the direct forward convolution followed by the
    /// bias and an eval epilogue's scale and shift (`[c_out_pad]` each), and the flipped kernel `[kh, kw, c_out, c_in_pad]` of the direct
    /// transposed one (see [`Tiles::padded`]).
    wt: Vec<T>,
    wtt: Vec<T>,
}

impl<T: Real> Conv2d<T> {
    pub fn new(g: ConvGeom, weight: Param<T>, bias: Param<T>) -> Self {
        assert_eq!(
            weight.value.shape(),
            &[g.out_c, g.kernel, g.kernel, g.inp.c]
        );
        assert_eq!(bias.value.shape(), &[g.out_c]);
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
            rows: block_rows::<T>(g.k() + 1),
            trows: transposed.map_or(0, |t| block_rows::<T>(t.k())),
            tiles: Tiles::choose(g.out_c),
            ttiles: transposed.and_then(|t| Tiles::choose(t.out_c)),
            dtiles: DwTiles::choose(g.out_c),
            wt: Vec::new(),
            wtt: Vec::new(),
            transposed,
            wflip: Vec::new(),
            wb: Vec::new(),
        }
    }

    fn ensure_scratch(&mut self, n: usize, backward: bool) {
        let most = batch_chunk(n);
        let rows = self.rows.min(most * self.g.pixels());
        let k = self.g.k();
        // The backward pass needs im2col rows only for the GEMM of the weight gradient.
        let col = !backward || self.dtiles.is_none();
        for s in &mut self.scratch {
            if col && s.col.len() < rows * (k + 1) {
                s.col.resize(rows * (k + 1), T::zero());
            }
            if backward {
                // Either the im2col gradient (`rows x k`) or a block of the transposed
                // convolution's im2col matrix of the output gradients.
                let dlen = match self.transposed {
                    // The direct transposed convolution needs no im2col buffer.
                    Some(_) if self.ttiles.is_some() => 0,
                    Some(t) => self.trows.min(most * t.pixels()) * t.k(),
                    None => rows * k,
                };
                if s.dcol.len() < dlen {
                    s.dcol.resize(dlen, T::zero());
                }
                s.dw.resize(self.g.out_c * (k + 1), T::zero());
            }
        }
    }

    /// The forward pass with `epi` applied to the outputs (only the direct convolution takes
    /// one that does something).
    fn forward_with(&mut self, n: usize, x: &[T], y: &mut [T], epi: Epilogue<'_, T>) {
        let g = self.g;
        let (in_len, k, px) = (g.inp.len(), g.k(), g.pixels());
        let out_len = px * g.out_c;
        let chunk = batch_chunk(n);
        let ys = y[..n * out_len].par_chunks_mut(chunk * out_len);
        let xs = x[..n * in_len].par_chunks(chunk * in_len);
        if self.tiles.is_none() {
            self.ensure_scratch(n, false);
        }
        let (w, b) = (self.params[0].v(), self.params[1].v());
        if let Some(tiles) = self.tiles {
            // wt[kk][c][o] = w[o][kk][c], rows padded with zeros to `ocp`; after them the bias
            // and the epilogue's scale and shift, each padded to `ocp`.
            let ocp = tiles.padded(g.out_c);
            self.wt.resize(k * ocp + 3 * ocp, T::zero());
            for (o, wo) in w.chunks_exact(k).enumerate() {
                for (j, &v) in wo.iter().enumerate() {
                    self.wt[j * ocp + o] = v;
                }
            }
            let (wt, tail) = self.wt.split_at_mut(k * ocp);
            let (bias, affine) = tail.split_at_mut(ocp);
            bias[..g.out_c].copy_from_slice(b);
            let affine = epi.affine.map(|(scale, shift)| {
                let (a, b) = affine.split_at_mut(ocp);
                a[..g.out_c].copy_from_slice(scale);
                b[..g.out_c].copy_from_slice(shift);
                (&*a, &*b)
            });
            let epi = Epilogue { affine, ..epi };
            let (wt, bias) = (&*wt, &*bias);
            ys.zip(xs)
                .zip(self.scratch.par_iter_mut())
                .for_each(|((y, x), s)| {
                    for (y, x) in y.chunks_exact_mut(out_len).zip(x.chunks_exact(in_len)) {
                        let wp = direct::pad_image(&g, x, &mut s.xp);
                        direct::conv_image(tiles, &g, &s.xp, wp, wt, Some(bias), epi, y);
                    }
                });
            return;
        }
        assert!(
            epi.affine.is_none() && !epi.relu,
            "only the direct convolution fuses an epilogue"
        );
        let block = self.rows;
        let kb = k + 1;
        self.wb.resize(g.out_c * kb, T::zero());
        for ((row, wr), &bo) in self.wb.chunks_exact_mut(kb).zip(w.chunks_exact(k)).zip(b) {
            row[..k].copy_from_slice(wr);
            row[k] = bo;
        }
        let wb = MatRef::rows(&self.wb, g.out_c, kb).t();
        ys.zip(xs)
            .zip(self.scratch.par_iter_mut())
            .for_each(|((y, x), s)| {
                let rows = x.len() / in_len * px;
                for r0 in (0..rows).step_by(block) {
                    let m = (rows - r0).min(block);
                    ConvGeom::im2col((&g, x, r0, &mut s.col[..m * kb], kb));
                    let ys = &mut y[r0 * g.out_c..][..m * g.out_c];
                    matmul(ys, g.out_c, MatRef::rows(&s.col, m, kb), wb, false);
                }
            });
    }
}

/// im2col rows of `width` values that fill [`COL_BYTES`] (at least 16).
fn block_rows<T>(width: usize) -> usize {
    (COL_BYTES / (width * std::mem::size_of::<T>()).max(1)).max(16)
}

impl<T: Real> Layer<T> for Conv2d<T> {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn in_dims(&self) -> Dims {
        self.g.inp
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
        self.forward_with(n, x, y, Epilogue::NONE);
    }
    /// The direct convolution applies the epilogue in its output tiles.
    fn forward_fused(&mut self, n: usize, x: &[T], y: &mut [T], epi: Epilogue<'_, T>) -> bool {
        if self.tiles.is_none() {
            return false;
        }
        self.forward_with(n, x, y, epi);
        true
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
        let (block, tblock) = (self.rows, self.trows);
        let wmat = MatRef::rows(self.params[0].v(), oc, k);
        if let (Some(t), true) = (self.transposed, dx.is_some()) {
            // The direct kernel wants wtt[ky][kx][o][c] (rows padded with zeros to `cip`), the
            // GEMM wflip[c][ky][kx][o]; both are w[o][ks-1-ky][ks-1-kx][c].
            let (ks, ci) = (g.kernel, g.inp.c);
            let cip = self.ttiles.map(|tt| tt.padded(ci));
            let direct = cip.is_some();
            let flip = if direct {
                &mut self.wtt
            } else {
                &mut self.wflip
            };
            flip.resize(cip.unwrap_or(ci) * t.k(), T::zero());
            let w = self.params[0].v();
            for c in 0..ci {
                for ky in 0..ks {
                    for kx in 0..ks {
                        for o in 0..oc {
                            let i = if let Some(cip) = cip {
                                ((ky * ks + kx) * oc + o) * cip + c
                            } else {
                                ((c * ks + ky) * ks + kx) * oc + o
                            };
                            flip[i] = w[((o * ks + ks - 1 - ky) * ks + ks - 1 - kx) * ci + c];
                        }
                    }
                }
            }
        }
        let transposed = self.transposed.map(|t| (t, &self.wflip[..]));
        let (ttiles, wtt) = (self.ttiles, &self.wtt[..]);
        let (kb, dtiles) = (k + 1, self.dtiles);
        let work = |x: &[T], dy: &[T], s: &mut Scratch<T>, mut dx: Option<&mut [T]>| {
            s.dw.fill(T::zero());
            let rows = x.len() / in_len * px;
            let scatter = transposed.is_none() && dx.is_some();
            if let (true, Some(dx)) = (scatter, dx.as_deref_mut()) {
                dx.fill(T::zero());
            }
            if let Some(dt) = dtiles {
                // dW (and db) image by image, directly.
                let (dwt, db) = s.dw.split_at_mut(k * oc);
                for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
                    let wp = direct_dw::pad_with_slack(&g, x, &mut s.xp);
                    direct_dw::add_weight_grad(dt, &g, &s.xp, wp, dy, dwt);
                    direct_dw::add_bias_grad(dy, db);
                }
            }
            if dtiles.is_none() || scatter {
                for r0 in (0..rows).step_by(block) {
                    let m = (rows - r0).min(block);
                    let dys = MatRef::rows(&dy[r0 * oc..], m, oc);
                    if dtiles.is_none() {
                        ConvGeom::im2col((&g, x, r0, &mut s.col[..m * kb], kb));
                        matmul(&mut s.dw, kb, dys.t(), MatRef::rows(&s.col, m, kb), true);
                    }
                    if let (true, Some(dx)) = (scatter, dx.as_deref_mut()) {
                        matmul(&mut s.dcol[..m * k], k, dys, wmat, false);
                        ConvGeom::col2im_add((&g, r0, &s.dcol[..m * k], dx));
                    }
                }
            }
            if let (Some(dx), Some((t, _)), Some(tiles)) = (dx.as_deref_mut(), &transposed, ttiles)
            {
                // dX = the transposed convolution of dY, directly, one image at a time.
                let dys = dy.chunks_exact(out_len);
                for (dx, dy) in dx.chunks_exact_mut(in_len).zip(dys) {
                    let wp = direct::pad_image(t, dy, &mut s.xp);
                    direct::conv_image(tiles, t, &s.xp, wp, wtt, None, Epilogue::NONE, dx);
                }
            } else if let (Some(dx), Some((t, wflip))) = (dx, &transposed) {
                // dX = the transposed convolution of dY, a block of input pixels at a time.
                let (trows, tk) = (x.len() / in_len * t.pixels(), t.k());
                let wf = MatRef::rows(wflip, t.out_c, tk).t();
                for r0 in (0..trows).step_by(tblock) {
                    let m = (trows - r0).min(tblock);
                    ConvGeom::im2col((t, dy, r0, &mut s.dcol[..m * tk], tk));
                    let cols = MatRef::rows(&s.dcol, m, tk);
                    matmul(
                        &mut dx[r0 * t.out_c..][..m * t.out_c],
                        t.out_c,
                        cols,
                        wf,
                        false,
                    );
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
        if self.dtiles.is_some() {
            // `[k + 1, c_out]`: transposed into `[c_out, k]`, the bias from the last row.
            for (j, row) in total[..k * oc].chunks_exact(oc).enumerate() {
                for (o, &v) in row.iter().enumerate() {
                    dw[o * k + j] = v;
                }
            }
            db.copy_from_slice(&total[k * oc..][..oc]);
        } else {
            for ((row, dwr), dbo) in total.chunks_exact(kb).zip(dw.chunks_exact_mut(k)).zip(db) {
                dwr.copy_from_slice(&row[..k]);
                *dbo = row[k];
            }
        }
    }
}
