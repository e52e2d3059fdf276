//! AdaGrad.

use super::StepCtx;

/// # Formula (PyTorch, no LR decay)
/// `s += g'^2`; `w -= lr g' / (sqrt(s) + eps)`; `g' = g + wd w`.
pub(super) fn update(c: StepCtx, eps: f32, w: &mut [f32], g: &[f32], s: &mut [f32]) {
    for ((w, &g), s) in w.iter_mut().zip(g).zip(s.iter_mut()) {
        let g = g + c.wd * *w;
        *s += g * g;
        *w -= c.lr * g / (s.sqrt() + eps);
    }
}
