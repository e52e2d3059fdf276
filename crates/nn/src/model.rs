//! A network: layers built from a [`ModelSpec`], activation and gradient buffers, the loss,
//! named parameters and weight files.

use crate::build::build_layers;
use crate::layer::{each_trainable_mut, visit_params, visit_params_mut, Dims, Layer, Mode, Param};
use crate::loss::{softmax_cross_entropy, BatchStats};
use crate::spec::ModelSpec;
use crate::{io, NnError, Real};
use ndarray::{ArrayView4, ArrayViewD};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// A feed-forward network generic over the element type; [`Network`] is the `f32` one used for
/// training, `Net<f64>` serves gradient checks.
pub struct Net<T: Real> {
    layers: Vec<Box<dyn Layer<T>>>,
    names: Vec<String>,
    input: Dims,
    classes: usize,
    /// `acts[0]` is the input (channels-last), `acts[i + 1]` the output of layer `i` (in eval
    /// mode not written for a batch-norm or ReLU fused into the layer before it; see
    /// [`crate::layer::forward_chain`]).
    acts: Vec<Vec<T>>,
    /// `grads[i]` = gradient of the loss w.r.t. `acts[i]` (unused, and empty, up to
    /// `first_trainable`).
    grads: Vec<Vec<T>>,
    /// Batch size the buffers hold.
    capacity: usize,
    /// Label smoothing of the training loss (0: plain one-hot targets).
    label_smoothing: f64,
    /// Index of the first layer with trainable parameters: backward stops there and asks it
    /// for no input gradient (nothing before it has a gradient to receive).
    first_trainable: usize,
}

/// The `f32` network the trainer uses.
pub type Network = Net<f32>;

impl<T: Real> Net<T> {
    /// Builds the network for inputs of `input_chw = [channels, height, width]` and
    /// `num_classes` outputs; parameters are initialized from `seed`.
    ///
    /// # Errors
    /// [`NnError::InvalidModel`] / [`NnError::InvalidLayer`] for an invalid spec, a layer that
    /// does not fit its input (kernel larger than the padded image, ...), or a last layer whose
    /// output is not `num_classes` values.
    pub fn new(
        spec: &ModelSpec,
        input_chw: [usize; 3],
        num_classes: usize,
        seed: u64,
    ) -> Result<Self, NnError> {
        if input_chw.contains(&0) || num_classes == 0 {
            return Err(NnError::InvalidModel(format!(
                "input shape {input_chw:?} and num_classes {num_classes} must be positive"
            )));
        }
        // Sizes first, overflow-checked, so no allocation below can be asked for 2^64 values.
        crate::footprint::footprint(spec, input_chw, num_classes)?;
        let specs = spec.expand(num_classes)?;
        let input = Dims {
            c: input_chw[0],
            h: input_chw[1],
            w: input_chw[2],
        };
        let (layers, names, _) = build_layers::<T>(&specs, input, seed)?;
        Self::assemble(input, layers, names, num_classes)
    }

    /// A network of `layers` (named) for inputs of `input_chw`: the layers of
    /// [`into_layers`](Self::into_layers) with layers of your own (any type implementing
    /// [`Layer`]) inserted. The number of classes is the last layer's output size.
    ///
    /// ```
    /// use nn::{Dims, Layer, Mode, ModelSpec, Network};
    ///
    /// /// Doubles its input.
    /// struct Double(Dims);
    /// impl Layer<f32> for Double {
    ///     fn kind(&self) -> &'static str { "double" }
    ///     fn in_dims(&self) -> Dims { self.0 }
    ///     fn forward(&mut self, _n: usize, x: &[f32], y: &mut [f32], _mode: Mode) {
    ///         y.iter_mut().zip(x).for_each(|(y, x)| *y = 2.0 * x);
    ///     }
    ///     fn backward(&mut self, _n: usize, _x: &[f32], _y: &[f32], dy: &[f32], dx: Option<&mut [f32]>) {
    ///         if let Some(dx) = dx {
    ///             dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx = 2.0 * dy);
    ///         }
    ///     }
    /// }
    ///
    /// let spec: ModelSpec = toml::from_str("preset = \"mlp\"\nhidden = [8]").unwrap();
    /// let mut layers = Network::new(&spec, [1, 4, 4], 3, 7).unwrap().into_layers();
    /// let out = layers.last().unwrap().1.out_dims();
    /// layers.push(("double".into(), Box::new(Double(out))));
    /// let mut net = Network::from_layers([1, 4, 4], layers).unwrap();
    /// assert_eq!(net.num_classes(), 3);
    /// # let x = ndarray::Array4::from_elem((2, 1, 4, 4), 0.5f32);
    /// # assert_eq!(net.forward(x.view()).len(), 6);
    /// ```
    ///
    /// # Errors
    /// [`NnError::InvalidModel`] for no layers, a layer whose input shape is not the previous
    /// layer's output (or the network input), or a last layer whose output is not flat.
    pub fn from_layers(
        input_chw: [usize; 3],
        layers: Vec<(String, Box<dyn Layer<T>>)>,
    ) -> Result<Self, NnError> {
        let input = Dims {
            c: input_chw[0],
            h: input_chw[1],
            w: input_chw[2],
        };
        let classes = match layers.last() {
            Some((_, l)) if l.out_dims().is_flat() => l.out_dims().c,
            Some((name, l)) => {
                let d = l.out_dims();
                return Err(NnError::InvalidModel(format!(
                    "the last layer `{name}` outputs {}x{}x{} values per sample; it must output a flat vector of class scores",
                    d.c, d.h, d.w
                )));
            }
            None => {
                return Err(NnError::InvalidModel(
                    "a network needs at least one layer".into(),
                ))
            }
        };
        let (names, layers) = layers.into_iter().unzip();
        Self::assemble(input, layers, names, classes)
    }

