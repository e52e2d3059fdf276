//! RMSprop.

use super::StepCtx;

/// # Formula (PyTorch, not centered)
/// `s = alpha s + (1 - alpha) g'^2`; with momentum `b = mom b + g' / (sqrt(s) + eps)`,
/// `w -= lr b`; without, `w -= lr g' / (sqrt(s) + eps)`; `g' = g + wd w`.
pub(super) fn update(
    c: StepCtx,
    alpha: f32,
    eps: f32,
    w: &mut [f32],
    g: &[f32],
    s: &mut [f32],
    b: &mut [f32],
) {
    let mom = c.momentum;
    for (((w, &g), s), b) in w.iter_mut().zip(g).zip(s.iter_mut()).zip(b.iter_mut()) {
        let g = g + c.wd * *w;
        *s = alpha * *s + (1.0 - alpha) * g * g;
        let avg = s.sqrt() + eps;
        if mom > 0.0 {
            *b = mom * *b + g / avg;
            *w -= c.lr * *b;
        } else {
            *w -= c.lr * g / avg;
        }
    }
}
