//! Central-difference gradient checks (f64) for every layer, and fast paths against plain
//! reference implementations.

use super::conv2d::ConvGeom;
use super::direct::Tiles;
use super::direct_dw::DwTiles;
use super::pool::pool_out;
use super::*;
use crate::init::InitSpec;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

fn rand_vec(n: usize, rng: &mut Pcg64Mcg) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn param(name: &'static str, shape: &[usize], rng: &mut Pcg64Mcg) -> Param<f64> {
    let mut v = ndarray::ArrayD::zeros(shape.to_vec());
    InitSpec::Uniform {
        low: -0.5,
        high: 0.5,
    }
    .fill(v.as_slice_mut().unwrap(), 1, 1, rng);
    Param::new(name, v, 1.0, 1.0)
}

/// `L = sum r * layer(x)`; checks `dL/dx` and every trainable parameter gradient against
/// central differences at up to `max_checks` coordinates each.
fn gradcheck(layer: &mut dyn Layer<f64>, inp: Dims, n: usize, seed: u64) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let x = rand_vec(n * inp.len(), &mut rng);
    let out_len = n * layer.out_dims().len();
    let r = rand_vec(out_len, &mut rng);
    let mode = Mode::Train { seed: 11 };
    let loss = |layer: &mut dyn Layer<f64>, x: &[f64]| {
        let mut y = vec![0.0; out_len];
        layer.forward(n, x, &mut y, mode);
        y.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>()
    };
    let mut y = vec![0.0; out_len];
    layer.forward(n, &x, &mut y, mode);
    let mut dx = vec![f64::NAN; x.len()];
    layer.backward(n, &x, &y, &r, Some(&mut dx));
    // Every parameter, the sub-layers' included: (name, gradient, trainable).
    let mut grads: Vec<(String, Vec<f64>, bool)> = Vec::new();
    visit_params("", layer, &mut |name, p| {
        grads.push((name, p.grad.as_slice().unwrap().to_vec(), p.trainable))
    });
    let eps = 1e-6;
    let kind = layer.kind();
    let close = |num: f64, ana: f64, what: &str| {
        let tol = 1e-6 * (1.0 + num.abs().max(ana.abs()));
        assert!(
            (num - ana).abs() <= tol,
            "{kind} {what}: numeric {num:e} vs analytic {ana:e}"
        );
    };
    let max_checks = 400;
    let step = (x.len() / max_checks).max(1);
    let mut xp = x.clone();
    for i in (0..x.len()).step_by(step) {
        xp[i] = x[i] + eps;
        let lp = loss(layer, &xp);
        xp[i] = x[i] - eps;
        let lm = loss(layer, &xp);
        xp[i] = x[i];
        close((lp - lm) / (2.0 * eps), dx[i], &format!("dx[{i}]"));
    }
    for (pi, (pname, g, trainable)) in grads.iter().enumerate() {
        if !trainable {
            continue;
        }
        let len = g.len();
        for j in (0..len).step_by((len / max_checks).max(1)) {
            let orig = set_param(layer, pi, j, None);
            set_param(layer, pi, j, Some(orig + eps));
            let lp = loss(layer, &x);
            set_param(layer, pi, j, Some(orig - eps));
            let lm = loss(layer, &x);
            set_param(layer, pi, j, Some(orig));
            close(
                (lp - lm) / (2.0 * eps),
                g[j],
                &format!("param {pname} [{j}]"),
            );
        }
    }
}

/// Value `j` of parameter `pi` (in [`visit_params`] order), set to `new` if given.
fn set_param(layer: &mut dyn Layer<f64>, pi: usize, j: usize, new: Option<f64>) -> f64 {
    let (mut k, mut old) = (0, f64::NAN);
    visit_params_mut("", layer, &mut |_, p| {
        if k == pi {
            let v = &mut p.value.as_slice_mut().unwrap()[j];
            old = *v;
            if let Some(n) = new {
                *v = n;
            }
        }
        k += 1;
    });
    old
}

fn conv(
    inp: Dims,
    out_c: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    seed: u64,
) -> Conv2d<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let g = ConvGeom::new(inp, out_c, kernel, stride, pad).unwrap();
    let w = param("weight", &[out_c, kernel, kernel, inp.c], &mut rng);
    let b = param("bias", &[out_c], &mut rng);
    // im2col + GEMM on every CPU; the direct-convolution tests opt in.
    let mut l = Conv2d::new(g, w, b);
    (l.tiles, l.ttiles, l.dtiles) = (None, None, None);
    l
}

#[test]
fn dense_gradients() {
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let mut l = Dense::new(
        7,
        5,
        param("weight", &[5, 7], &mut rng),
        param("bias", &[5], &mut rng),
    );
    gradcheck(&mut l, Dims { c: 7, h: 1, w: 1 }, 3, 2);
    // Wide enough to take the parallel column-block path.
    let mut l = Dense::new(
        9,
        300,
        param("weight", &[300, 9], &mut rng),
        param("bias", &[300], &mut rng),
    );
    gradcheck(&mut l, Dims { c: 9, h: 1, w: 1 }, 2, 3);
}

