//! What a network will need before anything is allocated: parameters and activation values,
//! computed from the spec with overflow-checked arithmetic, so that a config asking for a layer
//! of 10^12 units or a batch of 10^15 images is refused with a figure instead of aborting on a
//! failed allocation.

use crate::layer::pool::pool_out;
use crate::spec::{DenseSpec, LayerSpec, ModelSpec, PoolSpec, ShortcutSpec};
use crate::NnError;

/// Sizes of a network for one input shape, in values (not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Trainable parameters plus buffers (batch-norm running statistics).
    pub params: u64,
    /// Activation values of one sample over all layers, the input included.
    pub activations_per_sample: u64,
}

impl Footprint {
    /// Bytes a training run needs for the network: values, gradients and `optimizer_slots`
    /// state tensors per parameter, and activations plus their gradients for `batch` samples
    /// (all `f32`). Saturates at `u64::MAX`.
    pub fn training_bytes(&self, batch: u64, optimizer_slots: u64) -> u64 {
        let params = self.params.saturating_mul(2 + optimizer_slots);
        let acts = self
            .activations_per_sample
            .saturating_mul(batch)
            .saturating_mul(2);
        params.saturating_add(acts).saturating_mul(4)
    }
}

/// The footprint of `spec` for inputs `[c, h, w]` and `num_classes` outputs.
///
/// Layers whose geometry does not fit their input stop the count: building the network reports
/// those errors with their own messages.
///
/// # Errors
/// [`NnError::InvalidModel`] when a size overflows 64 bits.
pub fn footprint(
    spec: &ModelSpec,
    input_chw: [usize; 3],
    num_classes: usize,
) -> Result<Footprint, NnError> {
    let specs = spec.expand(num_classes)?;
    let d = input_chw.map(to64);
    let mut count = Count {
        params: 0,
        acts: len(d, "the input")?,
    };
    count.chain(&specs, d)?;
    Ok(Footprint {
        params: count.params,
        activations_per_sample: count.acts,
    })
}

fn too_large(what: &str) -> NnError {
    NnError::InvalidModel(format!(
        "{what} is too large to be represented (more than 2^64 values)"
    ))
}
fn mul(a: u64, b: u64, what: &str) -> Result<u64, NnError> {
    a.checked_mul(b).ok_or_else(|| too_large(what))
}
fn add(a: u64, b: u64, what: &str) -> Result<u64, NnError> {
    a.checked_add(b).ok_or_else(|| too_large(what))
}
fn len(d: [u64; 3], what: &str) -> Result<u64, NnError> {
    mul(d[0], d[1], what).and_then(|x| mul(x, d[2], what))
}
fn to64(x: usize) -> u64 {
    x as u64
}

struct Count {
    params: u64,
    acts: u64,
}

