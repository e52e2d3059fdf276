//! Direct convolution of channels-last images: no im2col matrix, no GEMM packing.
//!
//! The output is computed in register tiles of `P` consecutive output pixels (in raster order,
//! so a tile may wrap to the next output row) by `CB` consecutive output channels. For every
//! kernel tap and input channel the tile loads `CB` weights (contiguous, since the weights are
//! laid out `[kh, kw, c_in, c_out]`) and broadcasts one input value per pixel, then does
//! `P x CB` fused multiply-adds; the input is a zero-padded copy of the image, so the loop has
//! no bounds tests. The accumulators start at the bias. The weights (and bias) are padded with
//! zero columns to a whole number of channel blocks, `c_out_pad`; the extra channels are
//! computed and not stored. Tile sizes are chosen per instruction
//! set so the accumulators fill most vector registers: `P = 12, CB = 32` with AVX-512, `P = 6,
//! CB = 16` with AVX2 + FMA. On other CPUs, and for `f64`, a plain loop does the same sums.
//!
//! The sums run over `(ky, kx, c_in)` in that order, one accumulator per output value, so the
//! result does not depend on the tile size, the thread count or the batch split.

use super::conv2d::ConvGeom;
use super::Epilogue;
use crate::Real;

/// Tile shape of a direct convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tiles {
    /// 12 pixels x 32 channels (24 of AVX-512's 32 vector registers).
    P12C32,
    /// 12 pixels x 16 channels, AVX-512.
    P12C16,
    /// 8 pixels x 16 channels, AVX-512: for 16-channel outputs, where 12 pixel pointers
    /// plus the loop's own registers exceed the 16 general registers and spill.
    P8C16,
    /// 6 pixels x 16 channels (12 of AVX2's 16 vector registers).
    P6C16,
}

impl Tiles {
    /// The tile shape for `out_c` output channels on this CPU (`None` without AVX2 + FMA:
    /// the layer then uses im2col + GEMM).
    pub fn choose(out_c: usize) -> Option<Tiles> {
        if !crate::simd::has_avx2() {
            return None;
        }
        if crate::simd::has_avx512() {
            // The wider tile unless it pads more channels.
            return Some(
                if out_c.next_multiple_of(32) == out_c.next_multiple_of(16) {
                    Tiles::P12C32
                } else if out_c <= 16 {
                    Tiles::P8C16
                } else {
                    Tiles::P12C16
                },
            );
        }
        Some(Tiles::P6C16)
    }

    /// Output channels per tile.
    pub fn channels(self) -> usize {
        match self {
            Tiles::P12C32 => 32,
            Tiles::P12C16 | Tiles::P8C16 | Tiles::P6C16 => 16,
        }
    }

    /// `out_c` rounded up to whole channel blocks: the row length of the weights.
    pub fn padded(self, out_c: usize) -> usize {
        out_c.next_multiple_of(self.channels())
    }
}

/// Zero-padded copy of one channels-last image for `g`, `(h + 2 pad) x (w + 2 pad)` pixels;
/// returns its row length in pixels.
pub(crate) fn pad_image<T: Real>(g: &ConvGeom, x: &[T], xp: &mut Vec<T>) -> usize {
    let (c, h, w, p) = (g.inp.c, g.inp.h, g.inp.w, g.pad);
    let wp = w + 2 * p;
    let len = (h + 2 * p) * wp * c;
    if xp.len() < len {
        xp.resize(len, T::zero());
    }
    let xp = &mut xp[..len];
    // Only the border needs zeros; the interior is overwritten.
    xp[..p * wp * c].fill(T::zero());
    xp[(h + p) * wp * c..].fill(T::zero());
    for iy in 0..h {
        let row = &mut xp[(iy + p) * wp * c..][..wp * c];
        row[..p * c].fill(T::zero());
        row[(p + w) * c..].fill(T::zero());
        row[p * c..(p + w) * c].copy_from_slice(&x[iy * w * c..][..w * c]);
    }
    wp
}