#[test]
fn conv_gradients_stride_padding_odd_sizes() {
    for (i, &(c, h, w, oc, k, s, p)) in [
        (1, 5, 5, 2, 3, 1, 0),
        (3, 7, 6, 4, 3, 2, 1),
        (2, 6, 5, 3, 5, 1, 2),
        (2, 9, 7, 3, 2, 3, 1),
        (3, 4, 4, 2, 1, 1, 0),
    ]
    .iter()
    .enumerate()
    {
        let inp = Dims { c, h, w };
        // 5 samples: several batch chunks, the last one shorter.
        gradcheck(&mut conv(inp, oc, k, s, p, i as u64), inp, 5, 10 + i as u64);
        // im2col blocks of 7 rows, which start and end inside images and span two.
        let mut l = conv(inp, oc, k, s, p, i as u64);
        l.rows = 7;
        gradcheck(&mut l, inp, 5, 20 + i as u64);
    }
}

/// Stride 1, "same" padding and at least 16 input channels: the input gradient goes through
/// the transposed-convolution path instead of col2im.
#[test]
fn conv_gradients_transposed_path() {
    for (i, &(c, h, w, oc, k, p)) in [(16, 5, 6, 3, 3, 1), (17, 4, 5, 2, 5, 2)]
        .iter()
        .enumerate()
    {
        let inp = Dims { c, h, w };
        let mut l = conv(inp, oc, k, 1, p, 90 + i as u64);
        assert!(l.transposed.is_some());
        gradcheck(&mut l, inp, 3, 91 + i as u64);
        (l.rows, l.trows) = (7, 11);
        gradcheck(&mut l, inp, 3, 93 + i as u64);
    }
}

/// Output channels in blocks of 16 or 32: the forward pass, the weight gradient (and, with 16+
/// input channels, the input gradient) go through the direct kernels. Forced here so that
/// their plain loops, which `f64` always takes, are checked on every CPU.
#[test]
fn conv_gradients_direct_path() {
    for (i, &(c, h, w, oc, k, s, p, tiles)) in [
        (16, 5, 6, 16, 3, 1, 1, Tiles::P6C16),
        (3, 7, 6, 32, 3, 2, 1, Tiles::P12C32),
        (16, 4, 5, 32, 5, 1, 2, Tiles::P12C16),
        (2, 9, 7, 16, 2, 3, 1, Tiles::P6C16),
        (16, 6, 5, 16, 3, 1, 1, Tiles::P8C16),
    ]
    .iter()
    .enumerate()
    {
        let inp = Dims { c, h, w };
        let mut l = conv(inp, oc, k, s, p, 30 + i as u64);
        (l.tiles, l.dtiles) = (Some(tiles), Some(DwTiles::J6C16));
        if l.transposed.is_some() {
            l.ttiles = Some(Tiles::P6C16);
        }
        gradcheck(&mut l, inp, 5, 40 + i as u64);
        // Strides above 1: the direct weight gradient beside col2im in blocks of 7 rows.
        if l.transposed.is_none() {
            l.rows = 7;
            gradcheck(&mut l, inp, 5, 50 + i as u64);
        }
    }
}

#[test]
fn pool_gradients_ceil_floor_padding() {
    for (i, &(kind, h, w, k, s, p, ceil)) in [
        (PoolKind::Max, 7, 7, 3, 2, 0, true),
        (PoolKind::Max, 8, 5, 3, 2, 1, false),
        (PoolKind::Max, 6, 6, 2, 2, 0, true),
        (PoolKind::Avg, 7, 7, 3, 2, 0, true),
        (PoolKind::Avg, 8, 5, 3, 2, 1, true),
        (PoolKind::Avg, 9, 6, 3, 3, 1, false),
    ]
    .iter()
    .enumerate()
    {
        let inp = Dims { c: 3, h, w };
        let mut l = Pool::new(kind, inp, k, s, p, ceil);
        gradcheck(&mut l, inp, 2, 20 + i as u64);
    }
}

#[test]
fn activation_gradients() {
    let d = Dims { c: 3, h: 4, w: 5 };
    for kind in [
        ActivationKind::Relu,
        ActivationKind::Sigmoid,
        ActivationKind::Tanh,
    ] {
        gradcheck(&mut Activation::new(kind, d), d, 3, 30);
    }
}

#[test]
fn lrn_gradients_both_regions() {
    let d = Dims { c: 6, h: 5, w: 4 };
    for (region, size) in [
        (LrnRegion::AcrossChannels, 5),
        (LrnRegion::WithinChannel, 3),
        (LrnRegion::AcrossChannels, 3),
    ] {
        // Large alpha so the normalization term matters numerically.
        let mut l = Lrn::<f64>::new(region, d, size, 0.9, 0.75, 1.0);
        gradcheck(&mut l, d, 2, 40);
    }
}

#[test]
fn dropout_batch_norm_flatten_gradients() {
    let d = Dims { c: 4, h: 3, w: 2 };
    gradcheck(&mut Dropout::<f64>::new(0.4, d, 3), d, 3, 50);
    gradcheck(&mut Flatten::new(d), d, 2, 51);
    let mut bn = BatchNorm::<f64>::new(d, 1e-5, 0.1, [1.0, 1.0], [1.0, 1.0]);
    // Non-trivial gamma and beta.
    let mut rng = Pcg64Mcg::seed_from_u64(52);
    for p in &mut bn.params_mut()[..2] {
        p.value
            .iter_mut()
            .for_each(|v| *v = rng.gen_range(0.5..1.5));
    }
    gradcheck(&mut bn, d, 5, 53);
    gradcheck(&mut GlobalAvgPool::new(d), d, 3, 54);
    let flat = Dims { c: 7, h: 1, w: 1 };
    gradcheck(
        &mut BatchNorm::<f64>::new(flat, 1e-5, 0.1, [1.0, 1.0], [1.0, 1.0]),
        flat,
        6,
        54,
    );
}

