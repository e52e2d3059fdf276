//! A residual block: `y = branch(x) + shortcut(x)` (He et al. 2016).
//!
//! The branch is any chain of layers (ResNet's conv-bn-relu-conv-bn). The shortcut is
//! - the identity, when the branch keeps the shape;
//! - a projection: its own chain of layers (a 1x1 convolution of the branch's stride and
//!   batch norm, the paper's option B);
//! - `pad`: the input subsampled by the stride with the new channels zero (option A, the
//!   paper's CIFAR-10 ResNets; no parameters).
//!
//! The activation after the sum is the next layer of the network, not part of the block.
//! The block owns its sub-layers and their buffers; their parameters are the network's,
//! named `<block>.<sub-layer>.<param>`.

use super::{Dims, Layer, Mode};
use crate::linalg::ELEM_CHUNK;
use crate::simd::simd_kernel;
use crate::Real;
use rayon::prelude::*;

/// How the input reaches the sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    /// `x` itself (branch input and output shapes equal).
    Identity,
    /// The sub-layers after the branch's, applied to `x`.
    Projection,
    /// `x` at every `stride`-th pixel, in the first channels; the others zero.
    Pad {
        /// Subsampling factor (input height / output height).
        stride: usize,
    },
}

/// Sub-layers with their names.
pub type Sublayers<T> = Vec<(String, Box<dyn Layer<T>>)>;

/// A residual block; see the module documentation.
pub struct Residual<T> {
    inp: Dims,
    out: Dims,
    /// The branch's layers, then the projection's (if any).
    layers: Sublayers<T>,
    branch: usize,
    shortcut: Shortcut,
    /// Output of every sub-layer.
    acts: Vec<Vec<T>>,
    /// Gradient of every sub-layer's output (unused for the last of each chain, which
    /// gets `dy`), and the projection's input gradient.
    grads: Vec<Vec<T>>,
    shortcut_dx: Vec<T>,
}

impl<T: Real> Residual<T> {
    /// A block on inputs of `inp`: `branch` (at least one layer, chained), and for
    /// [`Shortcut::Projection`] the `projection` chain (empty otherwise).
    ///
    /// # Errors
    /// A message when the chains do not fit `inp` or each other, or the shortcut cannot
    /// produce the branch's output shape.
    pub fn new(
        inp: Dims,
        branch: Sublayers<T>,
        shortcut: Shortcut,
        projection: Sublayers<T>,
    ) -> Result<Self, String> {
        let out = chain_out(inp, &branch, "branch")?;
        match shortcut {
            Shortcut::Identity if out != inp => {
                return Err(format!(
                    "the branch maps {} to {}; an identity shortcut needs equal shapes (use shortcut = \"projection\" or \"pad\")",
                    show(inp),
                    show(out)
                ))
            }
            Shortcut::Projection => {
                let p = chain_out(inp, &projection, "projection")?;
                if p != out {
                    return Err(format!(
                        "the projection outputs {} but the branch {}",
                        show(p),
                        show(out)
                    ));
                }
            }
            Shortcut::Pad { stride } => {
                let fits = stride >= 1
                    && out.c >= inp.c
                    && inp.h.div_ceil(stride) == out.h
                    && inp.w.div_ceil(stride) == out.w;
                if !fits {
                    return Err(format!(
                        "a `pad` shortcut with stride {stride} cannot map {} to the branch's {}",
                        show(inp),
                        show(out)
                    ));
                }
            }
            Shortcut::Identity => {}
        }
        if shortcut != Shortcut::Projection && !projection.is_empty() {
            return Err("projection layers given for a shortcut that is not a projection".into());
        }
        let branch_len = branch.len();
        let mut layers = branch;
        layers.extend(projection);
        let k = layers.len();
        Ok(Self {
            inp,
            out,
            layers,
            branch: branch_len,
            shortcut,
            acts: vec![Vec::new(); k],
            grads: vec![Vec::new(); k],
            shortcut_dx: Vec::new(),
        })
    }

