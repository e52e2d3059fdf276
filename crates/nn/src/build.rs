//! Building a chain of layers from layer specs: validation with the layer's name in every
//! error, parameter names, and one initialization stream per parameter.

use crate::layer::conv2d::ConvGeom;
use crate::layer::pool::pool_out;
use crate::layer::{
    Activation, ActivationKind, BatchNorm, Conv2d, Dense, Dims, Dropout, Flatten, GlobalAvgPool,
    Layer, Lrn, LrnRegion, Param, Pool, PoolKind, Residual, Shortcut,
};
use crate::seed::mix;
use crate::spec::{LayerSpec, LrnRegionSpec, ModelSpec, ParamSpec, PoolSpec, ShortcutSpec};
use crate::{init::InitSpec, NnError, Real};
use ndarray::ArrayD;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use std::collections::HashMap;

struct Builder {
    seed: u64,
    counts: HashMap<&'static str, usize>,
    index: u64,
}

impl Builder {
    fn name(&mut self, prefix: &'static str, given: &Option<String>) -> String {
        let c = self.counts.entry(prefix).or_insert(0);
        *c += 1;
        given.clone().unwrap_or_else(|| format!("{prefix}{c}"))
    }

    fn param<T: Real>(
        &mut self,
        name: &'static str,
        shape: &[usize],
        init: &InitSpec,
        fans: (usize, usize),
        lr: f64,
        decay: f64,
    ) -> Param<T> {
        self.index += 1;
        let mut rng = Pcg64Mcg::seed_from_u64(mix(self.seed ^ mix(self.index)));
        let mut value = ArrayD::zeros(shape.to_vec());
        init.fill(
            value.as_slice_mut().expect("fresh array"),
            fans.0,
            fans.1,
            &mut rng,
        );
        Param::new(name, value, lr, decay)
    }
}

impl Builder {
    /// Validated and initialized weight (`w_shape`) and bias (`w_shape[0]` values) of a
    /// conv or dense layer; default inits: Xavier weights, zero biases.
    fn weight_and_bias<T: Real>(
        &mut self,
        layer: &str,
        kind: &'static str,
        w_shape: &[usize],
        fans: (usize, usize),
        p: &ParamSpec,
    ) -> Result<[Param<T>; 2], NnError> {
        let (lr, decay) = (p.lr_mult, p.decay_mult);
        check_mults(layer, kind, lr, decay)?;
        check_init(layer, kind, &p.init)?;
        check_init(layer, kind, &p.bias_init)?;
        let xavier = InitSpec::Xavier {
            variance_norm: None,
        };
        let zero = InitSpec::Constant { value: 0.0 };
        let w_init = p.init.as_ref().unwrap_or(&xavier);
        let b_init = p.bias_init.as_ref().unwrap_or(&zero);
        Ok([
            self.param("weight", w_shape, w_init, fans, lr[0], decay[0]),
            self.param("bias", &w_shape[..1], b_init, fans, lr[1], decay[1]),
        ])
    }
}

fn check_mults(
    layer: &str,
    kind: &'static str,
    lr: [f64; 2],
    decay: [f64; 2],
) -> Result<(), NnError> {
    if lr.iter().chain(&decay).all(|v| v.is_finite() && *v >= 0.0) {
        Ok(())
    } else {
        Err(NnError::InvalidLayer {
            layer: layer.into(),
            kind,
            message: format!("lr_mult {lr:?} and decay_mult {decay:?} must be finite and >= 0"),
        })
    }
}

fn check_init(layer: &str, kind: &'static str, init: &Option<InitSpec>) -> Result<(), NnError> {
    match init {
        Some(i) => i.validate().map_err(|message| NnError::InvalidLayer {
            layer: layer.into(),
            kind,
            message,
        }),
        None => Ok(()),
    }
}

/// Builds the layers of `specs` for `input` (inserting a flatten before a dense layer on an
/// image); returns them, their names and the output shape.
#[allow(clippy::type_complexity)]
pub(crate) fn build_layers<T: Real>(
    specs: &[LayerSpec],
    input: Dims,
    seed: u64,
) -> Result<(Vec<Box<dyn Layer<T>>>, Vec<String>, Dims), NnError> {
    let mut b = Builder {
        seed,
        counts: HashMap::new(),
        index: 0,
    };
    build_chain(&mut b, specs, input, 0)
}

