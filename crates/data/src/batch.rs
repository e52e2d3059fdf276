//! Splits of preprocessed images, mini-batches and per-epoch shuffling.

use ndarray::Array4;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

/// One split (train, validation or test): preprocessed images, NCHW `f32`,
/// and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    images: Vec<f32>,
    labels: Vec<u8>,
    shape: [usize; 3],
}

impl Split {
    /// A split of `labels.len()` images of `shape` (`[C, H, W]`).
    ///
    /// # Panics
    /// When `images.len() != labels.len() * C * H * W`.
    pub fn new(shape: [usize; 3], images: Vec<f32>, labels: Vec<u8>) -> Self {
        let per = shape.iter().product::<usize>();
        assert_eq!(
            images.len(),
            labels.len() * per,
            "Split::new: {} values for {} images of {shape:?}",
            images.len(),
            labels.len()
        );
        Split {
            images,
            labels,
            shape,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image shape `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All images, `len() * C * H * W` values, NCHW.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// Image `i`, `C * H * W` values.
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let per = self.image_len();
        &self.images[i * per..(i + 1) * per]
    }

    fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Copies the images at `indices` into `x` (shape
    /// `(indices.len(), C, H, W)`, NCHW) and their labels into `y`. `x` is
    /// reshaped when needed, reusing its buffer: nothing is allocated when
    /// its capacity (and that of `y`) suffices.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn fill_batch(&self, indices: &[usize], x: &mut Array4<f32>, y: &mut Vec<u8>) {
        self.fill_batch_with(indices, x, y, |_, src, dst| dst.copy_from_slice(src));
    }

    /// [`fill_batch`](Self::fill_batch) with `copy(k, src, dst)` writing image `k` of the
    /// batch from its stored pixels `src` into its slot `dst` (e.g. augmented).
    pub fn fill_batch_with(
        &self,
        indices: &[usize],
        x: &mut Array4<f32>,
        y: &mut Vec<u8>,
        mut copy: impl FnMut(usize, &[f32], &mut [f32]),
    ) {
        let [c, h, w] = self.shape;
        let dim = (indices.len(), c, h, w);
        let per = self.image_len();
        if x.dim() != dim || !x.is_standard_layout() {
            let (mut buf, _) = std::mem::take(x).into_raw_vec_and_offset();
            buf.clear();
            buf.resize(indices.len() * per, 0.0);
            *x = Array4::from_shape_vec(dim, buf).unwrap_or_else(|_| unreachable!());
        }
        let dst = x.as_slice_mut().unwrap_or_else(|| unreachable!());
        for (k, (d, &i)) in dst.chunks_exact_mut(per.max(1)).zip(indices).enumerate() {
            copy(k, self.image(i), d);
        }
        y.clear();
        y.extend(indices.iter().map(|&i| self.labels[i]));
    }
}

/// Deterministic permutation of `0..n` for `(seed, epoch)`: a Fisher-Yates
/// shuffle driven by PCG-64 seeded from a SplitMix64 mix of both, so the
/// same run seed replays the same order every epoch and a resumed run
/// continues it exactly.
///
/// ```
/// use ndarray::Array4;
/// use clr_data::{epoch_order, Split};
///
/// let order = epoch_order(4, 7, 0);
/// assert_eq!(order, epoch_order(4, 7, 0));
/// let mut sorted = order.clone();
/// sorted.sort_unstable();
/// assert_eq!(sorted, [0, 1, 2, 3]);
///
/// // Four 1x1x1 images with values 0..3 and labels 10..13.
/// let split = Split::new([1, 1, 1], vec![0., 1., 2., 3.], vec![10, 11, 12, 13]);
/// let (mut x, mut y) = (Array4::zeros((0, 0, 0, 0)), Vec::new());
/// split.fill_batch(&order[..2], &mut x, &mut y);
/// assert_eq!(x.dim(), (2, 1, 1, 1));
/// assert_eq!(y, [10 + order[0] as u8, 10 + order[1] as u8]);
/// assert_eq!(x[[1, 0, 0, 0]], order[1] as f32);
/// ```
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    use nn::seed::splitmix64;
    let state = (u128::from(splitmix64(seed)) << 64) | u128::from(splitmix64(!epoch ^ seed));
    let mut rng = Pcg64::new(state, 0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split() -> Split {
        // Three 1x1x2 images: [0,1], [10,11], [20,21].
        Split::new([1, 1, 2], vec![0., 1., 10., 11., 20., 21.], vec![7, 8, 9])
    }

    #[test]
    fn fill_batch_copies_and_reuses() {
        let s = split();
        let mut x = Array4::zeros((0, 0, 0, 0));
        let mut y = Vec::new();
        s.fill_batch(&[2, 0], &mut x, &mut y);
        assert_eq!(x.dim(), (2, 1, 1, 2));
        assert_eq!(x.as_slice().unwrap(), &[20., 21., 0., 1.]);
        assert_eq!(y, vec![9, 7]);
        let ptr = x.as_ptr();
        let yptr = y.as_ptr();
        // A smaller last batch reuses both buffers.
        s.fill_batch(&[1], &mut x, &mut y);
        assert_eq!(x.dim(), (1, 1, 1, 2));
        assert_eq!(x.as_slice().unwrap(), &[10., 11.]);
        assert_eq!(y, vec![8]);
        assert_eq!(x.as_ptr(), ptr);
        assert_eq!(y.as_ptr(), yptr);
    }

    #[test]
    fn epoch_order_is_a_deterministic_permutation() {
        let a = epoch_order(1000, 42, 3);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(1000, 42, 3));
        assert_ne!(a, epoch_order(1000, 42, 4));
        assert_ne!(a, epoch_order(1000, 43, 3));
        assert_ne!(a, sorted);
        assert!(epoch_order(0, 1, 1).is_empty());
    }
}