    /// The shortcut kind.
    pub fn shortcut(&self) -> Shortcut {
        self.shortcut
    }

    fn reserve(&mut self, n: usize) {
        for (k, (_, l)) in self.layers.iter().enumerate() {
            let len = n * l.out_dims().len();
            if self.acts[k].len() < len {
                self.acts[k].resize(len, T::zero());
                self.grads[k].resize(len, T::zero());
            }
        }
        if self.shortcut == Shortcut::Projection && self.shortcut_dx.len() < n * self.inp.len() {
            self.shortcut_dx.resize(n * self.inp.len(), T::zero());
        }
    }
}

fn show(d: Dims) -> String {
    format!("{}x{}x{}", d.c, d.h, d.w)
}

fn chain_out<T: Real>(inp: Dims, chain: &Sublayers<T>, what: &str) -> Result<Dims, String> {
    if chain.is_empty() {
        return Err(format!("the {what} needs at least one layer"));
    }
    let mut d = inp;
    for (name, l) in chain {
        if l.in_dims() != d {
            return Err(format!(
                "{what} layer `{name}` takes {} but gets {}",
                show(l.in_dims()),
                show(d)
            ));
        }
        d = l.out_dims();
    }
    Ok(d)
}

/// Forward through `layers[range]` from `x`; outputs in `acts[range]` (see
/// [`super::forward_chain`] for the ones eval mode leaves unwritten).
fn chain_forward<T: Real>(
    layers: &mut [(String, Box<dyn Layer<T>>)],
    acts: &mut [Vec<T>],
    n: usize,
    x: &[T],
    mode: Mode,
) {
    super::forward_chain(layers, |l| &mut *l.1, acts, n, x, mode);
}

/// Backward through a chain whose forward started at `x` and whose last output gets `dy`;
/// the first layer writes `dx` when given.
fn chain_backward<T: Real>(
    layers: &mut [(String, Box<dyn Layer<T>>)],
    acts: &[Vec<T>],
    grads: &mut [Vec<T>],
    n: usize,
    x: &[T],
    dy: &[T],
    mut dx: Option<&mut [T]>,
) {
    let last = layers.len() - 1;
    for k in (0..=last).rev() {
        let input = if k == 0 { x } else { &acts[k - 1][..] };
        let (lo, hi) = grads.split_at_mut(k);
        let g = if k == last { dy } else { &hi[0][..] };
        let target = if k == 0 {
            dx.as_deref_mut()
        } else {
            Some(&mut lo[k - 1][..])
        };
        layers[k].1.backward(n, input, &acts[k], g, target);
    }
}

/// `y[i] = a[i] + b[i]` over `len` values.
fn add_into<T: Real>(y: &mut [T], a: &[T], b: &[T]) {
    y.par_chunks_mut(ELEM_CHUNK)
        .zip(a.par_chunks(ELEM_CHUNK).zip(b.par_chunks(ELEM_CHUNK)))
        .for_each(|(y, (a, b))| sum_chunk((y, a, b)));
}

simd_kernel! {
/// `y[i] = a[i] + b[i]` (compiled for AVX2 as well).
fn sum_chunk<T: Real>((y, a, b): (&mut [T], &[T], &[T])) {
    for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
        *y = *a + *b;
    }
}
}

simd_kernel! {
/// `d[i] += g[i]` (compiled for AVX2 as well).
fn add_chunk<T: Real>((d, g): (&mut [T], &[T])) {
    d.iter_mut().zip(g).for_each(|(d, g)| *d += *g);
}
}

/// `d[i] += g[i]`.
fn add_assign<T: Real>(d: &mut [T], g: &[T]) {
    d.par_chunks_mut(ELEM_CHUNK)
        .zip(g.par_chunks(ELEM_CHUNK))
        .for_each(|(d, g)| add_chunk((d, g)));
}

