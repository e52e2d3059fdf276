//! AdaDelta.

use super::StepCtx;

/// # Formula (PyTorch)
/// `s = rho s + (1 - rho) g'^2`; `d = sqrt(u + eps) / sqrt(s + eps) * g'`;
/// `u = rho u + (1 - rho) d^2`; `w -= lr d`; `g' = g + wd w`.
pub(super) fn update(
    c: StepCtx,
    rho: f32,
    eps: f32,
    w: &mut [f32],
    g: &[f32],
    s: &mut [f32],
    u: &mut [f32],
) {
    for (((w, &g), s), u) in w.iter_mut().zip(g).zip(s.iter_mut()).zip(u.iter_mut()) {
        let g = g + c.wd * *w;
        *s = rho * *s + (1.0 - rho) * g * g;
        let d = (*u + eps).sqrt() / (*s + eps).sqrt() * g;
        *u = rho * *u + (1.0 - rho) * d * d;
        *w -= c.lr * d;
    }
}
