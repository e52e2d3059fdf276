//! Pixel preprocessing with statistics fitted on the training split only.

use rayon::prelude::*;

use super::config::Preprocess;

/// A fitted preprocessing: the statistics of the training split it was
/// fitted on, ready to transform any split.
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted {
    /// `x / 255`.
    Scale,
    /// `(x - mean[c]) / std[c]`, per channel, on 0-255 values.
    Standardize {
        /// Per-channel mean.
        mean: Vec<f32>,
        /// Per-channel standard deviation (1 where it is 0).
        std: Vec<f32>,
    },
    /// `x - mean[c, h, w]` on 0-255 values.
    MeanImage {
        /// The per-pixel mean of the training images, `C*H*W` values.
        mean: Vec<f32>,
    },
    /// `x` as is (0-255).
    None,
}

impl Fitted {
    /// Fits `kind` on training pixels `train` (`N*C*H*W` bytes, NCHW).
    ///
    /// # Formula
    /// Standardize: `mean[c] = Σ x / (N·H·W)`, `std[c] = sqrt(Σ x² / (N·H·W) − mean[c]²)`
    /// (population standard deviation); mean image: `mean[p] = Σₙ xₙ[p] / N`.
    pub fn fit(kind: Preprocess, train: &[u8], shape: [usize; 3]) -> Fitted {
        let [c, h, w] = shape;
        let image = c * h * w;
        let n = train.len() / image.max(1);
        match kind {
            Preprocess::Scale => Fitted::Scale,
            Preprocess::None => Fitted::None,
            Preprocess::MeanImage => {
                let sums = train
                    .par_chunks(image * 256)
                    .map(|block| {
                        let mut s = vec![0u64; image];
                        for img in block.chunks_exact(image) {
                            for (acc, &x) in s.iter_mut().zip(img) {
                                *acc += u64::from(x);
                            }
                        }
                        s
                    })
                    .reduce(|| vec![0u64; image], add_vecs);
                let mean = sums
                    .iter()
                    .map(|&s| (s as f64 / n.max(1) as f64) as f32)
                    .collect();
                Fitted::MeanImage { mean }
            }
            Preprocess::Standardize => {
                let plane = h * w;
                // Per channel: sum and sum of squares, exact in u64.
                let sums = train
                    .par_chunks(image * 256)
                    .map(|block| {
                        let mut s = vec![0u64; 2 * c];
                        for img in block.chunks_exact(image) {
                            for (ch, p) in img.chunks_exact(plane).enumerate() {
                                for &x in p {
                                    let x = u64::from(x);
                                    s[2 * ch] += x;
                                    s[2 * ch + 1] += x * x;
                                }
                            }
                        }
                        s
                    })
                    .reduce(|| vec![0u64; 2 * c], add_vecs);
                let count = (n * plane).max(1) as f64;
                let (mut mean, mut std) = (Vec::with_capacity(c), Vec::with_capacity(c));
                for ch in 0..c {
                    let m = sums[2 * ch] as f64 / count;
                    let var = (sums[2 * ch + 1] as f64 / count - m * m).max(0.0);
                    let s = var.sqrt();
                    mean.push(m as f32);
                    std.push(if s > 0.0 { s as f32 } else { 1.0 });
                }
                Fitted::Standardize { mean, std }
            }
        }
    }

    /// Transforms `pixels` (`N*C*H*W` bytes, NCHW) into network inputs.
    pub fn apply(&self, pixels: &[u8], shape: [usize; 3]) -> Vec<f32> {
        let [c, h, w] = shape;
        let image = c * h * w;
        let plane = h * w;
        let mut out = vec![0f32; pixels.len()];
        out.par_chunks_mut(image.max(1))
            .zip(pixels.par_chunks(image.max(1)))
            .for_each(|(dst, src)| match self {
                Fitted::Scale => {
                    for (d, &x) in dst.iter_mut().zip(src) {
                        *d = f32::from(x) / 255.0;
                    }
                }
                Fitted::None => {
                    for (d, &x) in dst.iter_mut().zip(src) {
                        *d = f32::from(x);
                    }
                }
                Fitted::MeanImage { mean } => {
                    for ((d, &x), &m) in dst.iter_mut().zip(src).zip(mean) {
                        *d = f32::from(x) - m;
                    }
                }
                Fitted::Standardize { mean, std } => {
                    for (ch, (dp, sp)) in dst
                        .chunks_exact_mut(plane)
                        .zip(src.chunks_exact(plane))
                        .enumerate()
                    {
                        let (m, s) = (mean[ch], std[ch]);
                        for (d, &x) in dp.iter_mut().zip(sp) {
                            *d = (f32::from(x) - m) / s;
                        }
                    }
                }
            });
        out
    }
}

fn add_vecs(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two 1x1x2 images: [0, 10] and [20, 30].
    const TRAIN: [u8; 4] = [0, 10, 20, 30];
    const SHAPE: [usize; 3] = [1, 1, 2];

    #[test]
    fn scale_and_none() {
        let f = Fitted::fit(Preprocess::Scale, &TRAIN, SHAPE);
        assert_eq!(f.apply(&[0, 255, 51], [1, 1, 3]), vec![0.0, 1.0, 0.2]);
        let f = Fitted::fit(Preprocess::None, &TRAIN, SHAPE);
        assert_eq!(f.apply(&[0, 255], SHAPE), vec![0.0, 255.0]);
    }

    #[test]
    fn mean_image_is_per_pixel_train_mean() {
        let f = Fitted::fit(Preprocess::MeanImage, &TRAIN, SHAPE);
        assert_eq!(
            f,
            Fitted::MeanImage {
                mean: vec![10.0, 20.0]
            }
        );
        // Applied to other data, the training statistics are used.
        assert_eq!(f.apply(&[10, 10], SHAPE), vec![0.0, -10.0]);
    }

    #[test]
    fn standardize_is_per_channel() {
        // Two channels of 1x1 over two images: channel 0 = {0, 20}, channel 1 = {10, 30}.
        let shape = [2, 1, 1];
        let f = Fitted::fit(Preprocess::Standardize, &TRAIN, shape);
        assert_eq!(
            f,
            Fitted::Standardize {
                mean: vec![10.0, 20.0],
                std: vec![10.0, 10.0]
            }
        );
        assert_eq!(f.apply(&TRAIN, shape), vec![-1.0, -1.0, 1.0, 1.0]);
        // A constant channel does not divide by zero.
        let f = Fitted::fit(Preprocess::Standardize, &[7, 7], [1, 1, 1]);
        assert_eq!(f.apply(&[7, 8], [1, 1, 1]), vec![0.0, 1.0]);
    }
}
