//! Heap allocations of a training step after warm-up. The crate's own code allocates nothing
//! once its buffers have grown to the largest batch; what remains are the packing buffers the
//! `gemm` crate takes inside each matrix product (one or two per product). The MLP makes the
//! same number of products whatever the batch, so its count must not grow with the batch.

use ndarray::Array4;
use nn::{ModelSpec, Network, Optimizer, OptimizerSpec, Preset, SgdConvention};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_per_step(preset: Preset, chw: [usize; 3], n: usize) -> usize {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let spec = ModelSpec {
            batch_norm: (preset == Preset::Mlp).then_some(true),
            ..ModelSpec::preset(preset)
        };
        let mut net = Network::new(&spec, chw, 10, 0).unwrap();
        let sgd = OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 1e-4,
            nesterov: true,
            convention: SgdConvention::Caffe,
        };
        let mut opt = Optimizer::new(&sgd, &net).unwrap();
        let x = Array4::from_elem((n, chw[0], chw[1], chw[2]), 0.5f32);
        let y = vec![1u8; n];
        for _ in 0..2 {
            net.forward_backward(x.view(), &y, 0);
            opt.step(&mut net, 0.01, None);
            // The eval-mode kernels' weight copies are laid out here, then reused.
            net.evaluate(x.view(), &y);
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        net.forward_backward(x.view(), &y, 0);
        opt.step(&mut net, 0.01, None);
        // A smaller batch reuses the buffers.
        net.forward_backward(x.slice(ndarray::s![..n / 2, .., .., ..]), &y[..n / 2], 0);
        net.evaluate(x.view(), &y);
        ALLOCS.load(Ordering::Relaxed) - before
    })
}

#[test]
fn training_step_allocations_do_not_grow_with_the_batch() {
    let small = allocations_per_step(Preset::Mlp, [1, 28, 28], 8);
    let large = allocations_per_step(Preset::Mlp, [1, 28, 28], 64);
    // 2 steps' worth of products (a full and a half batch) plus an evaluation: about 60.
    assert!(
        small <= 130 && large <= 130,
        "{small} and {large} allocations"
    );
}
