//! LR range test analysis: suggest `base_lr`/`max_lr` from (lr, accuracy) points (the paper)
//! and fastai-style LRs from (lr, loss) points.

/// Why a range test could not be analysed.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RangeTestError {
    /// The two inputs have different lengths.
    #[error(
        "{lrs} learning rates but {values} {what} values; allowed: one value per learning rate"
    )]
    LengthMismatch {
        /// Number of learning rates.
        lrs: usize,
        /// Number of accuracy or loss values.
        values: usize,
        /// `accuracy` or `loss`.
        what: &'static str,
    },
    /// Too few points to smooth and analyse.
    #[error("{n} usable points; allowed: at least {min}")]
    TooFewPoints {
        /// Number of usable points.
        n: usize,
        /// The minimum.
        min: usize,
    },
    /// A value is NaN or infinite.
    #[error("{what}[{index}] = {value} is not finite; allowed: finite numbers")]
    NotFinite {
        /// `lr` or `accuracy`.
        what: &'static str,
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Learning rates must be positive and strictly increasing.
    #[error(
        "lr[{index}] = {value} after {previous}; allowed: positive, strictly increasing \
         learning rates"
    )]
    LrNotIncreasing {
        /// Position of the offending LR.
        index: usize,
        /// The LR before it (0 for the first).
        previous: f64,
        /// The offending LR.
        value: f64,
    },
    /// The accuracy never rises clearly above its noise.
    #[error(
        "the smoothed accuracy never rises clearly (from {start} to at most {peak}, noise \
         {noise}); widen the LR range or train longer per LR"
    )]
    NoRise {
        /// Smoothed accuracy at its lowest before the peak.
        start: f64,
        /// Highest smoothed accuracy.
        peak: f64,
        /// Robust estimate of the noise standard deviation.
        noise: f64,
    },
    /// The loss never decreases.
    #[error("the smoothed loss never decreases as the LR grows; widen the LR range downwards")]
    NoDescent,
}

/// `base_lr`/`max_lr` suggested from an accuracy curve, with the paper's alternatives.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// LR where the accuracy starts to rise.
    pub base_lr: f64,
    /// LR where the accuracy stops rising.
    pub max_lr: f64,
    /// Why these values, with the numbers behind them.
    pub reason: String,
    /// The paper's alternative `base_lr = max_lr / 3`.
    pub base_lr_third: f64,
    /// The paper's alternative `base_lr = max_lr / 4`.
    pub base_lr_quarter: f64,
    /// LR at the highest smoothed accuracy.
    pub peak_lr: f64,
    /// The first LR where the smoothed accuracy comes within the tolerance of its peak: the
    /// start of the top plateau.
    pub plateau_start_lr: f64,
    /// The largest LR of the top plateau: where the smoothed accuracy, past its peak, is
    /// last within the tolerance of the peak before it first falls below.
    pub plateau_end_lr: f64,
    /// The smoothed accuracy, one value per input point (for plots).
    pub smoothed: Vec<f64>,
    /// Robust estimate of the accuracy noise (standard deviation).
    pub noise: f64,
}

/// Fastai-style LRs suggested from a loss curve.
#[derive(Clone, Debug, PartialEq)]
pub struct LossSuggestion {
    /// LR where the smoothed loss falls fastest per unit of `ln(lr)`.
    pub steepest: f64,
    /// fastai's "valley": halfway along the longest decreasing stretch of the loss.
    pub valley: f64,
    /// LR at the lowest smoothed loss.
    pub min_loss_lr: f64,
    /// Why these values.
    pub reason: String,
    /// The smoothed loss over the analysed prefix (stops where the loss diverges).
    pub smoothed: Vec<f64>,
}

/// Widest `max_lr / base_lr` ratio suggested from the start of the rise; wider ranges fall
/// back to `base_lr = max_lr / 4`.
pub const MAX_RATIO: f64 = 10.0;

/// Fewest points the analysis accepts.
const MIN_POINTS: usize = 5;

