//! Direct weight gradient of a convolution of channels-last images: no im2col matrix, no GEMM.
//!
//! The gradient `dW[ky][kx][c_in][c_out]` (taps-major, output channels contiguous) sums, over
//! the output pixels `p` (at input position `p * stride`), `x[p * stride + tap] * dy[p]`. A kernel row's taps `(kx, c_in)` are contiguous
//! in the zero-padded input (see [`super::direct::pad_image`]), so a register tile holds `J`
//! consecutive taps of one kernel row by `V` vectors of output channels; for every output
//! pixel it loads `V` vectors of `dy`, broadcasts `J` input values and does `J x V` fused
//! multiply-adds. The accumulators start from the gradient accumulated so far, so the images
//! of a batch chunk add up in order. The last tile of a kernel row may reach past the row:
//! those taps read the next pixels' values (or the slack after the image, [`pad_with_slack`])
//! and are not stored. Tile shapes fill most vector registers: `J = 12, V = 2` (32 channels) and
//! `J = 24, V = 1` (16 channels) with AVX-512, `J = 6, V = 2` (16) and `J = 12, V = 1` (8)
//! with AVX2 + FMA. Output channel counts that are no multiple of 8 use im2col + GEMM.
//!
//! Every gradient value is one chain of fused multiply-adds over the pixels in raster order,
//! so the result depends neither on the tile shape nor on the thread count; the plain loop
//! (for `f64`, and the reference of the tests) does the same sums in the same order.

use super::conv2d::ConvGeom;
use super::direct::pad_image;
use crate::Real;

/// Tile shape of a direct weight gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DwTiles {
    /// 12 taps x 32 channels, AVX-512 (24 accumulators).
    J12C32,
    /// 24 taps x 16 channels, AVX-512.
    J24C16,
    /// 6 taps x 16 channels, AVX2 (12 of its 16 vector registers).
    J6C16,
    /// 12 taps x 8 channels, AVX2.
    J12C8,
}

impl DwTiles {
    /// The tile shape for `out_c` output channels on this CPU (`None`: im2col + GEMM).
    pub fn choose(out_c: usize) -> Option<DwTiles> {
        if !crate::simd::has_avx2() {
            return None;
        }
        let avx512 = crate::simd::has_avx512();
        match out_c {
            _ if avx512 && out_c.is_multiple_of(32) => Some(DwTiles::J12C32),
            _ if avx512 && out_c.is_multiple_of(16) => Some(DwTiles::J24C16),
            _ if out_c.is_multiple_of(16) => Some(DwTiles::J6C16),
            _ if out_c.is_multiple_of(8) => Some(DwTiles::J12C8),
            _ => None,
        }
    }

    /// Output channels per tile.
    fn channels(self) -> usize {
        match self {
            DwTiles::J12C32 => 32,
            DwTiles::J24C16 | DwTiles::J6C16 => 16,
            DwTiles::J12C8 => 8,
        }
    }
}

/// Values a padded image needs past its end: the longest tile's reach past a kernel row.
const SLACK: usize = 24;

/// [`pad_image`] with [`SLACK`] values after the image; returns its row length in pixels.
pub(crate) fn pad_with_slack<T: Real>(g: &ConvGeom, x: &[T], xp: &mut Vec<T>) -> usize {
    let wp = pad_image(g, x, xp);
    let len = (g.inp.h + 2 * g.pad) * wp * g.inp.c + SLACK;
    if xp.len() < len {
        xp.resize(len, T::zero());
    }
    wp
}

/// Adds the weight gradient of one image to `dwt` (`[kh * kw * c_in, c_out]`): `xp` is the
/// image padded by [`pad_with_slack`] (row length `wp` pixels), `dy` the output gradient
/// `[oh * ow, c_out]`.
pub(crate) fn add_weight_grad<T: Real>(
    tiles: DwTiles,
    g: &ConvGeom,
    xp: &[T],
    wp: usize,
    dy: &[T],
    dwt: &mut [T],
) {
    check(g, xp, wp, dy, dwt, tiles.channels());
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = f32_kernel(tiles) {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
            // SAFETY: `T` is `f32` (same type, so the casts are identities); `f32_kernel` only
            // returns kernels the CPU supports; `check` validated every length they rely on.
            unsafe {
                let cast = |v: &[T]| std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len());
                let dwf = std::slice::from_raw_parts_mut(dwt.as_mut_ptr().cast::<f32>(), dwt.len());
                f(g, cast(xp), wp, cast(dy), dwf);
            }
            return;
        }
    }
    generic(g, xp, wp, dy, dwt);
}