/// The `pad` shortcut's kept pixels: `(output offset, input offset)` of each pixel's
/// channels within a sample (the input's `inp.c` channels go to the output's first ones).
fn kept_pixels(inp: Dims, out: Dims, stride: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..out.h).flat_map(move |oy| {
        (0..out.w).map(move |ox| {
            (
                (oy * out.w + ox) * out.c,
                (oy * stride * inp.w + ox * stride) * inp.c,
            )
        })
    })
}

impl<T: Real> Layer<T> for Residual<T> {
    fn kind(&self) -> &'static str {
        "residual"
    }
    fn in_dims(&self) -> Dims {
        self.inp
    }
    fn out_dims(&self) -> Dims {
        self.out
    }
    fn flops(&self) -> u64 {
        self.layers.iter().map(|(_, l)| l.flops()).sum()
    }
    fn sublayers(&self) -> &[(String, Box<dyn Layer<T>>)] {
        &self.layers
    }
    fn sublayers_mut(&mut self) -> &mut [(String, Box<dyn Layer<T>>)] {
        &mut self.layers
    }
    fn forward(&mut self, n: usize, x: &[T], y: &mut [T], mode: Mode) {
        self.reserve(n);
        let b = self.branch;
        let (in_len, out_len) = (n * self.inp.len(), n * self.out.len());
        let x = &x[..in_len];
        let y = &mut y[..out_len];
        let (branch, proj) = self.layers.split_at_mut(b);
        let (bacts, pacts) = self.acts.split_at_mut(b);
        chain_forward(branch, bacts, n, x, mode);
        let branch_out = &bacts[b - 1][..out_len];
        match self.shortcut {
            Shortcut::Identity => add_into(y, branch_out, x),
            Shortcut::Projection => {
                chain_forward(proj, pacts, n, x, mode);
                add_into(y, branch_out, &pacts[pacts.len() - 1][..out_len]);
            }
            Shortcut::Pad { stride } => {
                let (inp, out) = (self.inp, self.out);
                y.copy_from_slice(branch_out);
                y.par_chunks_mut(out.len())
                    .zip(x.par_chunks(inp.len()))
                    .for_each(|(ys, xs)| {
                        for (o, i) in kept_pixels(inp, out, stride) {
                            add_chunk((&mut ys[o..o + inp.c], &xs[i..i + inp.c]));
                        }
                    });
            }
        }
    }
    fn backward(&mut self, n: usize, x: &[T], _y: &[T], dy: &[T], mut dx: Option<&mut [T]>) {
        let b = self.branch;
        let (in_len, out_len) = (n * self.inp.len(), n * self.out.len());
        let x = &x[..in_len];
        let dy = &dy[..out_len];
        let (branch, proj) = self.layers.split_at_mut(b);
        let (bacts, pacts) = self.acts.split_at(b);
        let (bgrads, pgrads) = self.grads.split_at_mut(b);
        let dx_branch = dx.as_deref_mut().map(|d| &mut d[..in_len]);
        chain_backward(branch, bacts, bgrads, n, x, dy, dx_branch);
        match self.shortcut {
            Shortcut::Identity => {
                if let Some(dx) = dx {
                    add_assign(&mut dx[..in_len], dy);
                }
            }
            Shortcut::Projection => {
                let want = dx.is_some();
                let sdx = &mut self.shortcut_dx[..in_len];
                chain_backward(proj, pacts, pgrads, n, x, dy, want.then_some(&mut *sdx));
                if let Some(dx) = dx {
                    add_assign(&mut dx[..in_len], sdx);
                }
            }
            Shortcut::Pad { stride } => {
                let Some(dx) = dx else { return };
                let (inp, out) = (self.inp, self.out);
                dx[..in_len]
                    .par_chunks_mut(inp.len())
                    .zip(dy.par_chunks(out.len()))
                    .for_each(|(dxs, dys)| {
                        for (o, i) in kept_pixels(inp, out, stride) {
                            add_chunk((&mut dxs[i..i + inp.c], &dys[o..o + inp.c]));
                        }
                    });
            }
        }
    }
}
