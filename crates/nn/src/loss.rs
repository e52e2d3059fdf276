//! Softmax cross-entropy.

use crate::Real;

/// Loss and accuracy of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Sum over the batch of the per-sample cross-entropy (natural log).
    pub loss_sum: f64,
    /// Samples whose largest logit (the first, on ties) is the label.
    pub correct: usize,
    /// Samples.
    pub count: usize,
}

impl BatchStats {
    /// Adds another batch's figures.
    pub fn merge(&mut self, other: BatchStats) {
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
        self.count += other.count;
    }
    /// Mean loss (0 for an empty batch).
    pub fn mean_loss(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.loss_sum / self.count as f64
        }
    }
    /// Fraction correct (0 for an empty batch).
    pub fn accuracy(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.correct as f64 / self.count as f64
        }
    }
}

/// Softmax cross-entropy of `n` rows of `k` logits against labels smoothed by `smoothing`
/// (`e`, in `[0, 1)`; 0 for the plain one-hot targets).
///
/// # Formula
/// The target of row `i` is `q_i = (1 - e) onehot(label_i) + e / k` (Szegedy et al.'s label
/// smoothing, PyTorch's `CrossEntropyLoss(label_smoothing=e)`), and
/// `loss_i = lse_i - sum_j q_ij (z_ij - max_i)` with `lse_i = log(sum_j exp(z_ij - max_i))`:
/// for `e = 0`, `lse_i - (z_{i,label} - max_i)`. Subtracting the row maximum keeps every
/// exponential finite. When `grad` is given it receives the gradient of the *mean* loss:
/// `(softmax(z_i) - q_i) / n`.
///
/// # Panics
/// If a label is `>= k`.
pub(crate) fn softmax_cross_entropy<T: Real>(
    logits: &[T],
    labels: &[u8],
    k: usize,
    smoothing: f64,
    mut grad: Option<&mut [T]>,
) -> BatchStats {
    let n = labels.len();
    let mut stats = BatchStats {
        count: n,
        ..BatchStats::default()
    };
    let inv_n = T::of(1.0 / n.max(1) as f64);
    for (i, &label) in labels.iter().enumerate() {
        let label = label as usize;
        assert!(label < k, "label {label} out of range for {k} classes");
        let z = &logits[i * k..(i + 1) * k];
        let mut arg = 0;
        for j in 1..k {
            if z[j] > z[arg] {
                arg = j;
            }
        }
        let max = z[arg];
        let sum: T = z.iter().map(|&v| (v - max).exp()).sum();
        let lse = sum.ln();
        stats.correct += usize::from(arg == label);
        if smoothing == 0.0 {
            stats.loss_sum += (lse - (z[label] - max)).f64();
        } else {
            let mean_z = z.iter().map(|&v| (v - max).f64()).sum::<f64>() / k as f64;
            let target = (1.0 - smoothing) * (z[label] - max).f64() + smoothing * mean_z;
            stats.loss_sum += lse.f64() - target;
        }
        if let Some(g) = grad.as_deref_mut() {
            let g = &mut g[i * k..(i + 1) * k];
            for j in 0..k {
                g[j] = (z[j] - max).exp() / sum * inv_n;
            }
            if smoothing == 0.0 {
                g[label] -= inv_n;
            } else {
                let spread = T::of(smoothing / k as f64) * inv_n;
                for gj in g.iter_mut() {
                    *gj -= spread;
                }
                g[label] -= T::of(1.0 - smoothing) * inv_n;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences() {
        let (n, k) = (3, 4);
        let z: Vec<f64> = (0..n * k)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.3)
            .collect();
        let labels = [2u8, 0, 3];
        for smoothing in [0.0, 0.1, 0.5] {
            let mut g = vec![0.0; n * k];
            let stats = softmax_cross_entropy(&z, &labels, k, smoothing, Some(&mut g));
            let mean = |z: &[f64]| {
                softmax_cross_entropy(z, &labels, k, smoothing, None).loss_sum / n as f64
            };
            assert!((stats.loss_sum / n as f64 - mean(&z)).abs() < 1e-15);
            let eps = 1e-6;
            for i in 0..n * k {
                let mut zp = z.clone();
                zp[i] += eps;
                let mut zm = z.clone();
                zm[i] -= eps;
                let num = (mean(&zp) - mean(&zm)) / (2.0 * eps);
                assert!(
                    (num - g[i]).abs() < 1e-9,
                    "e {smoothing}, {i}: {num} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn smoothed_loss_by_hand() {
        // Logits (0, ln 3): softmax (1/4, 3/4). Label 1, e = 0.2 over k = 2: target
        // (0.1, 0.9), loss = -(0.1 ln 1/4 + 0.9 ln 3/4).
        let z = [0.0f64, 3f64.ln()];
        let mut g = [0.0; 2];
        let s = softmax_cross_entropy(&z, &[1], 2, 0.2, Some(&mut g));
        let want = -(0.1 * 0.25f64.ln() + 0.9 * 0.75f64.ln());
        assert!(
            (s.loss_sum - want).abs() < 1e-12,
            "{} vs {want}",
            s.loss_sum
        );
        assert!(
            (g[0] - 0.15).abs() < 1e-12 && (g[1] + 0.15).abs() < 1e-12,
            "{g:?}"
        );
        // Uniform logits: the loss is ln k whatever the smoothing.
        let s = softmax_cross_entropy(&[2.0f64; 5], &[3], 5, 0.3, None);
        assert!((s.loss_sum - 5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn value_by_hand_and_stable() {
        // Equal logits: loss = ln k, prediction is the first class.
        let s = softmax_cross_entropy(&[5.0f32; 4], &[0], 4, 0.0, None);
        assert!((s.loss_sum - 4f64.ln()).abs() < 1e-6);
        assert_eq!((s.correct, s.count), (1, 1));
        // Huge logits neither overflow nor produce NaN.
        let mut g = [0.0f32; 2];
        let s = softmax_cross_entropy(&[1000.0f32, -1000.0], &[1], 2, 0.0, Some(&mut g));
        assert!((s.loss_sum - 2000.0).abs() < 1e-3);
        assert_eq!(g, [1.0, -1.0]);
        assert_eq!(s.correct, 0);
    }
}