/// [`build_layers`] with the builder's counters (names, initialization streams) shared with
/// the enclosing chain; dropout layers draw their masks from `salt` + their position.
#[allow(clippy::type_complexity)]
fn build_chain<T: Real>(
    b: &mut Builder,
    specs: &[LayerSpec],
    input: Dims,
    salt: u64,
) -> Result<(Vec<Box<dyn Layer<T>>>, Vec<String>, Dims), NnError> {
    let mut layers: Vec<Box<dyn Layer<T>>> = Vec::new();
    let mut names = Vec::new();
    let mut dims = input;
    for (i, ls) in specs.iter().enumerate() {
        let (name, layer): (String, Box<dyn Layer<T>>) = match ls {
            LayerSpec::Conv2d(c) => {
                let name = b.name("conv", &c.params.name);
                let bad = |message: String| NnError::InvalidLayer {
                    layer: name.clone(),
                    kind: "conv2d",
                    message,
                };
                let g =
                    ConvGeom::new(dims, c.out_channels, c.kernel, c.stride, c.pad).map_err(bad)?;
                let (k, out) = (c.kernel, c.out_channels);
                let w_shape = [out, k, k, dims.c];
                let fans = (dims.c * k * k, out * k * k);
                let [w, bias] = b.weight_and_bias(&name, "conv2d", &w_shape, fans, &c.params)?;
                (name, Box::new(Conv2d::new(g, w, bias)))
            }
            LayerSpec::Dense(d) => {
                if !dims.is_flat() {
                    names.push(b.name("flatten", &None));
                    let f = Flatten::new(dims);
                    dims = <Flatten as Layer<T>>::out_dims(&f);
                    layers.push(Box::new(f));
                }
                let name = b.name("fc", &d.params.name);
                if d.out == 0 {
                    return Err(NnError::InvalidLayer {
                        layer: name,
                        kind: "dense",
                        message: "out must be >= 1".into(),
                    });
                }
                let (w_shape, fans) = ([d.out, dims.c], (dims.c, d.out));
                let [w, bias] = b.weight_and_bias(&name, "dense", &w_shape, fans, &d.params)?;
                (name, Box::new(Dense::new(dims.c, d.out, w, bias)))
            }
            LayerSpec::MaxPool(p) | LayerSpec::AvgPool(p) => {
                let PoolSpec {
                    kernel, pad, ceil, ..
                } = p;
                let (kind, prefix) = match ls {
                    LayerSpec::MaxPool(_) => (PoolKind::Max, "max_pool"),
                    _ => (PoolKind::Avg, "avg_pool"),
                };
                let name = b.name(
                    if kind == PoolKind::Max {
                        "maxpool"
                    } else {
                        "avgpool"
                    },
                    &None,
                );
                let s = p.stride();
                if *kernel == 0 || s == 0 || *pad >= *kernel {
                    return Err(NnError::InvalidLayer { layer: name, kind: prefix, message: format!("need kernel >= 1, stride >= 1 and pad < kernel, got kernel {kernel}, stride {s}, pad {pad}") });
                }
                if pool_out(dims.h, *kernel, s, *pad, *ceil).is_none()
                    || pool_out(dims.w, *kernel, s, *pad, *ceil).is_none()
                {
                    return Err(NnError::InvalidLayer {
                        layer: name,
                        kind: prefix,
                        message: format!(
                            "kernel {kernel} larger than the padded input {}x{}",
                            dims.h, dims.w
                        ),
                    });
                }
                (
                    name,
                    Box::new(Pool::new(kind, dims, *kernel, s, *pad, *ceil)),
                )
            }
            LayerSpec::Relu | LayerSpec::Sigmoid | LayerSpec::Tanh => {
                let kind = match ls {
                    LayerSpec::Relu => ActivationKind::Relu,
                    LayerSpec::Sigmoid => ActivationKind::Sigmoid,
                    _ => ActivationKind::Tanh,
                };
                let a = Activation::new(kind, dims);
                (
                    b.name(<Activation as Layer<T>>::kind(&a), &None),
                    Box::new(a),
                )
            }
            LayerSpec::Lrn {
                size,
                alpha,
                beta,
                k,
                region,
            } => {
                let name = b.name("lrn", &None);
                if size % 2 == 0
                    || !(alpha.is_finite()
                        && beta.is_finite()
                        && k.is_finite()
                        && *k > 0.0
                        && *alpha >= 0.0)
                {
                    return Err(NnError::InvalidLayer { layer: name, kind: "lrn", message: format!("need an odd size, finite alpha >= 0, beta and k > 0; got size {size}, alpha {alpha}, beta {beta}, k {k}") });
                }
                let region = match region {
                    LrnRegionSpec::AcrossChannels => LrnRegion::AcrossChannels,
                    LrnRegionSpec::WithinChannel => LrnRegion::WithinChannel,
                };
                (
                    name,
                    Box::new(Lrn::new(region, dims, *size, *alpha, *beta, *k)),
                )
            }
            LayerSpec::Dropout { p } => {
                let name = b.name("dropout", &None);
                if !(0.0..1.0).contains(p) {
                    return Err(NnError::InvalidLayer {
                        layer: name,
                        kind: "dropout",
                        message: format!("p = {p} must be in [0, 1)"),
                    });
                }
                (name, Box::new(Dropout::new(*p, dims, salt + i as u64)))
            }
            LayerSpec::BatchNorm { eps, momentum } => {
                let name = b.name("bn", &None);
                if !(*eps > 0.0 && eps.is_finite() && (0.0..=1.0).contains(momentum)) {
                    return Err(NnError::InvalidLayer { layer: name, kind: "batch_norm", message: format!("need eps > 0 and momentum in [0, 1]; got eps {eps}, momentum {momentum}") });
                }
                (
                    name,
                    Box::new(BatchNorm::new(
                        dims,
                        *eps,
                        *momentum,
                        [1.0, 1.0],
                        [1.0, 1.0],
                    )),
                )
            }
            LayerSpec::Flatten => (b.name("flatten", &None), Box::new(Flatten::new(dims))),
            LayerSpec::GlobalAvgPool => (b.name("gap", &None), Box::new(GlobalAvgPool::new(dims))),
            LayerSpec::Residual { layers, shortcut } => {
                let name = b.name("res", &None);
                let block = residual(b, &name, layers, *shortcut, dims, salt, i)?;
                (name, Box::new(block))
            }
        };
        dims = layer.out_dims();
        names.push(name);
        layers.push(layer);
    }
    let mut unique = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !unique.insert(n.as_str())) {
        return Err(NnError::InvalidModel(format!(
            "layer name `{dup}` used twice"
        )));
    }
    Ok((layers, names, dims))
}