/// Adds the bias gradient of one image (`dy` `[pixels, c_out]`) to `db`, pixel by pixel.
pub(crate) fn add_bias_grad<T: Real>(dy: &[T], db: &mut [T]) {
    for row in dy.chunks_exact(db.len()) {
        db.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
    }
}

/// Panics unless every access of the kernels is in bounds.
fn check<T>(g: &ConvGeom, xp: &[T], wp: usize, dy: &[T], dwt: &[T], cb: usize) {
    let (c, ks, s, oc) = (g.inp.c, g.kernel, g.stride, g.out_c);
    assert!(oc.is_multiple_of(cb) && dwt.len() >= ks * ks * c * oc);
    assert!(dy.len() >= g.oh * g.ow * oc);
    assert!(g.oh > 0 && g.ow > 0 && (g.ow - 1) * s + ks <= wp);
    assert!(xp.len() >= ((g.oh - 1) * s + ks) * wp * c + SLACK);
}

/// The plain reference of the tile kernels: for every pixel in raster order, every tap and
/// every output channel, one fused multiply-add.
fn generic<T: Real>(g: &ConvGeom, xp: &[T], wp: usize, dy: &[T], dwt: &mut [T]) {
    let (c, ks, s, oc) = (g.inp.c, g.kernel, g.stride, g.out_c);
    let row = ks * c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let d = &dy[(oy * g.ow + ox) * oc..][..oc];
            for ky in 0..ks {
                let x = &xp[((oy * s + ky) * wp + ox * s) * c..][..row];
                let dw = &mut dwt[ky * row * oc..][..row * oc];
                for (&v, dw) in x.iter().zip(dw.chunks_exact_mut(oc)) {
                    for (a, &d) in dw.iter_mut().zip(d) {
                        *a = v.fma(d, *a);
                    }
                }
            }
        }
    }
}

type F32Kernel = unsafe fn(&ConvGeom, &[f32], usize, &[f32], &mut [f32]);

/// The vector kernel for `tiles`, if this CPU runs it.
#[cfg(target_arch = "x86_64")]
fn f32_kernel(tiles: DwTiles) -> Option<F32Kernel> {
    use crate::simd::{has_avx2, has_avx512};
    match tiles {
        DwTiles::J12C32 if has_avx512() => Some(x86::avx512_j12v2),
        DwTiles::J24C16 if has_avx512() => Some(x86::avx512_j24v1),
        DwTiles::J6C16 if has_avx2() => Some(x86::avx2_j6v2),
        DwTiles::J12C8 if has_avx2() => Some(x86::avx2_j12v1),
        _ => None,
    }
}