/// Direct 7-loop convolution on channels-last data, weights `[oc, kh, kw, ic]`.
fn naive_conv(g: &ConvGeom, n: usize, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let Dims { c, h, w: wd } = g.inp;
    let k = g.kernel;
    let mut y = vec![0.0; n * g.oh * g.ow * g.out_c];
    for i in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for o in 0..g.out_c {
                    let mut acc = b[o];
                    for ky in 0..k {
                        for kx in 0..k {
                            for ci in 0..c {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                    acc += x[((i * h + iy as usize) * wd + ix as usize) * c + ci]
                                        * w[((o * k + ky) * k + kx) * c + ci];
                                }
                            }
                        }
                    }
                    y[((i * g.oh + oy) * g.ow + ox) * g.out_c + o] = acc;
                }
            }
        }
    }
    y
}

/// The direct convolution's plain loop against the 7-loop reference, with a last tile that
/// is short and wraps rows.
#[test]
fn direct_conv_matches_naive_reference() {
    let inp = Dims { c: 3, h: 11, w: 9 };
    for (i, tiles) in [Tiles::P6C16, Tiles::P8C16, Tiles::P12C16, Tiles::P12C32]
        .into_iter()
        .enumerate()
    {
        let mut l = conv(inp, 32, 5, 2, 2, 70 + i as u64);
        l.tiles = Some(tiles);
        let n = 3;
        let mut rng = Pcg64Mcg::seed_from_u64(75);
        let x = rand_vec(n * inp.len(), &mut rng);
        let mut y = vec![0.0; n * l.out_dims().len()];
        l.forward(n, &x, &mut y, Mode::Eval);
        let reference = naive_conv(&l.g, n, &x, l.params()[0].v(), l.params()[1].v());
        for (a, b) in y.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-12, "{tiles:?}: {a} vs {b}");
        }
    }
}

