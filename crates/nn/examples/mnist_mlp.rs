//! `nn` and `clr-core` as libraries, without the `clr` trainer: a 784-128-10 MLP trained on
//! MNIST for 2 triangular cycles (4 epochs), then tested. Exits non-zero below 97%.
//!
//! ```sh
//! clr data fetch mnist          # or any folder with the four IDX files, in CLR_DATA_DIR/mnist
//! cargo run --release -p nn --example mnist_mlp
//! ```
use std::path::PathBuf;

use clr_core::ScheduleConfig;
use ndarray::Array4;
use nn::{ModelSpec, Network, Optimizer, OptimizerSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir =
        PathBuf::from(std::env::var_os("CLR_DATA_DIR").unwrap_or("data".into())).join("mnist");
    if !dir.join("train-images-idx3-ubyte").is_file() {
        return Err(format!("no MNIST in {}: run `clr data fetch mnist`", dir.display()).into());
    }
    let m = mnist::MnistBuilder::new()
        .base_path(dir.to_str().ok_or("path not UTF-8")?)
        .finalize();
    let pixels = |v: &[u8]| -> Vec<f32> { v.iter().map(|&p| f32::from(p) / 255.0).collect() };
    let (train, test) = (pixels(&m.trn_img), pixels(&m.tst_img));
    let (n, px) = (m.trn_lbl.len(), 28 * 28);

    let model: ModelSpec = toml::from_str("preset = \"mlp\"\nhidden = [128]")?;
    let mut net = Network::new(&model, [1, 28, 28], 10, 1)?;
    let sgd: OptimizerSpec = toml::from_str("kind = \"sgd\"\nmomentum = 0.9")?;
    let mut opt = Optimizer::new(&sgd, &net)?;
    let clr: ScheduleConfig = toml::from_str(
        "policy = \"triangular\"\nbase_lr = 0.01\nmax_lr = 0.1\nstep_size_epochs = 1",
    )?;
    let (batch, per_epoch) = (100, n / 100);
    let schedule = clr.build(Some(per_epoch as u64))?;

    let mut x = Array4::<f32>::zeros((batch, 1, 28, 28));
    let mut y = vec![0u8; batch];
    let mut order: Vec<usize> = (0..n).collect();
    for it in 0..4 * per_epoch as u64 {
        let pos = (it as usize % per_epoch) * batch;
        if pos == 0 {
            // A new order every epoch (Fisher-Yates on the workspace's SplitMix64).
            for i in (1..n).rev() {
                let j = (nn::seed::splitmix64(it ^ (i as u64) << 32) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        let dst = x.as_slice_mut().ok_or("batch not contiguous")?;
        for (k, &i) in order[pos..pos + batch].iter().enumerate() {
            dst[k * px..(k + 1) * px].copy_from_slice(&train[i * px..(i + 1) * px]);
            y[k] = m.trn_lbl[i];
        }
        let stats = net.forward_backward(x.view(), &y, it);
        opt.step(&mut net, schedule.lr(it), schedule.momentum(it));
        if (it + 1) % per_epoch as u64 == 0 {
            println!("iteration {}: batch loss {:.4}", it + 1, stats.mean_loss());
        }
    }

    let mut correct = 0;
    for (images, labels) in test.chunks(1000 * px).zip(m.tst_lbl.chunks(1000)) {
        let xs = Array4::from_shape_vec((labels.len(), 1, 28, 28), images.to_vec())?;
        let hits = net.predict(xs.view()).into_iter().zip(labels);
        correct += hits.filter(|(p, &l)| *p == usize::from(l)).count();
    }
    let accuracy = correct as f64 / m.tst_lbl.len() as f64;
    println!("test accuracy {:.2}% after 2 cycles", 100.0 * accuracy);
    if accuracy < 0.97 {
        return Err(format!("test accuracy {:.2}% is below 97%", 100.0 * accuracy).into());
    }
    Ok(())
}