impl Count {
    /// Counts `specs` from input shape `d`; the output shape, or `None` where a layer does
    /// not fit (the count stops there).
    fn chain(&mut self, specs: &[LayerSpec], mut d: [u64; 3]) -> Result<Option<[u64; 3]>, NnError> {
        for ls in specs {
            match ls {
                LayerSpec::Conv2d(c) => {
                    let out_channels = &c.out_channels;
                    let (k, s, p) = (to64(c.kernel), to64(c.stride), to64(c.pad));
                    let padded =
                        |x: u64| mul(p, 2, "conv2d pad").and_then(|pp| add(x, pp, "conv2d pad"));
                    let (ph, pw) = (padded(d[1])?, padded(d[2])?);
                    if k == 0 || s == 0 || ph < k || pw < k {
                        return Ok(None);
                    }
                    let per_out = mul(mul(k, k, "conv2d kernel")?, d[0], "conv2d kernel")?;
                    let w = mul(per_out, to64(*out_channels), "conv2d weights")?;
                    self.add_params(w)?;
                    self.add_params(to64(*out_channels))?;
                    d = [to64(*out_channels), (ph - k) / s + 1, (pw - k) / s + 1];
                }
                LayerSpec::Dense(DenseSpec { out, .. }) => {
                    let inp = len(d, "a dense layer's input")?;
                    self.add_params(mul(inp, to64(*out), "dense weights")?)?;
                    self.add_params(to64(*out))?;
                    // A non-flat input is flattened first: one more buffer of the same size.
                    if d[1] != 1 || d[2] != 1 {
                        self.acts = add(self.acts, inp, "the activations")?;
                    }
                    d = [to64(*out), 1, 1];
                }
                LayerSpec::MaxPool(p) | LayerSpec::AvgPool(p) => {
                    let PoolSpec {
                        kernel, pad, ceil, ..
                    } = p;
                    let s = p.stride();
                    let fits = |x: u64| {
                        usize::try_from(x)
                            .ok()
                            .filter(|x| x.checked_add(pad.saturating_mul(2)).is_some())
                            .and_then(|x| pool_out(x, *kernel, s, *pad, *ceil))
                    };
                    if *kernel == 0 || s == 0 || pad >= kernel {
                        return Ok(None);
                    }
                    match (fits(d[1]), fits(d[2])) {
                        (Some(h), Some(w)) => d = [d[0], to64(h), to64(w)],
                        _ => return Ok(None),
                    }
                }
                LayerSpec::BatchNorm { .. } => {
                    // Scale and shift, running mean and variance.
                    self.add_params(mul(d[0], 4, "batch norm")?)?;
                }
                LayerSpec::Flatten => d = [len(d, "a flattened input")?, 1, 1],
                LayerSpec::GlobalAvgPool => d = [d[0], 1, 1],
                LayerSpec::Residual { layers, shortcut } => {
                    let Some(out) = self.chain(layers, d)? else {
                        return Ok(None);
                    };
                    let project = match shortcut {
                        ShortcutSpec::Projection => true,
                        ShortcutSpec::Auto => out != d,
                        ShortcutSpec::Identity | ShortcutSpec::Pad => false,
                    };
                    if project {
                        let stride = d[1].div_ceil(out[1].max(1)).max(1) as usize;
                        let proj = ModelSpec::projection(out[0] as usize, stride);
                        if self.chain(&proj, d)?.is_none() {
                            return Ok(None);
                        }
                    }
                    d = out;
                }
                LayerSpec::Relu
                | LayerSpec::Sigmoid
                | LayerSpec::Tanh
                | LayerSpec::Lrn { .. }
                | LayerSpec::Dropout { .. } => {}
            }
            self.acts = add(self.acts, len(d, "a layer's output")?, "the activations")?;
        }
        Ok(Some(d))
    }

    fn add_params(&mut self, n: u64) -> Result<(), NnError> {
        self.params = add(self.params, n, "the parameters")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Network, Preset};

    fn spec(text: &str) -> ModelSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn counts_match_the_built_networks() {
        for (preset, chw) in [
            (Preset::Mlp, [1, 28, 28]),
            (Preset::Lenet, [1, 28, 28]),
            (Preset::Cifar10Quick, [3, 32, 32]),
            (Preset::Cifar10Full, [3, 32, 32]),
            (Preset::Resnet20, [3, 32, 32]),
            (Preset::Resnet56, [3, 32, 32]),
        ] {
            let s = ModelSpec::preset(preset);
            let f = footprint(&s, chw, 10).unwrap();
            let net = Network::new(&s, chw, 10, 1).unwrap();
            // Parameters and buffers (batch norm's running statistics).
            let all: usize = net.parameters().iter().map(|(_, v)| v.len()).sum();
            assert_eq!(f.params, all as u64, "{preset:?}");
            assert!(f.activations_per_sample >= net.input_chw().iter().product::<usize>() as u64);
        }
        let f = footprint(&ModelSpec::preset(Preset::Mlp), [1, 28, 28], 10).unwrap();
        // 784 input, 512 + 512 (relu), 256 + 256, 10.
        assert_eq!(f.activations_per_sample, 784 + 1024 + 512 + 10 + 784);
    }

    #[test]
    fn sizes_that_overflow_are_errors_not_panics() {
        let huge = spec(
            "layers = [{ type = \"dense\", out = 9223372036854775807 }, { type = \"dense\", out = 10 }]",
        );
        let err = footprint(&huge, [1, 28, 28], 10).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        let err = Network::new(&huge, [1, 28, 28], 10, 1).err().unwrap();
        assert!(err.to_string().contains("too large"), "{err}");
        let pad = spec(
            "layers = [{ type = \"conv2d\", out_channels = 2, kernel = 3, pad = 9223372036854775807 }, { type = \"dense\", out = 10 }]",
        );
        assert!(footprint(&pad, [1, 8, 8], 10).is_err());
        assert!(Network::new(&pad, [1, 8, 8], 10, 1).is_err());
        let wide = spec(
            "layers = [{ type = \"dense\", out = 1000000000000 }, { type = \"dense\", out = 10 }]",
        );
        let f = footprint(&wide, [1, 28, 28], 10).unwrap();
        assert!(f.training_bytes(100, 1) > 1 << 50);
    }
}