#[test]
fn conv_matches_naive_reference() {
    let inp = Dims { c: 3, h: 11, w: 9 };
    let mut l = conv(inp, 5, 5, 2, 2, 60);
    let n = 7;
    let mut rng = Pcg64Mcg::seed_from_u64(61);
    let x = rand_vec(n * inp.len(), &mut rng);
    let mut y = vec![0.0; n * l.out_dims().len()];
    l.forward(n, &x, &mut y, Mode::Eval);
    let g = ConvGeom::new(inp, 5, 5, 2, 2).unwrap();
    assert_eq!(
        (g.oh, g.ow),
        (6, 5),
        "(11 + 4 - 5) / 2 + 1, (9 + 4 - 5) / 2 + 1"
    );
    let reference = naive_conv(&g, n, &x, l.params()[0].v(), l.params()[1].v());
    for (a, b) in y.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // The same with im2col blocks that start and end inside images.
    l.tiles = None;
    l.rows = 13;
    let mut y = vec![0.0; n * l.out_dims().len()];
    l.forward(n, &x, &mut y, Mode::Eval);
    for (a, b) in y.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

/// Caffe's pooling loops (NCHW), transcribed from `PoolingLayer::Forward_cpu`.
fn caffe_pool(
    max: bool,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    x: &[f64],
) -> (usize, usize, Vec<f64>) {
    let oh = ((h + 2 * p - k) as f64 / s as f64).ceil() as usize + 1;
    let ow = ((w + 2 * p - k) as f64 / s as f64).ceil() as usize + 1;
    let (oh, ow) = if p > 0 {
        (
            if (oh - 1) * s >= h + p { oh - 1 } else { oh },
            if (ow - 1) * s >= w + p { ow - 1 } else { ow },
        )
    } else {
        (oh, ow)
    };
    let mut y = vec![0.0; c * oh * ow];
    for ch in 0..c {
        for ph in 0..oh {
            for pw in 0..ow {
                let mut hs = (ph * s) as isize - p as isize;
                let mut ws = (pw * s) as isize - p as isize;
                let (he, we);
                let out = &mut y[(ch * oh + ph) * ow + pw];
                if max {
                    he = (hs + k as isize).min(h as isize);
                    we = (ws + k as isize).min(w as isize);
                    hs = hs.max(0);
                    ws = ws.max(0);
                    *out = f64::NEG_INFINITY;
                    for yy in hs..he {
                        for xx in ws..we {
                            *out = out.max(x[(ch * h + yy as usize) * w + xx as usize]);
                        }
                    }
                } else {
                    let he0 = (hs + k as isize).min((h + p) as isize);
                    let we0 = (ws + k as isize).min((w + p) as isize);
                    let size = ((he0 - hs) * (we0 - ws)) as f64;
                    hs = hs.max(0);
                    ws = ws.max(0);
                    he = he0.min(h as isize);
                    we = we0.min(w as isize);
                    let mut sum = 0.0;
                    for yy in hs..he {
                        for xx in ws..we {
                            sum += x[(ch * h + yy as usize) * w + xx as usize];
                        }
                    }
                    *out = sum / size;
                }
            }
        }
    }
    (oh, ow, y)
}

#[test]
fn pool_matches_caffe_reference() {
    let mut rng = Pcg64Mcg::seed_from_u64(70);
    for &(max, h, w, k, s, p) in &[
        (true, 32, 32, 3, 2, 0),
        (false, 16, 16, 3, 2, 0),
        (false, 9, 7, 3, 2, 1),
        (true, 8, 9, 3, 3, 1),
        (false, 5, 5, 2, 2, 1),
    ] {
        let c = 3;
        let x_nchw = rand_vec(c * h * w, &mut rng);
        let (oh, ow, reference) = caffe_pool(max, c, h, w, k, s, p, &x_nchw);
        let inp = Dims { c, h, w };
        let mut l = Pool::new(
            if max { PoolKind::Max } else { PoolKind::Avg },
            inp,
            k,
            s,
            p,
            true,
        );
        assert_eq!((l.out.h, l.out.w), (oh, ow));
        let mut x = vec![0.0; c * h * w];
        for ch in 0..c {
            for i in 0..h * w {
                x[i * c + ch] = x_nchw[ch * h * w + i];
            }
        }
        let mut y = vec![0.0; c * oh * ow];
        Layer::<f64>::forward(&mut l, 1, &x, &mut y, Mode::Eval);
        for ch in 0..c {
            for i in 0..oh * ow {
                assert!((y[i * c + ch] - reference[ch * oh * ow + i]).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn pool_output_sizes() {
    // Caffe's cifar10 chain 32 -> 16 -> 8 -> 4 (ceil) against PyTorch's floor 32 -> 15 -> 7 -> 3.
    assert_eq!(pool_out(32, 3, 2, 0, true), Some(16));
    assert_eq!(pool_out(16, 3, 2, 0, true), Some(8));
    assert_eq!(pool_out(8, 3, 2, 0, true), Some(4));
    assert_eq!(pool_out(32, 3, 2, 0, false), Some(15));
    assert_eq!(pool_out(15, 3, 2, 0, false), Some(7));
    // Last window would start in the padding: dropped.
    assert_eq!(pool_out(5, 2, 2, 1, true), Some(3));
    assert_eq!(pool_out(3, 2, 2, 1, true), Some(2));
    assert_eq!(pool_out(4, 3, 2, 1, true), Some(3));
    assert_eq!(pool_out(2, 3, 1, 0, true), None);
}

#[test]
fn avg_pool_divisor_by_hand() {
    // 3x3 input 1..9, one channel, kernel 2 stride 2 ceil: the windows are [0,2) and [2,3) per
    // dimension; without padding the edge windows divide by the cells inside the image.
    let inp = Dims { c: 1, h: 3, w: 3 };
    let mut l = Pool::new(PoolKind::Avg, inp, 2, 2, 0, true);
    let x: Vec<f64> = (1..=9).map(f64::from).collect();
    let mut y = vec![0.0; 4];
    Layer::<f64>::forward(&mut l, 1, &x, &mut y, Mode::Eval);
    assert_eq!(
        y,
        vec![
            (1.0 + 2.0 + 4.0 + 5.0) / 4.0,
            (3.0 + 6.0) / 2.0,
            (7.0 + 8.0) / 2.0,
            9.0
        ]
    );
    // With pad 1, kernel 2, stride 2: windows [-1,1), [1,3): the padded cell counts.
    let mut l = Pool::new(PoolKind::Avg, inp, 2, 2, 1, true);
    let mut y = vec![0.0; 4];
    Layer::<f64>::forward(&mut l, 1, &x, &mut y, Mode::Eval);
    assert_eq!(
        y,
        vec![
            1.0 / 4.0,
            (2.0 + 3.0) / 4.0,
            (4.0 + 7.0) / 4.0,
            (5.0 + 6.0 + 8.0 + 9.0) / 4.0
        ]
    );
}

/// Pooling, channel by channel in plain loops (f32, channels-last): outputs and, for max
/// pooling, the cell that won each window (the first maximum, rows then columns).
fn plain_pool_f32(
    max: bool,
    inp: Dims,
    (oh, ow): (usize, usize),
    (k, s, p): (usize, usize, usize),
    x: &[f32],
) -> (Vec<f32>, Vec<usize>) {
    let Dims { c, h, w } = inp;
    let win = |o: usize, size: usize| {
        let start = (o * s) as isize - p as isize;
        let end = (start + k as isize).min((size + p) as isize);
        (
            start.max(0) as usize,
            end.min(size as isize) as usize,
            (end - start) as usize,
        )
    };
    let (mut y, mut arg) = (vec![0.0f32; oh * ow * c], vec![0usize; oh * ow * c]);
    for oy in 0..oh {
        let (y0, y1, dh) = win(oy, h);
        for ox in 0..ow {
            let (x0, x1, dw) = win(ox, w);
            for ch in 0..c {
                let o = (oy * ow + ox) * c + ch;
                let (mut v, mut a) = (if max { f32::NEG_INFINITY } else { 0.0 }, 0);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let xv = x[(iy * w + ix) * c + ch];
                        if !max {
                            v += xv;
                        } else if xv > v {
                            (v, a) = (xv, iy * w + ix);
                        }
                    }
                }
                y[o] = if max { v } else { v * (1.0 / (dh * dw) as f32) };
                arg[o] = a;
            }
        }
    }
    (y, arg)
}

#[test]
fn pool_channel_blocks_match_plain_loops_bit_for_bit() {
    // Channel counts that use the 32-wide blocks, the 8-wide ones, single channels and mixes;
    // values on a coarse grid so windows hold ties (the first maximum must win).
    let mut rng = Pcg64Mcg::seed_from_u64(71);
    for &c in &[3, 8, 20, 32, 45, 64] {
        for &(max, h, w, k, s, p, ceil) in &[
            (true, 9, 8, 3, 2, 0, true),
            (false, 9, 8, 3, 2, 0, true),
            (true, 7, 7, 3, 2, 1, false),
            (false, 6, 7, 2, 2, 1, true),
        ] {
            let inp = Dims { c, h, w };
            let kind = if max { PoolKind::Max } else { PoolKind::Avg };
            let mut l = Pool::new(kind, inp, k, s, p, ceil);
            let (oh, ow) = (l.out.h, l.out.w);
            let n = 2;
            let x: Vec<f32> = (0..n * inp.len())
                .map(|_| rng.gen_range(-4i32..4) as f32 * 0.25)
                .collect();
            let dy: Vec<f32> = (0..n * l.out.len())
                .map(|_| rng.gen_range(-1.0f32..1.0))
                .collect();
            for mode in [Mode::Eval, Mode::Train { seed: 1 }] {
                let mut y = vec![0.0f32; n * l.out.len()];
                Layer::<f32>::forward(&mut l, n, &x, &mut y, mode);
                let mut dx = vec![0.0f32; n * inp.len()];
                if mode != Mode::Eval {
                    Layer::<f32>::backward(&mut l, n, &x, &y, &dy, Some(&mut dx));
                }
                for i in 0..n {
                    let xi = &x[i * inp.len()..(i + 1) * inp.len()];
                    let (want, arg) = plain_pool_f32(max, inp, (oh, ow), (k, s, p), xi);
                    let yi = &y[i * l.out.len()..(i + 1) * l.out.len()];
                    let same = yi
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "c={c} max={max} h={h} k={k} p={p} {mode:?}");
                    if max && mode != Mode::Eval {
                        let mut want_dx = vec![0.0f32; inp.len()];
                        let dyi = &dy[i * l.out.len()..(i + 1) * l.out.len()];
                        for (o, (&g, &a)) in dyi.iter().zip(&arg).enumerate() {
                            want_dx[a * c + o % c] += g;
                        }
                        assert_eq!(&dx[i * inp.len()..(i + 1) * inp.len()], &want_dx[..]);
                    }
                }
            }
        }
    }
}

#[test]
fn lrn_by_hand() {
    // Across channels, size 3, alpha 3, beta 1, k 1: s_i = 1 + sum of the window's squares.
    let d = Dims { c: 3, h: 1, w: 1 };
    let mut l = Lrn::<f64>::new(LrnRegion::AcrossChannels, d, 3, 3.0, 1.0, 1.0);
    let mut y = vec![0.0; 3];
    l.forward(1, &[1.0, 2.0, 3.0], &mut y, Mode::Eval);
    assert_eq!(y, vec![1.0 / 6.0, 2.0 / 15.0, 3.0 / 14.0]);
    // Within channel, size 3 on a 2x1 image: N = 9, alpha 9 -> s = 1 + sum of squares.
    let d = Dims { c: 1, h: 2, w: 1 };
    let mut l = Lrn::<f64>::new(LrnRegion::WithinChannel, d, 3, 9.0, 1.0, 1.0);
    let mut y = vec![0.0; 2];
    l.forward(1, &[1.0, 2.0], &mut y, Mode::Eval);
    assert_eq!(y, vec![1.0 / 6.0, 2.0 / 6.0]);
}

/// The same conv layer run on 1 and 2 threads gives bit-identical outputs and gradients.
#[test]
fn conv_one_vs_two_threads_bit_identical() {
    let run = |threads: usize, direct: Option<Tiles>| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let inp = Dims {
                c: 16,
                h: 12,
                w: 12,
            };
            let l = conv(inp, 8, 5, 1, 2, 80);
            let n = 10;
            let mut rng = Pcg64Mcg::seed_from_u64(81);
            let x: Vec<f32> = rand_vec(n * inp.len(), &mut rng)
                .iter()
                .map(|&v| v as f32)
                .collect();
            let wts: Vec<f32> = l.params()[0].v().iter().map(|&v| v as f32).collect();
            let mut l32 = Conv2d::<f32>::new(
                l.g,
                Param::new(
                    "weight",
                    ndarray::ArrayD::from_shape_vec(vec![8, 5, 5, 16], wts).unwrap(),
                    1.0,
                    1.0,
                ),
                Param::new("bias", ndarray::ArrayD::zeros(vec![8]), 1.0, 1.0),
            );
            (l32.tiles, l32.ttiles) = (direct, direct);
            l32.dtiles = direct.map(|_| DwTiles::J12C8);
            let mut y = vec![0.0f32; n * l32.out_dims().len()];
            l32.forward(n, &x, &mut y, Mode::Eval);
            let dy: Vec<f32> = rand_vec(y.len(), &mut rng)
                .iter()
                .map(|&v| v as f32)
                .collect();
            let mut dx = vec![0.0f32; x.len()];
            l32.backward(n, &x, &y, &dy, Some(&mut dx));
            (
                y,
                dx,
                l32.params()[0].grad.clone(),
                l32.params()[1].grad.clone(),
            )
        })
    };
    for direct in [None, Some(Tiles::P6C16), Some(Tiles::P12C32)] {
        let a = run(1, direct);
        let b = run(2, direct);
        assert!(
            a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3 == b.3,
            "{direct:?}"
        );
    }
}