    /// The network's layers with their names, to rebuild it with
    /// [`from_layers`](Self::from_layers).
    pub fn into_layers(self) -> Vec<(String, Box<dyn Layer<T>>)> {
        self.names.into_iter().zip(self.layers).collect()
    }

    /// Checks that the layers chain from `input` to `classes` outputs and allocates nothing
    /// yet (buffers grow with the first batch).
    fn assemble(
        input: Dims,
        layers: Vec<Box<dyn Layer<T>>>,
        names: Vec<String>,
        classes: usize,
    ) -> Result<Self, NnError> {
        let mut dims = input;
        for (name, l) in names.iter().zip(&layers) {
            let want = l.in_dims();
            if want != dims {
                return Err(NnError::InvalidModel(format!(
                    "layer `{name}` ({}) takes {}x{}x{} values per sample but gets {}x{}x{}",
                    l.kind(),
                    want.c,
                    want.h,
                    want.w,
                    dims.c,
                    dims.h,
                    dims.w
                )));
            }
            dims = l.out_dims();
        }
        if dims
            != (Dims {
                c: classes,
                h: 1,
                w: 1,
            })
        {
            return Err(NnError::InvalidModel(format!(
                "the last layer outputs {}x{}x{} values per sample; the loss needs num_classes = {classes} (end with a dense layer of out = {classes})",
                dims.c, dims.h, dims.w
            )));
        }
        let n_bufs = layers.len() + 1;
        let first_trainable = layers
            .iter()
            .position(|l| {
                let mut any = false;
                visit_params("", l.as_ref(), &mut |_, p| any |= p.trainable);
                any
            })
            .unwrap_or(layers.len());
        Ok(Self {
            layers,
            names,
            input,
            classes,
            acts: vec![Vec::new(); n_bufs],
            grads: vec![Vec::new(); n_bufs],
            capacity: 0,
            label_smoothing: 0.0,
            first_trainable,
        })
    }

    /// Output of buffer `i` (0 = input) per sample.
    fn buf_len(&self, i: usize) -> usize {
        if i == 0 {
            self.input.len()
        } else {
            self.layers[i - 1].out_dims().len()
        }
    }

    fn reserve(&mut self, n: usize, grads: bool) {
        for i in 0..self.acts.len() {
            let len = n * self.buf_len(i);
            if self.acts[i].len() < len {
                self.acts[i].resize(len, T::zero());
            }
            // No layer up to the first trainable one receives a gradient.
            if grads && i > self.first_trainable && self.grads[i].len() < len {
                self.grads[i].resize(len, T::zero());
            }
        }
        self.capacity = self.capacity.max(n);
    }