/// Defines a tile kernel: `J` taps by `V` vectors of output channels, accumulators in
/// registers, `V` loads of `dy` and one broadcast per tap for every output pixel.
#[cfg(target_arch = "x86_64")]
macro_rules! dw_kernel {
    (avx512: $name:ident, $j:literal, $v:literal) => {
        dw_kernel!(
            $name,
            "avx512f,avx2,fma",
            $j,
            $v,
            __m512,
            16,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps
        );
    };
    (avx2: $name:ident, $j:literal, $v:literal) => {
        dw_kernel!(
            $name,
            "avx2,fma",
            $j,
            $v,
            __m256,
            8,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps
        );
    };
    ($name:ident, $features:literal, $j:literal, $v:literal, $vec:ty, $lanes:literal,
     $load:ident, $set1:ident, $fmadd:ident, $store:ident) => {
        /// # Safety
        /// The CPU must have the listed features; the slices must pass `check`.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $name(
            g: &ConvGeom,
            xp: &[f32],
            wp: usize,
            dy: &[f32],
            dwt: &mut [f32],
        ) {
            const J: usize = $j;
            const V: usize = $v;
            const CB: usize = V * $lanes;
            let (c, ks, s, oc) = (g.inp.c, g.kernel, g.stride, g.out_c);
            let row = ks * c;
            let (x0, d0, w0) = (xp.as_ptr(), dy.as_ptr(), dwt.as_mut_ptr());
            for ky in 0..ks {
                for j0 in (0..row).step_by(J) {
                    let taps = J.min(row - j0);
                    for o0 in (0..oc).step_by(CB) {
                        // SAFETY (whole block): `check` bounds every offset formed here; the
                        // taps past the row stay within the slack and are not stored.
                        unsafe {
                            let w = w0.add((ky * row + j0) * oc + o0);
                            let mut acc: [[$vec; V]; J] = std::array::from_fn(|t| {
                                std::array::from_fn(|v| {
                                    $load(w.add(t.min(taps - 1) * oc + v * $lanes))
                                })
                            });
                            for oy in 0..g.oh {
                                let xr = x0.add(((oy * s + ky) * wp) * c + j0);
                                let dr = d0.add(oy * g.ow * oc + o0);
                                for ox in 0..g.ow {
                                    let xq = xr.add(ox * s * c);
                                    let dq = dr.add(ox * oc);
                                    let d: [$vec; V] =
                                        std::array::from_fn(|v| $load(dq.add(v * $lanes)));
                                    for t in 0..J {
                                        let xv = $set1(*xq.add(t));
                                        for v in 0..V {
                                            acc[t][v] = $fmadd(xv, d[v], acc[t][v]);
                                        }
                                    }
                                }
                            }
                            for (t, a) in acc.iter().enumerate().take(taps) {
                                for v in 0..V {
                                    $store(w.add(t * oc + v * $lanes), a[v]);
                                }
                            }
                        }
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ConvGeom;
    use std::arch::x86_64::*;

    dw_kernel!(avx512: avx512_j12v2, 12, 2);
    dw_kernel!(avx512: avx512_j24v1, 24, 1);
    dw_kernel!(avx2: avx2_j6v2, 6, 2);
    dw_kernel!(avx2: avx2_j12v1, 12, 1);
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::direct::testing::{assert_same_bits, each_case};
    use super::*;

    /// Each vector kernel this CPU runs gives bit for bit the plain loop's result (the same
    /// fused multiply-adds in the same order), on odd sizes, strides, kernel rows shorter than
    /// a tile and rows that end inside one, added onto a gradient that is not zero.
    #[test]
    fn vector_kernels_match_plain_loop_bit_for_bit() {
        let cases = [
            (3, 9, 7, 32, 5, 1, 2),
            (16, 8, 8, 16, 3, 1, 1),
            (5, 7, 9, 64, 3, 2, 1),
            (17, 5, 3, 48, 1, 1, 0),
            (1, 8, 8, 8, 5, 1, 0),
            (20, 6, 7, 32, 3, 1, 1),
            (32, 4, 4, 16, 3, 1, 1),
        ];
        each_case(7, &cases, |g, vals| {
            let (c, k, oc) = (g.inp.c, g.kernel, g.out_c);
            let (x, dy, dw0) = (
                vals(g.inp.len()),
                vals(g.oh * g.ow * oc),
                vals(k * k * c * oc),
            );
            let mut xp = Vec::new();
            let wp = pad_with_slack(g, &x, &mut xp);
            let mut ran = 0;
            for tiles in [
                DwTiles::J12C32,
                DwTiles::J24C16,
                DwTiles::J6C16,
                DwTiles::J12C8,
            ] {
                let Some(kernel) = f32_kernel(tiles) else {
                    continue;
                };
                if !oc.is_multiple_of(tiles.channels()) {
                    continue;
                }
                let (mut fast, mut plain) = (dw0.clone(), dw0.clone());
                check(g, &xp, wp, &dy, &fast, tiles.channels());
                // SAFETY: the CPU runs `kernel`; `check` passes.
                unsafe { kernel(g, &xp, wp, &dy, &mut fast) };
                generic(g, &xp, wp, &dy, &mut plain);
                assert_same_bits(&fast, &plain, &(tiles, g));
                ran += 1;
            }
            ran
        });
    }
}