#[test]
fn dense_matches_naive_reference() {
    // 300 outputs: in training mode the product is split into column blocks computed in
    // parallel; in eval mode (with AVX2) the direct kernel runs in channel blocks.
    let (inp, out, n) = (13, 300, 4);
    let mut rng = Pcg64Mcg::seed_from_u64(100);
    let mut l = Dense::new(
        inp,
        out,
        param("weight", &[out, inp], &mut rng),
        param("bias", &[out], &mut rng),
    );
    let x = rand_vec(n * inp, &mut rng);
    for mode in [Mode::Eval, Mode::Train { seed: 0 }] {
        let mut y = vec![0.0; n * out];
        l.forward(n, &x, &mut y, mode);
        let (w, b) = (l.params()[0].v(), l.params()[1].v());
        for i in 0..n {
            for o in 0..out {
                let want: f64 = b[o]
                    + (0..inp)
                        .map(|j| x[i * inp + j] * w[o * inp + j])
                        .sum::<f64>();
                assert!((y[i * out + o] - want).abs() < 1e-12, "{mode:?}");
            }
        }
    }
}

fn bn(d: Dims, seed: u64) -> BatchNorm<f64> {
    let mut bn = BatchNorm::<f64>::new(d, 1e-5, 0.1, [1.0, 1.0], [1.0, 1.0]);
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    for p in &mut bn.params_mut()[..2] {
        p.value
            .iter_mut()
            .for_each(|v| *v = rng.gen_range(0.5..1.5));
    }
    bn
}