/// `y = epi(conv(x) + bias)` for one image, with `x` padded by [`pad_image`] (row length `wp`
/// pixels), `wt` the weights `[kh, kw, c_in, c_out_pad]`, `bias` and `epi`'s scale and shift
/// `[c_out_pad]` (see [`Tiles::padded`]). `y` is `[oh * ow, c_out]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_image<T: Real>(
    tiles: Tiles,
    g: &ConvGeom,
    xp: &[T],
    wp: usize,
    wt: &[T],
    bias: Option<&[T]>,
    epi: Epilogue<'_, T>,
    y: &mut [T],
) {
    check(g, xp, wp, wt, bias, epi, y, tiles.channels());
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = f32_kernel(tiles) {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
            // SAFETY: `T` is `f32` (same type, so the casts are identities); `f32_kernel` only
            // returns kernels the CPU supports; `check` validated every length they rely on.
            unsafe {
                let cast = |v: &[T]| std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len());
                let yf = std::slice::from_raw_parts_mut(y.as_mut_ptr().cast::<f32>(), y.len());
                let epi = Epilogue {
                    affine: epi.affine.map(|(a, b)| (cast(a), cast(b))),
                    relu: epi.relu,
                };
                f(g, cast(xp), wp, cast(wt), bias.map(cast), epi, yf);
            }
            return;
        }
    }
    generic(g, xp, wp, wt, bias, epi, y, tiles.channels());
}

/// Panics unless every access of the kernels is in bounds.
#[allow(clippy::too_many_arguments)]
fn check<T>(
    g: &ConvGeom,
    xp: &[T],
    wp: usize,
    wt: &[T],
    bias: Option<&[T]>,
    epi: Epilogue<'_, T>,
    y: &[T],
    cb: usize,
) {
    let (c, ks, s, oc) = (g.inp.c, g.kernel, g.stride, g.out_c.next_multiple_of(cb));
    assert!(y.len() >= g.oh * g.ow * g.out_c && wt.len() >= ks * ks * c * oc);
    assert!(g.oh > 0 && g.ow > 0 && (g.ow - 1) * s + ks <= wp);
    assert!(xp.len() >= ((g.oh - 1) * s + ks) * wp * c);
    assert!(bias.is_none_or(|b| b.len() >= oc));
    assert!(epi
        .affine
        .is_none_or(|(a, b)| a.len() >= oc && b.len() >= oc));
}

/// Input offset of each pixel of the tile starting at output pixel `p0`; past the end the last
/// pixel is repeated (and its result dropped), so a short tile needs no separate code path.
#[inline(always)]
fn tile_offsets<const P: usize>(g: &ConvGeom, wp: usize, p0: usize) -> [usize; P] {
    let npx = g.oh * g.ow;
    std::array::from_fn(|i| {
        let px = (p0 + i).min(npx - 1);
        (px / g.ow * g.stride * wp + px % g.ow * g.stride) * g.inp.c
    })
}

/// The plain reference of the tile kernels (and the kernel for `f64` and CPUs without AVX2):
/// the same sums in the same order, `cb` channels at a time.
#[allow(clippy::too_many_arguments)]
fn generic<T: Real>(
    g: &ConvGeom,
    xp: &[T],
    wp: usize,
    wt: &[T],
    bias: Option<&[T]>,
    epi: Epilogue<'_, T>,
    y: &mut [T],
    cb: usize,
) {
    let (c, ks, oc, ocp) = (g.inp.c, g.kernel, g.out_c, g.out_c.next_multiple_of(cb));
    let npx = g.oh * g.ow;
    let mut acc = vec![T::zero(); 4 * cb];
    for p0 in (0..npx).step_by(4) {
        let base = tile_offsets::<4>(g, wp, p0);
        for co0 in (0..ocp).step_by(cb) {
            for a in acc.chunks_exact_mut(cb) {
                match bias {
                    Some(b) => a.copy_from_slice(&b[co0..co0 + cb]),
                    None => a.fill(T::zero()),
                }
            }
            for ky in 0..ks {
                for j in 0..ks * c {
                    let w = &wt[(ky * ks * c + j) * ocp + co0..][..cb];
                    for (a, &b) in acc.chunks_exact_mut(cb).zip(&base) {
                        let v = xp[b + ky * wp * c + j];
                        for (a, &w) in a.iter_mut().zip(w) {
                            *a = v.fma(w, *a);
                        }
                    }
                }
            }
            let valid = cb.min(oc - co0);
            for (i, a) in acc.chunks_exact_mut(cb).enumerate().take(npx - p0) {
                epi.apply(co0, &mut a[..valid]);
                y[(p0 + i) * oc + co0..][..valid].copy_from_slice(&a[..valid]);
            }
        }
    }
}

