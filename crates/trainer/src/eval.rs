//! Evaluation of a network on a whole split.

use ndarray::Array4;
use nn::{BatchStats, Network};

use crate::data::Split;

/// Evaluates the network on a whole split in batches, with its buffers allocated once.
pub struct Evaluator {
    indices: Vec<usize>,
    x: Array4<f32>,
    x_tail: Option<Array4<f32>>,
    y: Vec<u8>,
    batch: usize,
}

impl Evaluator {
    /// An evaluator of `split` (images of `shape`) in batches of `batch`.
    pub fn new(split: &Split, shape: [usize; 3], batch: usize) -> Self {
        let n = split.len();
        let batch = batch.min(n.max(1));
        let tail = n % batch;
        Self {
            indices: (0..n).collect(),
            x: Array4::zeros((batch, shape[0], shape[1], shape[2])),
            x_tail: (tail > 0).then(|| Array4::zeros((tail, shape[0], shape[1], shape[2]))),
            y: Vec::with_capacity(batch),
            batch,
        }
    }

    /// Mean loss and accuracy over the split.
    pub fn run(&mut self, net: &mut Network, split: &Split) -> (f64, f64) {
        let mut total = BatchStats::default();
        for chunk in self.indices.chunks(self.batch) {
            let x = if chunk.len() == self.batch {
                &mut self.x
            } else {
                self.x_tail.as_mut().unwrap_or(&mut self.x)
            };
            split.fill_batch(chunk, x, &mut self.y);
            let s = net.evaluate(x.view(), &self.y);
            total.loss_sum += s.loss_sum;
            total.correct += s.correct;
            total.count += s.count;
        }
        let n = total.count.max(1) as f64;
        (total.loss_sum / n, total.correct as f64 / n)
    }
}