    /// Copies an NCHW batch into the channels-last input buffer.
    fn load_input(&mut self, x: ArrayView4<T>) -> usize {
        let d = self.input;
        let sh = x.shape();
        assert_eq!(
            &sh[1..],
            &[d.c, d.h, d.w],
            "input batch shape {sh:?} does not match the network input {:?}",
            [d.c, d.h, d.w]
        );
        let n = sh[0];
        let len = d.len();
        let hw = d.h * d.w;
        self.acts[0][..n * len]
            .par_chunks_mut(len)
            .zip(x.outer_iter().into_par_iter())
            .for_each(|(dst, img)| {
                if let Some(src) = img.as_slice() {
                    if d.c == 1 {
                        dst.copy_from_slice(src);
                        return;
                    }
                    if d.c == 3 {
                        let (r, gb) = src.split_at(hw);
                        let (g, b) = gb.split_at(hw);
                        for (px, ((&r, &g), &b)) in
                            dst.chunks_exact_mut(3).zip(r.iter().zip(g).zip(b))
                        {
                            px.copy_from_slice(&[r, g, b]);
                        }
                        return;
                    }
                    for (ch, plane) in src.chunks_exact(hw).enumerate() {
                        for (px, &v) in dst.chunks_exact_mut(d.c).zip(plane) {
                            px[ch] = v;
                        }
                    }
                } else {
                    for ((ch, y, xx), &v) in img.indexed_iter() {
                        dst[(y * d.w + xx) * d.c + ch] = v;
                    }
                }
            });
        n
    }

    /// Checks the batch and its labels, loads it and runs every layer forward; returns the
    /// batch size.
    fn forward_labelled(&mut self, x: ArrayView4<T>, labels: &[u8], mode: Mode) -> usize {
        let n = x.shape()[0];
        assert_eq!(
            labels.len(),
            n,
            "{} labels for a batch of {n}",
            labels.len()
        );
        self.forward_mode(x, mode)
    }

    /// Loads the batch and runs every layer forward; returns the batch size.
    fn forward_mode(&mut self, x: ArrayView4<T>, mode: Mode) -> usize {
        let n = x.shape()[0];
        if n == 0 {
            // Nothing to do; batch norm would otherwise divide by zero.
            return 0;
        }
        self.reserve(n, mode != Mode::Eval);
        self.load_input(x);
        let (x, outs) = self.acts.split_at_mut(1);
        crate::layer::forward_chain(&mut self.layers, |l| &mut **l, outs, n, &x[0], mode);
        n
    }

    /// Trains against labels smoothed by `e` (see the loss formula in the crate docs: target
    /// `(1 - e) onehot + e / num_classes`, as PyTorch's `CrossEntropyLoss(label_smoothing=e)`);
    /// [`Net::evaluate`] keeps reporting the plain cross-entropy. 0 (the default) turns it off.
    ///
    /// # Errors
    /// [`NnError::InvalidModel`] unless `0 <= e < 1`.
    pub fn set_label_smoothing(&mut self, e: f64) -> Result<(), NnError> {
        if !(0.0..1.0).contains(&e) {
            return Err(NnError::InvalidModel(format!(
                "label smoothing {e}: allowed 0 <= e < 1"
            )));
        }
        self.label_smoothing = e;
        Ok(())
    }

    /// Train-mode forward, softmax cross-entropy (with the labels smoothed by
    /// [`Net::set_label_smoothing`]) and backward. Parameter gradients (of the
    /// mean loss over the batch) land in the layers' gradient buffers. An empty batch does
    /// nothing (gradients keep their previous values). No allocation once a
    /// batch at least this large has been seen.
    ///
    /// # Panics
    /// If `x` is not `(n, c, h, w)` with the network's input shape, `labels.len() != n`, or a
    /// label is `>= num_classes`.
    pub fn forward_backward(
        &mut self,
        x: ArrayView4<T>,
        labels: &[u8],
        dropout_seed: u64,
    ) -> BatchStats {
        let n = self.forward_labelled(x, labels, Mode::Train { seed: dropout_seed });
        if n == 0 {
            return BatchStats::default();
        }
        let last = self.layers.len();
        let stats = softmax_cross_entropy(
            &self.acts[last][..n * self.classes],
            labels,
            self.classes,
            self.label_smoothing,
            Some(&mut self.grads[last][..n * self.classes]),
        );
        let first = self.first_trainable;
        for i in (first..last).rev() {
            let (lo, hi) = self.grads.split_at_mut(i + 1);
            let dx = if i == first {
                None
            } else {
                Some(&mut lo[i][..])
            };
            self.layers[i].backward(n, &self.acts[i], &self.acts[i + 1], &hi[0], dx);
        }
        stats
    }

    /// Eval-mode forward (dropout off, batch-norm running statistics) and the loss; no
    /// gradients.
    ///
    /// # Panics
    /// As [`Net::forward_backward`].
    pub fn evaluate(&mut self, x: ArrayView4<T>, labels: &[u8]) -> BatchStats {
        let n = self.forward_labelled(x, labels, Mode::Eval);
        let last = self.layers.len();
        softmax_cross_entropy(
            &self.acts[last][..n * self.classes],
            labels,
            self.classes,
            0.0,
            None,
        )
    }