/// conv3x3(stride)-bn-relu-conv3x3-bn from `inp` to `out_c` channels.
fn basic_branch(inp: Dims, out_c: usize, stride: usize, seed: u64) -> Sublayers<f64> {
    let c1 = conv(inp, out_c, 3, stride, 1, seed);
    let mid = <Conv2d<f64> as Layer<f64>>::out_dims(&c1);
    let c2 = conv(mid, out_c, 3, 1, 1, seed + 1);
    vec![
        ("conv1".into(), Box::new(c1)),
        ("bn1".into(), Box::new(bn(mid, seed + 2))),
        (
            "relu1".into(),
            Box::new(Activation::new(ActivationKind::Relu, mid)),
        ),
        ("conv2".into(), Box::new(c2)),
        ("bn2".into(), Box::new(bn(mid, seed + 3))),
    ]
}

#[test]
fn residual_gradients_identity_projection_pad() {
    let d = Dims { c: 3, h: 5, w: 5 };
    let mut identity =
        Residual::new(d, basic_branch(d, 3, 1, 60), Shortcut::Identity, vec![]).unwrap();
    gradcheck(&mut identity, d, 3, 61);

    let d = Dims { c: 2, h: 6, w: 5 };
    let branch = basic_branch(d, 4, 2, 62);
    let out = Dims { c: 4, h: 3, w: 3 };
    let proj: Sublayers<f64> = vec![
        ("conv3".into(), Box::new(conv(d, 4, 1, 2, 0, 63))),
        ("bn3".into(), Box::new(bn(out, 64))),
    ];
    let mut projection = Residual::new(d, branch, Shortcut::Projection, proj).unwrap();
    assert_eq!(<Residual<f64> as Layer<f64>>::out_dims(&projection), out);
    gradcheck(&mut projection, d, 3, 65);

    let d = Dims { c: 2, h: 5, w: 5 };
    let mut pad = Residual::new(
        d,
        basic_branch(d, 4, 2, 66),
        Shortcut::Pad { stride: 2 },
        vec![],
    )
    .unwrap();
    gradcheck(&mut pad, d, 3, 67);
}

/// The sum by hand: a branch that doubles (a 1x1 conv with weight 2) and each shortcut.
#[test]
fn residual_sums_branch_and_shortcut() {
    let d = Dims { c: 2, h: 2, w: 2 };
    let mut c = conv(d, 2, 1, 1, 0, 70);
    let w = c.params_mut()[0].value.as_slice_mut().unwrap();
    w.copy_from_slice(&[2.0, 0.0, 0.0, 2.0]);
    c.params_mut()[1].value.fill(0.0);
    let mut r = Residual::new(
        d,
        vec![("c".into(), Box::new(c))],
        Shortcut::Identity,
        vec![],
    )
    .unwrap();
    let x: Vec<f64> = (0..8).map(f64::from).collect();
    let mut y = vec![0.0; 8];
    r.forward(1, &x, &mut y, Mode::Eval);
    assert_eq!(y, x.iter().map(|v| 3.0 * v).collect::<Vec<_>>());

    // `pad`, stride 2, 2 -> 3 channels on 3x3: the kept pixels are (0,0), (0,2), (2,0),
    // (2,2); the branch (a 1x1 conv, stride 2, all weights 0) adds nothing.
    let d = Dims { c: 2, h: 3, w: 3 };
    let mut z = conv(d, 3, 1, 2, 0, 71);
    z.params_mut().iter_mut().for_each(|p| p.value.fill(0.0));
    let mut r = Residual::new(
        d,
        vec![("z".into(), Box::new(z))],
        Shortcut::Pad { stride: 2 },
        vec![],
    )
    .unwrap();
    let x: Vec<f64> = (0..18).map(f64::from).collect();
    let mut y = vec![0.0; 12];
    r.forward(1, &x, &mut y, Mode::Eval);
    assert_eq!(
        y,
        [0., 1., 0., 4., 5., 0., 12., 13., 0., 16., 17., 0.],
        "pixels (0,0), (0,2), (2,0), (2,2) in the first two channels"
    );
    assert!(Residual::new(
        d,
        vec![(
            "z".into(),
            Box::new(conv(d, 3, 1, 2, 0, 72)) as Box<dyn Layer<f64>>
        )],
        Shortcut::Identity,
        vec![],
    )
    .is_err());
}

