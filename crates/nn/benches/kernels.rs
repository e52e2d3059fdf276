//! Kernel benchmarks: GEMM on the workloads' shapes, and the layers of cifar10_quick / LeNet /
//! ResNet / the MLP forward (train and eval mode) and backward at batch 100 (GFLOP/s reported through criterion's throughput as
//! "elements" = FLOPs).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array4;
use nn::bench::{GemmBench, LayerBench};
use nn::{
    Conv2dSpec, DenseSpec, LayerSpec, ModelSpec, Network, Optimizer, OptimizerSpec, ParamSpec,
    PoolSpec, Preset, SgdConvention,
};

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    // (m, n, k): mlp fc1 forward, conv im2col products of cifar10_quick (per 4 images) and LeNet.
    for (name, m, n, k) in [
        ("mlp_fc1_100x784x512", 100, 512, 784),
        ("c10q_conv1_4096x75x32", 4096, 32, 75),
        ("c10q_conv2_1024x800x32", 1024, 32, 800),
        ("c10q_conv3_256x800x64", 256, 64, 800),
        ("lenet_conv2_256x500x50", 256, 50, 500),
    ] {
        let mut b = GemmBench::new(m, n, k);
        g.throughput(Throughput::Elements(b.flops()));
        g.bench_function(name, |bench| bench.iter(|| b.run()));
    }
    g.finish();
}

fn conv(out_channels: usize, kernel: usize, pad: usize) -> LayerSpec {
    LayerSpec::Conv2d(Conv2dSpec::new(
        out_channels,
        kernel,
        pad,
        ParamSpec::default(),
    ))
}

fn dense(out: usize) -> LayerSpec {
    LayerSpec::Dense(DenseSpec::new(out, ParamSpec::default()))
}

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("layer_batch100");
    g.sample_size(10);
    let pool = |max: bool| {
        if max {
            LayerSpec::MaxPool(PoolSpec::caffe(3, 2))
        } else {
            LayerSpec::AvgPool(PoolSpec::caffe(3, 2))
        }
    };
    let lrn = LayerSpec::Lrn {
        size: 3,
        alpha: 5e-5,
        beta: 0.75,
        k: 1.0,
        region: nn::LrnRegionSpec::WithinChannel,
    };
    let cases: Vec<(&str, LayerSpec, [usize; 3])> = vec![
        ("c10q_conv1", conv(32, 5, 2), [3, 32, 32]),
        ("c10q_conv2", conv(32, 5, 2), [32, 16, 16]),
        ("c10q_conv3", conv(64, 5, 2), [32, 8, 8]),
        ("lenet_conv2", conv(50, 5, 0), [20, 12, 12]),
        ("resnet_conv3x3_16", conv(16, 3, 1), [16, 32, 32]),
        ("resnet_conv3x3_64", conv(64, 3, 1), [64, 8, 8]),
        (
            "batch_norm_16x32x32",
            LayerSpec::BatchNorm {
                eps: 1e-5,
                momentum: 0.1,
            },
            [16, 32, 32],
        ),
        ("maxpool_32x32x32", pool(true), [32, 32, 32]),
        ("avgpool_32x16x16", pool(false), [32, 16, 16]),
        ("lrn_within_32x16x16", lrn, [32, 16, 16]),
        ("relu_32x32x32", LayerSpec::Relu, [32, 32, 32]),
        ("mlp_fc1", dense(512), [784, 1, 1]),
        ("lenet_fc1", dense(500), [800, 1, 1]),
    ];
    for (name, spec, chw) in cases {
        let mut b = LayerBench::new(&[spec], chw, 100).unwrap();
        // FLOPs for the conv layers, input values for the others (the group keeps the last
        // throughput set, so every case sets its own).
        let values = (100 * chw.iter().product::<usize>()) as u64;
        g.throughput(Throughput::Elements(if b.flops() > 0 {
            b.flops()
        } else {
            values
        }));
        g.bench_function(format!("{name}_forward"), |bench| {
            bench.iter(|| b.forward())
        });
        g.bench_function(format!("{name}_eval_forward"), |bench| {
            bench.iter(|| b.eval_forward())
        });
        g.bench_function(format!("{name}_backward"), |bench| {
            bench.iter(|| b.backward())
        });
    }
    g.finish();
}

/// One training step (forward, loss, backward, SGD update) of each workload at batch 100.
fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step_batch100");
    g.sample_size(10);
    for preset in [
        Preset::Mlp,
        Preset::Lenet,
        Preset::Cifar10Quick,
        Preset::Cifar10Full,
    ] {
        let chw = nn::bench::input_chw(preset);
        let mut net = Network::new(&ModelSpec::preset(preset), chw, 10, 0).unwrap();
        let sgd = OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
            convention: SgdConvention::Caffe,
        };
        let mut opt = Optimizer::new(&sgd, &net).unwrap();
        let x = Array4::from_shape_fn((100, chw[0], chw[1], chw[2]), |(n, c, h, w)| {
            ((n * 7 + c * 5 + h * 3 + w) % 17) as f32 / 17.0 - 0.5
        });
        let y: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        g.throughput(Throughput::Elements(100));
        g.bench_function(nn::bench::workload_name(preset), |b| {
            b.iter(|| {
                net.forward_backward(x.view(), &y, 0);
                opt.step(&mut net, 1e-3, None);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, gemm, layers, train_step);
criterion_main!(benches);