/// Suggests `base_lr` and `max_lr` from an LR range test's accuracies (the paper, section 3.3).
///
/// The accuracies are smoothed (running median, then running mean, window about 10% of the
/// points). With `lo` the lowest smoothed accuracy before the peak `hi`, `rise = hi - lo` and
/// the tolerance `tol = max(2 noise, 0.01 rise)` (capped at half the rise), the smoothed curve
/// is *near the peak* where it is within `tol` of `hi`. The top plateau runs from the first
/// LR near the peak (the curve stops rising: the paper's "where the accuracy slows") to the
/// last one before the curve, past the peak, first falls out of it (it "becomes ragged or
/// falls"). `max_lr` is the larger of the plateau's start and half its end: half, because the
/// plateau's end is the largest rate that still trains as well, and Bengio's advice for a
/// fixed rate is a factor of two below the largest that converges, which a cycle touches only
/// at its peaks. On a curve that rises and falls at once the start wins; on one that
/// saturates early at tiny rates and stays flat over decades (a fast learner under an
/// exponential sweep, or a noisy curve whose plateau the noise widens) the start is an
/// artefact of training time and the end is the information.
///
/// `base_lr` is the first LR where the smoothed accuracy exceeds `lo + 0.1 rise` (it starts
/// to rise). When that gives a range wider than [`MAX_RATIO`] (typical of exponential sweeps,
/// where the early rise comes from training at tiny rates rather than from the rate),
/// `base_lr` is the paper's alternative `max_lr / 4` instead, and the reason says so.
///
/// # Errors
/// Mismatched lengths, fewer than 5 points, non-finite values, LRs not positive and strictly
/// increasing, or [`RangeTestError::NoRise`] when the rise is not above 3 noise deviations.
///
/// # Example
/// ```
/// let lrs: Vec<f64> = (1..=100).map(|i| i as f64 * 1e-4).collect();
/// let acc: Vec<f64> = lrs.iter().map(|&lr| if lr < 0.002 { 0.1 }
///     else if lr < 0.006 { 0.1 + (lr - 0.002) * 100.0 } else { 0.5 }).collect();
/// let s = clr_core::suggest_from_accuracy(&lrs, &acc).unwrap();
/// assert!(s.base_lr > 0.002 && s.base_lr < 0.003, "{}", s.base_lr);
/// assert!(s.max_lr > 0.0055 && s.max_lr < 0.0065, "{}", s.max_lr);
/// ```
pub fn suggest_from_accuracy(
    lrs: &[f64],
    accuracies: &[f64],
) -> Result<Suggestion, RangeTestError> {
    check_inputs(lrs, accuracies, "accuracy")?;
    let s = smooth(accuracies);
    let peak = argmax(&s);
    let lo_idx = argmin(&s[..=peak]);
    let (lo, hi) = (s[lo_idx], s[peak]);
    let rise = hi - lo;
    let noise = robust_noise(accuracies, &s);
    if peak == 0 || rise <= 3.0 * noise || rise <= 1e-12 * hi.abs().max(1.0) {
        return Err(RangeTestError::NoRise {
            start: lo,
            peak: hi,
            noise,
        });
    }
    let first_above = |frac: f64| {
        (lo_idx..=peak)
            .find(|&i| s[i] >= lo + frac * rise)
            .unwrap_or(peak)
    };
    let near_peak = (2.0 * noise).max(0.01 * rise).min(0.5 * rise);
    let m = (lo_idx..=peak)
        .find(|&i| s[i] >= hi - near_peak)
        .unwrap_or(peak);
    let end = (peak..s.len())
        .take_while(|&i| s[i] >= hi - near_peak)
        .last()
        .unwrap_or(peak);
    let (start_lr, end_lr) = (lrs[m], lrs[end]);
    let (max_lr, max_why) = if end_lr / 2.0 > start_lr {
        (
            end_lr / 2.0,
            format!(
                "it stays near the peak from lr {start_lr} to lr {end_lr}, so max_lr is half \
                 the plateau's end, {} (a factor of two below the largest rate that trains \
                 as well)",
                end_lr / 2.0
            ),
        )
    } else {
        (
            start_lr,
            format!(
                "it comes near the peak at lr {start_lr} (max_lr) and leaves it by lr \
                 {end_lr}, less than twice as far"
            ),
        )
    };
    let open_end = if end + 1 == s.len() {
        " (still near the peak at the sweep's last rate: the plateau may go on, a sweep to a \
         higher --max-lr would show where it ends)"
    } else {
        ""
    };
    let max_why = format!("{max_why}{open_end}");
    let b = first_above(0.1).min(m);
    let rising_lr = lrs[b];
    let (base_lr, base_why) = if max_lr / rising_lr > MAX_RATIO {
        (
            max_lr / 4.0,
            format!(
                "it starts to rise (10% of the rise) at lr {rising_lr}, more than {MAX_RATIO}x \
                 below max_lr, so base_lr = max_lr/4 (the paper's alternative)"
            ),
        )
    } else {
        (
            rising_lr,
            format!("it starts to rise (10% of the rise) at lr {rising_lr} (base_lr)"),
        )
    };
    let reason = format!(
        "smoothed accuracy rises from {lo:.4} (lr {}) to its peak {hi:.4} (lr {}); near the \
         peak means within {near_peak:.4} of it: {max_why}; {base_why}; noise {noise:.4}. \
         Alternatives: base_lr = max_lr/3 = {} or max_lr/4 = {}",
        lrs[lo_idx],
        lrs[peak],
        max_lr / 3.0,
        max_lr / 4.0
    );
    Ok(Suggestion {
        base_lr,
        max_lr,
        reason,
        base_lr_third: max_lr / 3.0,
        base_lr_quarter: max_lr / 4.0,
        peak_lr: lrs[peak],
        plateau_start_lr: start_lr,
        plateau_end_lr: end_lr,
        smoothed: s,
        noise,
    })
}

