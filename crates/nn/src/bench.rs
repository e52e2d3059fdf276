//! Throughput of the benchmark workloads on synthetic data (behind `clr bench`).
//!
//! Training: batches of random inputs and labels, forward + softmax cross-entropy + backward +
//! SGD (momentum 0.9, weight decay 5e-4, as the PyTorch peer benchmark); a few warm-up steps,
//! then `repeats` timed runs, the fastest counts. Inference: eval-mode passes over 10,000
//! images in batches of `batch`, the fastest pass counts. FLOPs are 2 x multiply-accumulates
//! of the conv and dense layers; training counts 3 x forward (forward, input gradient, weight
//! gradient) as the peer figures do.

use crate::{ModelSpec, Network, NnError, Optimizer, OptimizerSpec, Preset, SgdConvention};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    /// Network (`mlp` is 784-512-256-10 on 1x28x28 inputs, `lenet` 1x28x28, the CIFAR-10 nets
    /// 3x32x32), 10 classes.
    pub workload: Preset,
    /// Batch size.
    pub batch: usize,
    /// Timed training iterations per repeat; `None`: at least 20 and at least 2 s.
    pub iterations: Option<usize>,
    /// Timed repeats (training runs and inference passes); the fastest counts.
    pub repeats: usize,
}

/// One measurement, printed by `clr bench` as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Workload name.
    pub workload: String,
    /// Rayon threads used.
    pub threads: usize,
    /// Batch size.
    pub batch: usize,
    /// Training images per second (best repeat).
    pub train_images_per_sec: f64,
    /// Inference images per second over 10,000 images (best pass).
    pub eval_images_per_sec: f64,
    /// Training GFLOP/s: 3 x forward FLOPs per image x training images per second.
    pub gflops: f64,
    /// FLOPs of one training image as computed: forward, weight gradient and input gradient,
    /// except the first conv/dense layer's input gradient, which nothing needs.
    pub train_flops_per_image: u64,
    /// FLOPs of one inference image (the forward pass).
    pub eval_flops_per_image: u64,
    /// With `--peak`: GFLOP/s of a loop of independent fused multiply-adds on registers alone,
    /// one per thread, in the widest vectors the CPU has (AVX-512, AVX2 or scalar): what no
    /// kernel of these FLOPs can exceed on this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_gflops: Option<f64>,
}

/// FMA peak of the current rayon pool in GFLOP/s: every thread runs the same loop of
/// independent fused multiply-adds on registers for at least `seconds`; the best of three
/// wall-clock timings counts.
pub fn fma_peak_gflops(seconds: f64) -> f64 {
    let threads = rayon::current_num_threads();
    // Calibrate: iterations for about `seconds` on one thread.
    let mut iters = 1u64 << 16;
    loop {
        let t = Instant::now();
        std::hint::black_box(fma_loop(iters));
        if t.elapsed().as_secs_f64() >= seconds / 4.0 {
            iters = (iters as f64 * seconds / t.elapsed().as_secs_f64()) as u64;
            break;
        }
        iters *= 2;
    }
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        rayon::broadcast(|_| std::hint::black_box(fma_loop(iters)));
        best = best.min(t.elapsed().as_secs_f64());
    }
    (threads as u64 * iters * FMA_LOOP_FLOPS) as f64 / best / 1e9
}

/// Accumulators of the peak loop: more than an FMA's latency times its throughput.
const FMA_ACCS: usize = 12;

/// FLOPs of one iteration of [`fma_loop`] (2 per multiply-add, 16 lanes).
const FMA_LOOP_FLOPS: u64 = (FMA_ACCS * 16 * 2) as u64;

/// `iters` iterations of [`FMA_ACCS`] independent multiply-adds of 16 lanes: one AVX-512
/// vector, two AVX2 vectors or 16 scalars each. Returns a sum so that nothing is elided.
fn fma_loop(iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::has_avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { peak::avx512(iters) };
        }
        if crate::simd::has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { peak::avx2(iters) };
        }
    }
    let mut acc = [[0.0f32; 16]; FMA_ACCS];
    for _ in 0..iters {
        for a in &mut acc {
            for v in a.iter_mut() {
                *v = v.mul_add(0.999_999, 1e-7);
            }
        }
        std::hint::black_box(&mut acc);
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod peak {
    use super::FMA_ACCS;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_setzero_ps(); FMA_ACCS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        // 12 of the 16 registers, two multiply-adds (16 lanes) per accumulator and iteration.
        let mut acc = [_mm256_setzero_ps(); FMA_ACCS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = _mm256_fmadd_ps(*v, a, b);
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut total = 0.0;
        for v in acc {
            // SAFETY: a vector of 8 `f32` lanes has the layout of `[f32; 8]`.
            let lanes: [f32; 8] = unsafe { std::mem::transmute(v) };
            total += lanes.iter().sum::<f32>();
        }
        total
    }
}

/// Input shape `[c, h, w]` of a workload.
pub fn input_chw(workload: Preset) -> [usize; 3] {
    match workload {
        Preset::Mlp | Preset::Lenet => [1, 28, 28],
        _ => [3, 32, 32],
    }
}

/// Workload name as on the command line.
pub fn workload_name(workload: Preset) -> &'static str {
    workload.name()
}

