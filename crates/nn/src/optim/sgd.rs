//! SGD with momentum.

use super::{SgdConvention, StepCtx};

/// # Formula
/// Caffe: `V = m V + lr (g + wd w)`; `w -= V`, or with Nesterov `w -= (1 + m) V - m V_old`.
/// PyTorch: `V = m V + (g + wd w)`; `w -= lr V`, or with Nesterov `w -= lr (g + wd w + m V)`.
pub(super) fn update(
    c: StepCtx,
    nesterov: bool,
    conv: SgdConvention,
    w: &mut [f32],
    g: &[f32],
    v: &mut [f32],
) {
    let (lr, wd, m) = (c.lr, c.wd, c.momentum);
    for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
        let g = g + wd * *w;
        match (conv, nesterov) {
            (SgdConvention::Caffe, false) => {
                *v = m * *v + lr * g;
                *w -= *v;
            }
            (SgdConvention::Caffe, true) => {
                let old = *v;
                *v = m * *v + lr * g;
                *w -= (1.0 + m) * *v - m * old;
            }
            (SgdConvention::Pytorch, false) => {
                *v = m * *v + g;
                *w -= lr * *v;
            }
            (SgdConvention::Pytorch, true) => {
                *v = m * *v + g;
                *w -= lr * (g + m * *v);
            }
        }
    }
}