/// Suggests learning rates from an LR range test's losses (fastai's `steep` and `valley`).
///
/// The loss is cut at its first non-finite value and where the smoothed loss exceeds 4 times
/// its running minimum (divergence), then smoothed as in [`suggest_from_accuracy`].
/// `steepest` is the LR of the most negative slope `d loss / d ln(lr)`; `valley` follows
/// fastai: the longest strictly decreasing subsequence of the smoothed loss, and the point
/// `floor(len/3) + floor(len/6)` along it (about halfway).
///
/// # Errors
/// As [`suggest_from_accuracy`] for the inputs (non-finite losses only cut the curve), and
/// [`RangeTestError::NoDescent`] when the loss never decreases.
///
/// # Example
/// ```
/// let lrs: Vec<f64> = (0..60).map(|i| 1e-5 * 10f64.powf(i as f64 / 10.0)).collect();
/// let loss: Vec<f64> = lrs.iter().map(|&lr| {
///     let x = lr.log10() + 2.0;
///     2.3 - 2.0 / (1.0 + (-3.0 * x).exp()) + if x > 1.5 { 3.0 * (x - 1.5) } else { 0.0 }
/// }).collect();
/// let s = clr_core::suggest_from_loss(&lrs, &loss).unwrap();
/// assert!(s.steepest > 3e-3 && s.steepest < 3e-2, "{}", s.steepest);
/// ```
pub fn suggest_from_loss(lrs: &[f64], losses: &[f64]) -> Result<LossSuggestion, RangeTestError> {
    if lrs.len() != losses.len() {
        return Err(RangeTestError::LengthMismatch {
            lrs: lrs.len(),
            values: losses.len(),
            what: "loss",
        });
    }
    let finite = losses
        .iter()
        .position(|l| !l.is_finite())
        .unwrap_or(losses.len());
    let (lrs, losses) = (&lrs[..finite], &losses[..finite]);
    check_inputs(lrs, losses, "loss")?;
    let full = smooth(losses);
    let mut best = f64::INFINITY;
    let end = full
        .iter()
        .position(|&l| {
            best = best.min(l);
            l > 4.0 * best && best > 0.0
        })
        .unwrap_or(full.len());
    if end < MIN_POINTS {
        return Err(RangeTestError::TooFewPoints {
            n: end,
            min: MIN_POINTS,
        });
    }
    let s = full[..end].to_vec();
    let lrs = &lrs[..end];
    let slopes: Vec<f64> = (0..end)
        .map(|i| {
            let (a, b) = (i.saturating_sub(1), (i + 1).min(end - 1));
            (s[b] - s[a]) / (lrs[b].ln() - lrs[a].ln())
        })
        .collect();
    let steep = argmin(&slopes);
    if slopes[steep] >= 0.0 {
        return Err(RangeTestError::NoDescent);
    }
    let (start, stop) = longest_decreasing(&s);
    let sections = (stop - start) / 3;
    let valley = start + sections + sections / 2;
    let min_idx = argmin(&s);
    let reason = format!(
        "smoothed loss falls fastest (slope {:.4} per ln(lr)) at lr {} (steepest); its longest \
         decreasing stretch runs from lr {} to lr {}, halfway along it is lr {} (valley); the \
         lowest loss {:.4} is at lr {}{}",
        slopes[steep],
        lrs[steep],
        lrs[start],
        lrs[stop],
        lrs[valley],
        s[min_idx],
        lrs[min_idx],
        if end < full.len() {
            format!("; the loss diverges from lr {} on", lrs[end - 1])
        } else {
            String::new()
        }
    );
    Ok(LossSuggestion {
        steepest: lrs[steep],
        valley: lrs[valley],
        min_loss_lr: lrs[min_idx],
        reason,
        smoothed: s,
    })
}