    /// Inference: the eval-mode forward pass of `x` (dropout off, batch-norm running
    /// statistics) without labels or loss. Returns the logits, `n x num_classes` row-major.
    /// Allocates nothing once a batch at least this large has been seen.
    ///
    /// ```
    /// use ndarray::Array4;
    /// use nn::{ModelSpec, Network};
    ///
    /// let spec: ModelSpec = toml::from_str("preset = \"mlp\"\nhidden = [16]").unwrap();
    /// let mut net = Network::new(&spec, [1, 4, 4], 3, 7).unwrap();
    /// let logits = net.forward(Array4::zeros((2, 1, 4, 4)).view());
    /// assert_eq!(logits.len(), 2 * 3);
    /// ```
    ///
    /// # Panics
    /// If `x` is not `(n, c, h, w)` with the network's input shape.
    pub fn forward(&mut self, x: ArrayView4<T>) -> &[T] {
        let n = self.forward_mode(x, Mode::Eval);
        self.logits(n)
    }

    /// Predicted classes (the argmax of [`forward`](Self::forward)'s logits) of a batch.
    pub fn predict(&mut self, x: ArrayView4<T>) -> Vec<usize> {
        let classes = self.classes;
        self.forward(x)
            .chunks_exact(classes)
            .map(|row| {
                let mut best = 0;
                for (k, v) in row.iter().enumerate() {
                    if *v > row[best] {
                        best = k;
                    }
                }
                best
            })
            .collect()
    }

    /// Logits of the last `forward_backward`/`evaluate` call, `n x num_classes` row-major.
    pub fn logits(&self, n: usize) -> &[T] {
        &self.acts[self.layers.len()][..n * self.classes]
    }

    /// Input shape `[channels, height, width]` the network was built for.
    pub fn input_chw(&self) -> [usize; 3] {
        [self.input.c, self.input.h, self.input.w]
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes
    }

    /// A table: layer, output shape (`c x h x w` or features), parameters; and the totals.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{:<12} {:<11} {:>15} {:>12}\n",
            "layer", "type", "output (CxHxW)", "params"
        );
        let d = self.input;
        s += &format!(
            "{:<12} {:<11} {:>15} {:>12}\n",
            "input",
            "",
            format!("{}x{}x{}", d.c, d.h, d.w),
            0
        );
        for (name, l) in self.names.iter().zip(&self.layers) {
            summary_rows(&mut s, name, l.as_ref());
        }
        s += &format!(
            "total trainable parameters: {}, forward MFLOP/sample: {:.3}\n",
            self.num_params(),
            self.flops_per_sample() as f64 / 1e6
        );
        s
    }

    /// Trainable parameter count (buffers excluded).
    pub fn num_params(&self) -> usize {
        self.all_params()
            .iter()
            .filter(|(_, p)| p.trainable)
            .map(|(_, p)| p.value.len())
            .sum()
    }

    /// Forward FLOPs per sample (2 x multiply-accumulates of conv and dense layers).
    pub fn flops_per_sample(&self) -> u64 {
        self.layers.iter().map(|l| l.flops()).sum()
    }

    /// Forward FLOPs per sample of the first layer with trainable parameters, whose input
    /// gradient is never computed (backward stops there).
    pub fn first_layer_flops(&self) -> u64 {
        self.layers
            .get(self.first_trainable)
            .map_or(0, |l| l.flops())
    }

    /// Every parameter and buffer with its full name (`layer.param`, a block's
    /// `block.sub.param`), in layer order.
    fn all_params(&self) -> Vec<(String, &Param<T>)> {
        let mut out = Vec::new();
        for (n, l) in self.names.iter().zip(&self.layers) {
            visit_params(n, l.as_ref(), &mut |name, p| out.push((name, p)));
        }
        out
    }

    /// `(layer.param, view)` for every parameter (or only the trainable ones), in layer order.
    fn named<'a>(
        &'a self,
        trainable_only: bool,
        view: impl Fn(&'a Param<T>) -> ArrayViewD<'a, T>,
    ) -> Vec<(String, ArrayViewD<'a, T>)> {
        self.all_params()
            .into_iter()
            .filter(|(_, p)| p.trainable || !trainable_only)
            .map(|(n, p)| (n, view(p)))
            .collect()
    }

    /// Named parameters and buffers, e.g. `conv1.weight` (`[out, kh, kw, in]`), `fc1.weight`
    /// (`[out, in]`), `bn1.running_mean`, `res1.conv2.weight`, in layer order.
    pub fn parameters(&self) -> Vec<(String, ArrayViewD<'_, T>)> {
        self.named(false, |p| p.value.view())
    }

    /// Gradients of the trainable parameters from the last `forward_backward`, same names.
    pub fn gradients(&self) -> Vec<(String, ArrayViewD<'_, T>)> {
        self.named(true, |p| p.grad.view())
    }

    /// Calls `f` with every parameter and buffer and its full name, mutable, in
    /// [`Net::parameters`] order (optimizers, loading, tests).
    pub(crate) fn for_each_param_mut(&mut self, mut f: impl FnMut(String, &mut Param<T>)) {
        for (n, l) in self.names.iter().zip(self.layers.iter_mut()) {
            visit_params_mut(n, l.as_mut(), &mut f);
        }
    }

    /// `(lr_mult, decay_mult)` of every trainable parameter, in [`Net::gradients`] order.
    pub fn multipliers(&self) -> Vec<(f64, f64)> {
        self.all_params()
            .into_iter()
            .filter(|(_, p)| p.trainable)
            .map(|(_, p)| (p.lr_mult, p.decay_mult))
            .collect()
    }

    /// Calls `f` with every trainable parameter in order, without building names (no
    /// allocation).
    pub(crate) fn for_each_trainable_mut(&mut self, mut f: impl FnMut(&mut Param<T>)) {
        for l in &mut self.layers {
            each_trainable_mut(l.as_mut(), &mut f);
        }
    }

    /// Mutable value of the parameter `name` (as in [`Net::parameters`]; tests and tools).
    pub fn parameter_mut(&mut self, name: &str) -> Option<ndarray::ArrayViewMutD<'_, T>> {
        let (layer, rest) = name.split_once('.')?;
        let i = self.names.iter().position(|n| n == layer)?;
        find_param_mut(self.layers[i].as_mut(), rest).map(|p| p.value.view_mut())
    }
}