/// Batch-norm in f32 (the AVX2 copies of its row loops on CPUs that have AVX2) gives the same
/// bits as plain per-value loops over the same blocks of rows, in train and eval mode, forward
/// and backward, for channel counts that fill whole vectors and ones that do not.
#[test]
fn batch_norm_row_kernels_match_plain_loops_bit_for_bit() {
    const BLOCK_ROWS: usize = 512;
    let mut rng = Pcg64Mcg::seed_from_u64(90);
    for &(c, h, w, n) in &[(3, 5, 7, 2), (16, 14, 14, 3), (20, 9, 9, 8), (64, 8, 8, 9)] {
        let d = Dims { c, h, w };
        let total = n * d.len();
        let rows = total / c;
        let mut r32 =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.gen_range(-2.0..2.0f32)).collect() };
        let (x, dy) = (r32(total), r32(total));
        let (gamma, beta) = (r32(c), r32(c));
        let mut bn = BatchNorm::<f32>::new(d, 1e-5, 0.1, [1.0, 1.0], [1.0, 1.0]);
        bn.params_mut()[0]
            .value
            .as_slice_mut()
            .unwrap()
            .copy_from_slice(&gamma);
        bn.params_mut()[1]
            .value
            .as_slice_mut()
            .unwrap()
            .copy_from_slice(&beta);
        let mut y = vec![0.0f32; total];
        bn.forward(n, &x, &mut y, Mode::Train { seed: 1 });
        let mut dx = vec![0.0f32; total];
        bn.backward(n, &x, &y, &dy, Some(&mut dx));
        let (dgamma, dbeta) = (bn.params()[0].grad.clone(), bn.params()[1].grad.clone());
        let mut y_eval = vec![0.0f32; total];
        bn.forward(n, &x, &mut y_eval, Mode::Eval);
        let (rm, rv) = (bn.params()[2].v().to_vec(), bn.params()[3].v().to_vec());

        // Per-channel sums over blocks of rows, then over the blocks in order.
        let block_sum = |f: &dyn Fn(usize, usize) -> f32| -> Vec<f32> {
            let mut total = vec![0.0f32; c];
            for b in 0..rows.div_ceil(BLOCK_ROWS) {
                let mut p = vec![0.0f32; c];
                for r in b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(rows) {
                    for (j, p) in p.iter_mut().enumerate() {
                        *p += f(r, j);
                    }
                }
                if b == 0 {
                    total = p;
                } else {
                    total.iter_mut().zip(&p).for_each(|(t, p)| *t += *p);
                }
            }
            total
        };
        let rn = rows as f32;
        let mean: Vec<f32> = block_sum(&|r, j| x[r * c + j])
            .iter()
            .map(|s| s / rn)
            .collect();
        let var: Vec<f32> = block_sum(&|r, j| {
            let d = x[r * c + j] - mean[j];
            d * d
        })
        .iter()
        .map(|s| s / rn)
        .collect();
        let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + 1e-5f32).sqrt()).collect();
        let xhat = |i: usize| (x[i] - mean[i % c]) * inv[i % c];
        let sum_dy = block_sum(&|r, j| dy[r * c + j]);
        let sum_dy_xhat = block_sum(&|r, j| dy[r * c + j] * xhat(r * c + j));
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for i in 0..total {
            let j = i % c;
            let want_y = gamma[j] * xhat(i) + beta[j];
            let want_dx =
                gamma[j] * inv[j] / rn * (rn * dy[i] - sum_dy[j] - xhat(i) * sum_dy_xhat[j]);
            let scale = gamma[j] / (rv[j] + 1e-5f32).sqrt();
            let want_eval = x[i] * scale + (beta[j] - rm[j] * scale);
            assert_eq!(y[i].to_bits(), want_y.to_bits(), "c={c} train y[{i}]");
            assert_eq!(dx[i].to_bits(), want_dx.to_bits(), "c={c} dx[{i}]");
            assert_eq!(
                y_eval[i].to_bits(),
                want_eval.to_bits(),
                "c={c} eval y[{i}]"
            );
        }
        assert_eq!(
            bits(dgamma.as_slice().unwrap()),
            bits(&sum_dy_xhat),
            "c={c} dgamma"
        );
        assert_eq!(
            bits(dbeta.as_slice().unwrap()),
            bits(&sum_dy),
            "c={c} dbeta"
        );
    }
}

