//! Adam.

use super::StepCtx;

/// # Formula (PyTorch)
/// `m = b1 m + (1 - b1) g'`; `v = b2 v + (1 - b2) g'^2`;
/// `w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`, with `g' = g + wd w` and `t`
/// the 1-based step.
pub(super) fn update(
    c: StepCtx,
    b2: f32,
    eps: f32,
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let b1 = c.momentum;
    let bc1 = 1.0 - (b1 as f64).powf(c.t as f64);
    let bc2 = 1.0 - (b2 as f64).powf(c.t as f64);
    let step = (c.lr as f64 / bc1) as f32;
    let bc2_sqrt = bc2.sqrt() as f32;
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g + c.wd * *w;
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *w -= step * *m / (v.sqrt() / bc2_sqrt + eps);
    }
}