fn check_inputs(lrs: &[f64], values: &[f64], what: &'static str) -> Result<(), RangeTestError> {
    if lrs.len() != values.len() {
        return Err(RangeTestError::LengthMismatch {
            lrs: lrs.len(),
            values: values.len(),
            what,
        });
    }
    if lrs.len() < MIN_POINTS {
        return Err(RangeTestError::TooFewPoints {
            n: lrs.len(),
            min: MIN_POINTS,
        });
    }
    for (index, (&lr, &v)) in lrs.iter().zip(values).enumerate() {
        if !lr.is_finite() {
            return Err(RangeTestError::NotFinite {
                what: "lr",
                index,
                value: lr,
            });
        }
        if !v.is_finite() {
            return Err(RangeTestError::NotFinite {
                what,
                index,
                value: v,
            });
        }
        let previous = if index == 0 { 0.0 } else { lrs[index - 1] };
        if lr <= previous {
            return Err(RangeTestError::LrNotIncreasing {
                index,
                previous,
                value: lr,
            });
        }
    }
    Ok(())
}

/// Running median then running mean, both over a centred window of about 10% of the points
/// (at least 3), shrinking at the ends.
fn smooth(values: &[f64]) -> Vec<f64> {
    let half = (values.len() / 20).max(1);
    let window = |i: usize| i.saturating_sub(half)..(i + half + 1).min(values.len());
    let medians: Vec<f64> = (0..values.len())
        .map(|i| {
            let mut w = values[window(i)].to_vec();
            w.sort_by(f64::total_cmp);
            median_sorted(&w)
        })
        .collect();
    (0..values.len())
        .map(|i| {
            let w = &medians[window(i)];
            w.iter().sum::<f64>() / w.len() as f64
        })
        .collect()
}

fn median_sorted(w: &[f64]) -> f64 {
    let n = w.len();
    if n % 2 == 1 {
        w[n / 2]
    } else {
        (w[n / 2 - 1] + w[n / 2]) / 2.0
    }
}

/// Noise standard deviation estimated from the median absolute residual (1.4826 MAD).
fn robust_noise(raw: &[f64], smoothed: &[f64]) -> f64 {
    let mut r: Vec<f64> = raw
        .iter()
        .zip(smoothed)
        .map(|(a, b)| (a - b).abs())
        .collect();
    r.sort_by(f64::total_cmp);
    1.4826 * median_sorted(&r)
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

fn argmin(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] < v[best] { i } else { best })
}

/// Start and end index of the longest strictly decreasing subsequence (fastai's `valley`).
fn longest_decreasing(v: &[f64]) -> (usize, usize) {
    let n = v.len();
    let mut lds = vec![1usize; n];
    let (mut max_start, mut max_end) = (0, 0);
    for i in 1..n {
        for j in 0..i {
            if v[i] < v[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
        }
        if lds[max_end] < lds[i] {
            max_end = i;
            max_start = max_end + 1 - lds[max_end];
        }
    }
    (max_start, max_end)
}