// The weights, bias and epilogue go to the kernels as separate arguments: bundled into one
// struct, ResNet-20 inference measured 1,053 -> 604 img/s (1 thread, AVX-512).
type F32Kernel =
    unsafe fn(&ConvGeom, &[f32], usize, &[f32], Option<&[f32]>, Epilogue<'_, f32>, &mut [f32]);

/// The vector kernel for `tiles`, if this CPU runs it.
#[cfg(target_arch = "x86_64")]
fn f32_kernel(tiles: Tiles) -> Option<F32Kernel> {
    use crate::simd::{has_avx2, has_avx512};
    match tiles {
        Tiles::P12C32 if has_avx512() => Some(x86::avx512_p12v2),
        Tiles::P12C16 if has_avx512() => Some(x86::avx512_p12v1),
        Tiles::P8C16 if has_avx512() => Some(x86::avx512_p8v1),
        Tiles::P6C16 if has_avx2() => Some(x86::avx2_p6v2),
        _ => None,
    }
}

/// Defines a tile kernel: `P` pixels by `V` vectors of output channels, accumulators in
/// registers, one broadcast per pixel and `V` weight loads per input channel.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_kernel {
    (avx512: $name:ident, $p:literal, $v:literal) => {
        tile_kernel!(
            $name,
            "avx512f,avx2,fma",
            $p,
            $v,
            __m512,
            16,
            _mm512_setzero_ps,
            _mm512_loadu_ps,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps,
            _mm512_mul_ps,
            _mm512_add_ps,
            _mm512_max_ps
        );
    };
    (avx2: $name:ident, $p:literal, $v:literal) => {
        tile_kernel!(
            $name,
            "avx2,fma",
            $p,
            $v,
            __m256,
            8,
            _mm256_setzero_ps,
            _mm256_loadu_ps,
            _mm256_set1_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps,
            _mm256_mul_ps,
            _mm256_add_ps,
            _mm256_max_ps
        );
    };
    ($name:ident, $features:literal, $p:literal, $v:literal, $vec:ty, $lanes:literal,
     $zero:ident, $load:ident, $set1:ident, $fmadd:ident, $store:ident,
     $mul:ident, $add:ident, $max:ident) => {
        /// # Safety
        /// The CPU must have the listed features; the slices must pass `check`.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $name(
            g: &ConvGeom,
            xp: &[f32],
            wp: usize,
            wt: &[f32],
            bias: Option<&[f32]>,
            epi: Epilogue<'_, f32>,
            y: &mut [f32],
        ) {
            const P: usize = $p;
            const V: usize = $v;
            const CB: usize = V * $lanes;
            let (c, ks, oc, ocp) = (g.inp.c, g.kernel, g.out_c, g.out_c.next_multiple_of(CB));
            let npx = g.oh * g.ow;
            let (x0, w0, y0) = (xp.as_ptr(), wt.as_ptr(), y.as_mut_ptr());
            for p0 in (0..npx).step_by(P) {
                let base = super::tile_offsets::<P>(g, wp, p0);
                for co0 in (0..ocp).step_by(CB) {
                    // SAFETY (whole block): `check` bounds every offset formed here.
                    unsafe {
                        let init: [$vec; V] = std::array::from_fn(|v| match bias {
                            Some(b) => $load(b.as_ptr().add(co0 + v * $lanes)),
                            None => $zero(),
                        });
                        let mut acc: [[$vec; V]; P] = [init; P];
                        for ky in 0..ks {
                            // A kernel row's taps `(kx, ci)` are contiguous both in the input
                            // and in the weights: one loop of `ks * c` steps.
                            let xs: [*const f32; P] =
                                std::array::from_fn(|i| x0.add(base[i] + ky * wp * c));
                            let wk = w0.add(ky * ks * c * ocp + co0);
                            for j in 0..ks * c {
                                let w: [$vec; V] =
                                    std::array::from_fn(|v| $load(wk.add(j * ocp + v * $lanes)));
                                for i in 0..P {
                                    let xv = $set1(*xs[i].add(j));
                                    for v in 0..V {
                                        acc[i][v] = $fmadd(xv, w[v], acc[i][v]);
                                    }
                                }
                            }
                        }
                        if let Some((scale, shift)) = epi.affine {
                            // As batch-norm: a multiply, then an add.
                            for v in 0..V {
                                let a = $load(scale.as_ptr().add(co0 + v * $lanes));
                                let b = $load(shift.as_ptr().add(co0 + v * $lanes));
                                for acc in &mut acc {
                                    acc[v] = $add($mul(acc[v], a), b);
                                }
                            }
                        }
                        if epi.relu {
                            // `max` returns its second operand, 0, for NaN and for -0: as ReLU.
                            for acc in &mut acc {
                                for a in acc.iter_mut() {
                                    *a = $max(*a, $zero());
                                }
                            }
                        }
                        for i in 0..P.min(npx - p0) {
                            let out = y0.add((p0 + i) * oc + co0);
                            if co0 + CB <= oc {
                                for v in 0..V {
                                    $store(out.add(v * $lanes), acc[i][v]);
                                }
                            } else {
                                // The last, partial channel block: through a buffer.
                                let mut buf = [0.0f32; CB];
                                for v in 0..V {
                                    $store(buf.as_mut_ptr().add(v * $lanes), acc[i][v]);
                                }
                                std::ptr::copy_nonoverlapping(buf.as_ptr(), out, oc - co0);
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
    use super::{ConvGeom, Epilogue};
    use std::arch::x86_64::*;

    tile_kernel!(avx512: avx512_p12v2, 12, 2);
    tile_kernel!(avx512: avx512_p12v1, 12, 1);
    tile_kernel!(avx512: avx512_p8v1, 8, 1);
    tile_kernel!(avx2: avx2_p6v2, 6, 2);
}

/// Scaffolding of the kernel tests: random images of odd sizes, and the bit-for-bit check of
/// every vector kernel this CPU runs against its plain loop.
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) mod testing {
    use super::ConvGeom;
    use crate::layer::Dims;
    use rand::{Rng, SeedableRng};

    /// Geometries `(c, h, w, out_c, kernel, stride, pad)`.
    pub type Case = (usize, usize, usize, usize, usize, usize, usize);

    /// Calls `run(g, values)` for each case, `values(n)` giving `n` random values in [-1, 1);
    /// `run` returns the number of vector kernels it compared.
    pub fn each_case(
        seed: u64,
        cases: &[Case],
        mut run: impl FnMut(&ConvGeom, &mut dyn FnMut(usize) -> Vec<f32>) -> usize,
    ) {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut ran = 0;
        for &(c, h, w, oc, k, s, p) in cases {
            let g = ConvGeom::new(Dims { c, h, w }, oc, k, s, p).unwrap();
            let mut values =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
            ran += run(&g, &mut values);
        }
        if ran == 0 {
            eprintln!("no vector kernel runs on this CPU; only the plain loop is tested");
        }
    }

    /// Panics unless `fast` and `plain` hold the same bits.
    pub fn assert_same_bits(fast: &[f32], plain: &[f32], what: &dyn std::fmt::Debug) {
        assert!(
            fast.iter()
                .zip(plain)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{what:?}"
        );
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::testing::{assert_same_bits, each_case};
    use super::*;

    /// Each vector kernel this CPU runs gives bit for bit the plain loop's result (the same
    /// fused multiply-adds in the same order), on odd sizes, strides and short last tiles.
    #[test]
    fn vector_kernels_match_plain_loop_bit_for_bit() {
        let cases = [
            (3, 9, 7, 32, 5, 1, 2),
            (32, 8, 8, 64, 5, 1, 2),
            (5, 7, 9, 16, 3, 2, 1),
            (17, 5, 3, 48, 1, 1, 0),
            (1, 8, 8, 20, 5, 1, 0),
            (20, 6, 7, 50, 3, 1, 1),
        ];
        each_case(5, &cases, |g, vals| {
            let (c, k, oc) = (g.inp.c, g.kernel, g.out_c);
            // Weights and bias with room for every tile shape's padding.
            let ocp = oc.next_multiple_of(32);
            let (x, wt, b) = (vals(g.inp.len()), vals(k * k * c * ocp), vals(ocp));
            let (scale, shift) = (vals(ocp), vals(ocp));
            let mut xp = Vec::new();
            let wp = pad_image(g, &x, &mut xp);
            let mut ran = 0;
            for tiles in [Tiles::P12C32, Tiles::P12C16, Tiles::P8C16, Tiles::P6C16] {
                let Some(kernel) = f32_kernel(tiles) else {
                    continue;
                };
                // The weights laid out for this tile shape's padding.
                let pad = tiles.padded(oc);
                let wt: Vec<f32> = wt
                    .chunks_exact(ocp)
                    .flat_map(|r| &r[..pad])
                    .copied()
                    .collect();
                let epilogues = [
                    (None, false),
                    (None, true),
                    (Some((&scale[..], &shift[..])), false),
                    (Some((&scale[..], &shift[..])), true),
                ];
                for (bias, (affine, relu)) in [Some(&b[..]), None].into_iter().zip(epilogues) {
                    let epi = Epilogue { affine, relu };
                    let mut fast = vec![f32::NAN; g.oh * g.ow * oc];
                    let mut plain = fast.clone();
                    check(g, &xp, wp, &wt, bias, epi, &fast, tiles.channels());
                    // SAFETY: the CPU runs `kernel`; `check` passes.
                    unsafe { kernel(g, &xp, wp, &wt, bias, epi, &mut fast) };
                    generic(g, &xp, wp, &wt, bias, epi, &mut plain, tiles.channels());
                    assert_same_bits(&fast, &plain, &(tiles, g, affine.is_some(), relu));
                    ran += 1;
                }
            }
            ran
        });
    }
}