/// In eval mode a direct convolution followed by batch-norm and/or ReLU applies them in its
/// output tiles (its own output buffer stays unwritten), with the bits of running the layers
/// one by one; in train mode every layer runs by itself.
#[test]
fn eval_fusion_matches_layer_by_layer_bit_for_bit() {
    let inp = Dims { c: 16, h: 6, w: 5 };
    let n = 3;
    let mut rng = Pcg64Mcg::seed_from_u64(62);
    let x = rand_vec(n * inp.len(), &mut rng);
    for (with_bn, with_relu) in [(true, true), (true, false), (false, true)] {
        let make = || -> Vec<Box<dyn Layer<f64>>> {
            let mut c = conv(inp, 16, 3, 1, 1, 60);
            c.tiles = Some(Tiles::P6C16);
            let d = <Conv2d<f64> as Layer<f64>>::out_dims(&c);
            let mut chain: Vec<Box<dyn Layer<f64>>> = vec![Box::new(c)];
            if with_bn {
                let mut b = bn(d, 61);
                let mut rng = Pcg64Mcg::seed_from_u64(63);
                for p in &mut b.params_mut()[2..] {
                    p.value
                        .iter_mut()
                        .for_each(|v| *v = rng.gen_range(0.2..1.2));
                }
                chain.push(Box::new(b));
            }
            if with_relu {
                chain.push(Box::new(Activation::new(ActivationKind::Relu, d)));
            }
            chain
        };
        let len = n * inp.len();
        for mode in [Mode::Eval, Mode::Train { seed: 1 }] {
            let mut fused = make();
            let mut outs = vec![vec![0.0; len]; fused.len()];
            forward_chain(&mut fused, |l| &mut **l, &mut outs, n, &x, mode);
            let mut plain = make();
            let mut want = vec![vec![0.0; len]; plain.len()];
            for k in 0..plain.len() {
                let (before, rest) = want.split_at_mut(k);
                let input = if k == 0 { &x[..] } else { &before[k - 1][..] };
                plain[k].forward(n, input, &mut rest[0], mode);
            }
            let last = outs.len() - 1;
            assert!(
                outs[last]
                    .iter()
                    .zip(&want[last])
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "bn {with_bn}, relu {with_relu}, {mode:?}"
            );
            let conv_written = outs[0].iter().any(|&v| v != 0.0);
            assert_eq!(conv_written, mode != Mode::Eval, "{mode:?}");
        }
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn dense_eval_direct_kernels_bit_exact_and_follow_weight_changes() {
    // 300 outputs end in a partial channel block; 29 samples end inside a tile.
    let (inp, out, n) = (37, 300, 29);
    let mut rng = Pcg64Mcg::seed_from_u64(90);
    let f32s = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<f32>>();
    let x = f32s(rand_vec(n * inp, &mut rng));
    let array =
        |shape: &[usize], v: Vec<f32>| ndarray::ArrayD::from_shape_vec(shape.to_vec(), v).unwrap();
    let w0 = f32s(rand_vec(out * inp, &mut rng));
    let b0 = f32s(rand_vec(out, &mut rng));
    // The kernels' sums: from the bias, one fused multiply-add per input in order.
    let reference = |w: &[f32], b: &[f32], relu: bool| -> Vec<f32> {
        let mut y = vec![0.0f32; n * out];
        for i in 0..n {
            for o in 0..out {
                let mut acc = b[o];
                for j in 0..inp {
                    acc = x[i * inp + j].mul_add(w[o * inp + j], acc);
                }
                y[i * out + o] = if relu { acc.max(0.0) } else { acc };
            }
        }
        y
    };
    let mut kinds = vec![None];
    if crate::simd::has_avx2() {
        kinds.push(Some(Tiles::P6C16));
    }
    if crate::simd::has_avx512() {
        kinds.extend([Some(Tiles::P12C32), Some(Tiles::P12C16), Some(Tiles::P8C16)]);
    }
    use super::direct::testing::assert_same_bits;
    for tiles in kinds {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut l = Dense::<f32>::new(
                    inp,
                    out,
                    Param::new("weight", array(&[out, inp], w0.clone()), 1.0, 1.0),
                    Param::new("bias", array(&[out], b0.clone()), 1.0, 1.0),
                );
                l.tiles = tiles;
                let mut y = vec![0.0f32; n * out];
                let what = format!("{tiles:?}, {threads} threads");
                l.forward(n, &x, &mut y, Mode::Eval);
                let (w, b) = (l.params()[0].v().to_vec(), l.params()[1].v().to_vec());
                let want = reference(&w, &b, false);
                if tiles.is_some() {
                    assert_same_bits(&y, &want, &what);
                    let relu = Epilogue {
                        affine: None,
                        relu: true,
                    };
                    assert!(l.forward_fused(n, &x, &mut y, relu));
                    assert_same_bits(&y, &reference(&w, &b, true), &what);
                    // A batch-norm's scale and shift, a multiply then an add, then the ReLU:
                    // the per-block offsets of the last, partial block included.
                    let scale: Vec<f32> = (0..out).map(|o| 0.5 + o as f32 / 256.0).collect();
                    let shift: Vec<f32> = (0..out).map(|o| o as f32 / 128.0 - 1.0).collect();
                    let bn = Epilogue {
                        affine: Some((&scale[..], &shift[..])),
                        relu: true,
                    };
                    assert!(l.forward_fused(n, &x, &mut y, bn));
                    let mut want = reference(&w, &b, false);
                    for (i, v) in want.iter_mut().enumerate() {
                        *v = (*v * scale[i % out] + shift[i % out]).max(0.0);
                    }
                    assert_same_bits(&y, &want, &what);
                } else {
                    assert!(!l.forward_fused(n, &x, &mut y, Epilogue::NONE));
                }
                // The GEMM of training mode: the same values to rounding.
                let mut yt = vec![0.0f32; n * out];
                l.forward(n, &x, &mut yt, Mode::Train { seed: 0 });
                for (a, b) in yt.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{what}: {a} vs {b}"
                    );
                }
                // New weights through `params_mut` (as an optimizer step): the next eval pass
                // uses them.
                for p in l.params_mut() {
                    p.value.mapv_inplace(|v| 0.5 - v);
                }
                let (w, b) = (l.params()[0].v().to_vec(), l.params()[1].v().to_vec());
                l.forward(n, &x, &mut y, Mode::Eval);
                let want = reference(&w, &b, false);
                for (a, b) in y.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{what}: {a} vs {b}"
                    );
                }
            });
        }
    }
}