/// A residual block named `name` on inputs of `dims`: its branch from `specs`, its
/// sub-layers named within the block (`conv1`, `bn1`, ...), errors naming `name.sub`.
fn residual<T: Real>(
    b: &mut Builder,
    name: &str,
    specs: &[LayerSpec],
    shortcut: ShortcutSpec,
    dims: Dims,
    salt: u64,
    i: usize,
) -> Result<Residual<T>, NnError> {
    let outer = std::mem::take(&mut b.counts);
    let inner_salt = mix(salt ^ mix(i as u64 + 1));
    let nested = |e: NnError| match e {
        NnError::InvalidLayer {
            layer,
            kind,
            message,
        } => NnError::InvalidLayer {
            layer: format!("{name}.{layer}"),
            kind,
            message,
        },
        other => other,
    };
    let built = build_chain::<T>(b, specs, dims, inner_salt).map_err(nested);
    let result = built.and_then(|(branch, names, out)| {
        let branch: Vec<_> = names.into_iter().zip(branch).collect();
        let kind = match shortcut {
            ShortcutSpec::Auto if out == dims => Shortcut::Identity,
            ShortcutSpec::Auto | ShortcutSpec::Projection => Shortcut::Projection,
            ShortcutSpec::Identity => Shortcut::Identity,
            ShortcutSpec::Pad => Shortcut::Pad {
                stride: dims.h.div_ceil(out.h.max(1)).max(1),
            },
        };
        let projection = if kind == Shortcut::Projection {
            let stride = dims.h.div_ceil(out.h.max(1)).max(1);
            let specs = ModelSpec::projection(out.c, stride);
            b.counts.clear();
            let (p, n, _) = build_chain::<T>(b, &specs, dims, inner_salt).map_err(nested)?;
            n.into_iter()
                .map(|n| format!("shortcut_{n}"))
                .zip(p)
                .collect()
        } else {
            Vec::new()
        };
        Residual::new(dims, branch, kind, projection).map_err(|message| NnError::InvalidLayer {
            layer: name.to_string(),
            kind: "residual",
            message,
        })
    });
    b.counts = outer;
    result
}