/// The parameter `name` (`param` or `sub.param`) of `l`.
fn find_param_mut<'a, T: Real>(l: &'a mut dyn Layer<T>, name: &str) -> Option<&'a mut Param<T>> {
    if let Some(i) = l.params().iter().position(|p| p.name == name) {
        return Some(&mut l.params_mut()[i]);
    }
    let (sub, rest) = name.split_once('.')?;
    let j = l.sublayers().iter().position(|(n, _)| n == sub)?;
    find_param_mut(l.sublayers_mut()[j].1.as_mut(), rest)
}

/// The summary's row of `layer`, then its sub-layers' rows, indented.
fn summary_rows<T: Real>(s: &mut String, name: &str, l: &dyn Layer<T>) {
    let d = l.out_dims();
    let shape = if d.is_flat() {
        d.c.to_string()
    } else {
        format!("{}x{}x{}", d.c, d.h, d.w)
    };
    let mut p = 0;
    visit_params("", l, &mut |_, q| {
        if q.trainable {
            p += q.value.len()
        }
    });
    *s += &format!("{:<12} {:<11} {:>15} {:>12}\n", name, l.kind(), shape, p);
    for (sub, sl) in l.sublayers() {
        summary_rows(s, &format!("  {sub}"), sl.as_ref());
    }
}

impl Net<f32> {
    /// Writes every parameter and buffer to a safetensors file (`f32`, names as in
    /// [`Net::parameters`]), atomically.
    ///
    /// # Errors
    /// [`NnError::Io`] if the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), NnError> {
        let params = self.parameters();
        let tensors: Vec<io::Tensor<'_>> = params
            .iter()
            .map(|(name, v)| io::Tensor {
                name: name.clone(),
                shape: v.shape().to_vec(),
                data: v.as_slice().expect("contiguous"),
            })
            .collect();
        let meta = BTreeMap::from([
            ("format".to_string(), "clr-nn weights".to_string()),
            ("conv_weight_layout".to_string(), "out,kh,kw,in".to_string()),
        ]);
        io::save(path, &tensors, &meta)
    }

    /// Loads parameters saved by [`Net::save`] from a network of the same architecture.
    ///
    /// # Errors
    /// [`NnError::Tensor`] naming the first tensor that is missing, has another shape, or is
    /// in the file but not in the network; nothing is changed then.
    pub fn load(&mut self, path: &Path) -> Result<(), NnError> {
        let mut file = io::Loaded::read(path)?;
        let mut values = Vec::new();
        for (name, p) in self.all_params() {
            values.push(file.take(&name, p.value.shape())?);
        }
        file.finish()?;
        let mut values = values.into_iter();
        self.for_each_param_mut(|_, p| {
            let v = values.next().expect("one value per parameter");
            p.value
                .as_slice_mut()
                .expect("contiguous")
                .copy_from_slice(&v);
        });
        Ok(())
    }
}
