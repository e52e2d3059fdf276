//! The order the training loop draws images in: a function of (seed, iteration) alone, so a
//! resumed run continues it exactly.

use ndarray::Array4;

use super::{epoch_order, Augment, Order, Split};

/// Draws the batches of a run: batch `t` holds the images at global positions
/// `t * batch .. (t + 1) * batch` of the sequence of epoch permutations. Two permutations are
/// kept at a time (a batch may straddle an epoch boundary). With [`Order::Fixed`] every
/// epoch uses the permutation of epoch 0, as Caffe reads its LMDB. With an [`Augment`], each
/// image is transformed as drawn from the seed and its global position.
#[derive(Debug)]
pub struct Sampler {
    n: usize,
    seed: u64,
    fixed: bool,
    augment: Augment,
    cache: [(u64, Vec<usize>); 2],
    indices: Vec<usize>,
}

impl Sampler {
    /// The sampler of a training split of `n` images.
    pub fn new(n: usize, seed: u64, order: Order) -> Self {
        Self {
            n,
            seed,
            fixed: order == Order::Fixed,
            augment: Augment::default(),
            cache: [(u64::MAX, Vec::new()), (u64::MAX, Vec::new())],
            indices: Vec::new(),
        }
    }

    /// The sampler augmenting every batch it fills with `augment`.
    pub fn with_augment(mut self, augment: Augment) -> Self {
        self.augment = augment;
        self
    }

    /// The image at global position `global` (epoch `global / n`).
    pub fn index(&mut self, global: u64) -> usize {
        let epoch = if self.fixed {
            0
        } else {
            global / self.n as u64
        };
        let pos = (global % self.n as u64) as usize;
        let slot = (epoch % 2) as usize;
        if self.cache[slot].0 != epoch {
            self.cache[slot] = (epoch, epoch_order(self.n, self.seed, epoch));
        }
        self.cache[slot].1[pos]
    }

    /// Fills `x`, `y` with batch `iteration` of `batch` images of `split`.
    pub fn fill(
        &mut self,
        split: &Split,
        iteration: u64,
        batch: usize,
        x: &mut Array4<f32>,
        y: &mut Vec<u8>,
    ) {
        let mut indices = std::mem::take(&mut self.indices);
        indices.clear();
        let first = iteration * batch as u64;
        indices.extend((first..first + batch as u64).map(|g| self.index(g)));
        if self.augment.is_off() {
            split.fill_batch(&indices, x, y);
        } else {
            let (aug, seed, shape) = (self.augment, self.seed, split.shape());
            split.fill_batch_with(&indices, x, y, |k, src, dst| {
                aug.draw(seed, first + k as u64).apply(shape, src, dst)
            });
        }
        self.indices = indices;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_order_repeats_one_permutation_and_shuffle_draws_a_new_one() {
        let n = 50;
        let epochs = |order| {
            let mut o = Sampler::new(n, 3, order);
            (0..3 * n as u64).map(|g| o.index(g)).collect::<Vec<_>>()
        };
        let fixed = epochs(Order::Fixed);
        let shuffled = epochs(Order::Shuffle);
        assert_eq!(fixed[..n], fixed[n..2 * n]);
        assert_eq!(fixed[..n], fixed[2 * n..]);
        assert_eq!(fixed[..n], epoch_order(n, 3, 0)[..]);
        // Both start from the same first permutation; only shuffling changes it.
        assert_eq!(shuffled[..n], fixed[..n]);
        assert_ne!(shuffled[..n], shuffled[n..2 * n]);
        assert_eq!(shuffled[n..2 * n], epoch_order(n, 3, 1)[..]);
        let mut sorted = fixed[..n].to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn batches_follow_the_positions_across_an_epoch_boundary() {
        // Ten 1x1x1 images whose value is their index; batches of 4 straddle epochs.
        let split = Split::new([1, 1, 1], (0..10).map(|i| i as f32).collect(), vec![0; 10]);
        let mut s = Sampler::new(10, 5, Order::Shuffle);
        let (mut x, mut y) = (Array4::zeros((4, 1, 1, 1)), Vec::new());
        s.fill(&split, 2, 4, &mut x, &mut y);
        let want: Vec<f32> = [8, 9, 10, 11]
            .iter()
            .map(|&g| Sampler::new(10, 5, Order::Shuffle).index(g) as f32)
            .collect();
        assert_eq!(x.as_slice().unwrap(), &want[..]);
    }

    #[test]
    fn augmented_batches_replay_from_the_iteration_alone() {
        // Twenty 1x4x4 images whose pixels are 1..=16 plus 100 x index.
        let split = Split::new(
            [1, 4, 4],
            (0..20)
                .flat_map(|i| (1..=16).map(move |p| (100 * i + p) as f32))
                .collect(),
            vec![0; 20],
        );
        let aug = Augment {
            crop_padding: 1,
            flip: true,
        };
        let batch = |s: &mut Sampler, it| {
            let (mut x, mut y) = (Array4::zeros((0, 0, 0, 0)), Vec::new());
            s.fill(&split, it, 5, &mut x, &mut y);
            x.into_raw_vec_and_offset().0
        };
        let mut run = Sampler::new(20, 9, Order::Shuffle).with_augment(aug);
        let seq: Vec<Vec<f32>> = (0..8).map(|it| batch(&mut run, it)).collect();
        // A fresh sampler (a resumed run) at iteration 6 gives the same batch.
        let mut resumed = Sampler::new(20, 9, Order::Shuffle).with_augment(aug);
        assert_eq!(batch(&mut resumed, 6), seq[6]);
        // Each image is its stored pixels under the draw of its global position.
        let mut plain = Sampler::new(20, 9, Order::Shuffle);
        let stored = batch(&mut plain, 3);
        let mut want = vec![0.0; 80];
        for k in 0..5 {
            let d = aug.draw(9, 15 + k as u64);
            d.apply(
                [1, 4, 4],
                &stored[16 * k..16 * (k + 1)],
                &mut want[16 * k..16 * (k + 1)],
            );
        }
        assert_eq!(seq[3], want);
        // And the augmentation does change images.
        assert_ne!(seq[3], stored);
    }
}