const EVAL_IMAGES: usize = 10_000;

/// Runs the benchmark on the current rayon pool.
///
/// # Errors
/// [`NnError::InvalidModel`] for a zero batch size.
pub fn run(cfg: &BenchConfig) -> Result<BenchResult, NnError> {
    if cfg.batch == 0 || cfg.repeats == 0 {
        return Err(NnError::InvalidModel(
            "batch and repeats must be >= 1".into(),
        ));
    }
    let chw = input_chw(cfg.workload);
    let mut net = Network::new(&ModelSpec::preset(cfg.workload), chw, 10, 0)?;
    let sgd = OptimizerSpec::Sgd {
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
        convention: SgdConvention::Pytorch,
    };
    let mut opt = Optimizer::new(&sgd, &net)?;
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let batches: Vec<(Array4<f32>, Vec<u8>)> = (0..4)
        .map(|_| {
            let x = Array4::from_shape_fn((cfg.batch, chw[0], chw[1], chw[2]), |_| {
                rng.gen_range(-1.0f32..1.0)
            });
            let y = (0..cfg.batch).map(|_| rng.gen_range(0..10u8)).collect();
            (x, y)
        })
        .collect();
    let mut step = |i: usize| {
        let (x, y) = &batches[i % batches.len()];
        net.forward_backward(x.view(), y, i as u64);
        opt.step(&mut net, 1e-3, None);
    };
    for i in 0..5 {
        step(i);
    }
    let mut best = f64::INFINITY;
    for _ in 0..cfg.repeats {
        let start = Instant::now();
        let mut iters = 0;
        loop {
            step(iters);
            iters += 1;
            let done = match cfg.iterations {
                Some(k) => iters >= k,
                None => iters >= 20 && start.elapsed() >= Duration::from_secs(2),
            };
            if done {
                break;
            }
        }
        best = best.min(start.elapsed().as_secs_f64() / (iters * cfg.batch) as f64);
    }
    let train = 1.0 / best;
    let eval_batches = EVAL_IMAGES.div_ceil(cfg.batch);
    for i in 0..3 {
        let (x, y) = &batches[i % batches.len()];
        net.evaluate(x.view(), y);
    }
    let mut best_eval = f64::INFINITY;
    for _ in 0..cfg.repeats {
        let start = Instant::now();
        for i in 0..eval_batches {
            let (x, y) = &batches[i % batches.len()];
            net.evaluate(x.view(), y);
        }
        best_eval =
            best_eval.min(start.elapsed().as_secs_f64() / (eval_batches * cfg.batch) as f64);
    }
    Ok(BenchResult {
        workload: workload_name(cfg.workload).to_string(),
        threads: rayon::current_num_threads(),
        batch: cfg.batch,
        train_images_per_sec: train,
        eval_images_per_sec: 1.0 / best_eval,
        gflops: 3.0 * net.flops_per_sample() as f64 * train / 1e9,
        train_flops_per_image: 3 * net.flops_per_sample() - net.first_layer_flops(),
        eval_flops_per_image: net.flops_per_sample(),
        peak_gflops: None,
    })
}

/// One layer (or a short stack) on its own, for kernel benchmarks: forward and backward on
/// preallocated buffers filled with random values.
pub struct LayerBench {
    layers: Vec<Box<dyn crate::layer::Layer<f32>>>,
    n: usize,
    bufs: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
}

impl LayerBench {
    /// Builds `specs` for inputs of `input_chw` and a batch of `n`.
    ///
    /// # Errors
    /// As [`Network::new`], without the classifier check.
    pub fn new(
        specs: &[crate::LayerSpec],
        input_chw: [usize; 3],
        n: usize,
    ) -> Result<Self, NnError> {
        let input = crate::Dims {
            c: input_chw[0],
            h: input_chw[1],
            w: input_chw[2],
        };
        let (layers, _, _) = crate::build::build_layers::<f32>(specs, input, 0)?;
        let mut rng = Pcg64Mcg::seed_from_u64(2);
        let mut lens = vec![input.len()];
        lens.extend(layers.iter().map(|l| l.out_dims().len()));
        let mut rand = |len: usize| {
            (0..n * len)
                .map(|_| rng.gen_range(-1.0f32..1.0))
                .collect::<Vec<_>>()
        };
        let bufs = lens.iter().map(|&l| rand(l)).collect();
        let grads = lens.iter().map(|&l| rand(l)).collect();
        Ok(Self {
            layers,
            n,
            bufs,
            grads,
        })
    }

    /// Forward FLOPs (2 x MACs) of the batch.
    pub fn flops(&self) -> u64 {
        self.layers.iter().map(|l| l.flops()).sum::<u64>() * self.n as u64
    }

    /// Eval-mode forward through every layer (the direct dense kernel, eval fusion aside).
    pub fn eval_forward(&mut self) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            let (a, b) = self.bufs.split_at_mut(i + 1);
            l.forward(self.n, &a[i], &mut b[0], crate::layer::Mode::Eval);
        }
    }

    /// Train-mode forward through every layer.
    pub fn forward(&mut self) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            let (a, b) = self.bufs.split_at_mut(i + 1);
            l.forward(
                self.n,
                &a[i],
                &mut b[0],
                crate::layer::Mode::Train { seed: 0 },
            );
        }
    }

    /// Backward through every layer, including the input gradient.
    pub fn backward(&mut self) {
        for i in (0..self.layers.len()).rev() {
            let (lo, hi) = self.grads.split_at_mut(i + 1);
            self.layers[i].backward(
                self.n,
                &self.bufs[i],
                &self.bufs[i + 1],
                &hi[0],
                Some(&mut lo[i]),
            );
        }
    }
}

/// A single-threaded `m x k` by `k x n` product (row-major operands) through the same GEMM
/// wrapper the layers use.
pub struct GemmBench {
    m: usize,
    n: usize,
    k: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl GemmBench {
    /// Random operands.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut rand = |len: usize| {
            (0..len)
                .map(|_| rng.gen_range(-1.0f32..1.0))
                .collect::<Vec<_>>()
        };
        Self {
            m,
            n,
            k,
            a: rand(m * k),
            b: rand(k * n),
            c: vec![0.0; m * n],
        }
    }
    /// FLOPs of one product.
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }
    /// `c = a b`.
    pub fn run(&mut self) {
        use crate::linalg::{matmul, MatRef};
        matmul(
            &mut self.c,
            self.n,
            MatRef::rows(&self.a, self.m, self.k),
            MatRef::rows(&self.b, self.k, self.n),
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lane runs `v = v * a + b` from 0: the vector loops agree with the scalar one.
    #[test]
    fn peak_loops_compute_every_lane() {
        let iters = 1000;
        // The sum over `lanes` lanes of `steps` multiply-adds each.
        let want = |lanes: usize, steps: u64| {
            (0..steps).fold(0.0f32, |v, _| v.mul_add(0.999_999, 1e-7)) * lanes as f32
        };
        let close = |got: f32, want: f32, what: &str| {
            assert!((got - want).abs() <= 1e-4 * want, "{what}: {got} vs {want}");
        };
        // 16 lanes per accumulator, one multiply-add each per iteration, except on AVX2,
        // where 8 lanes do two.
        let avx2_only = crate::simd::has_avx2() && !crate::simd::has_avx512();
        let dispatched = if avx2_only {
            want(8 * FMA_ACCS, 2 * iters)
        } else {
            want(16 * FMA_ACCS, iters)
        };
        close(fma_loop(iters), dispatched, "dispatched");
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::has_avx2() {
                // SAFETY: the CPU has AVX2 and FMA.
                let got = unsafe { peak::avx2(iters) };
                // 8 lanes per accumulator, two multiply-adds each per iteration.
                close(got, want(8 * FMA_ACCS, 2 * iters), "avx2");
            }
            if crate::simd::has_avx512() {
                // SAFETY: the CPU has AVX-512F.
                let got = unsafe { peak::avx512(iters) };
                close(got, want(16 * FMA_ACCS, iters), "avx512");
            }
        }
        let peak = fma_peak_gflops(0.01);
        assert!(peak.is_finite() && peak > 0.0, "{peak}");
    }
}
