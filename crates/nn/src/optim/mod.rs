//! Optimizers: SGD (Caffe and PyTorch conventions, optional Nesterov), Adam, RMSprop, AdaGrad,
//! AdaDelta. The learning rate (and optionally the momentum) is given at every step by the
//! caller's schedule; each parameter's `lr_mult` and `decay_mult` scale the learning rate and
//! the weight decay. Updates are element-wise, so they are split across threads freely.

mod adadelta;
mod adagrad;
mod adam;
mod rmsprop;
mod sgd;

use crate::layer::Param;
use crate::{io, Network, NnError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where SGD puts the learning rate.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SgdConvention {
    /// Caffe (the paper): `V = m V + lr (g + wd w); w -= V`. Nesterov:
    /// `w -= (1 + m) V_new - m V_old`.
    #[default]
    Caffe,
    /// PyTorch: `V = m V + (g + wd w); w -= lr V`. Nesterov: `w -= lr (g + wd w + m V)`.
    Pytorch,
}

fn d_momentum() -> f64 {
    0.9
}
fn d_beta1() -> f64 {
    0.9
}
fn d_beta2() -> f64 {
    0.999
}
fn d_eps_adam() -> f64 {
    1e-8
}
fn d_alpha() -> f64 {
    0.99
}
fn d_eps_adagrad() -> f64 {
    1e-10
}
fn d_rho() -> f64 {
    0.9
}
fn d_eps_adadelta() -> f64 {
    1e-6
}

/// The `[optimizer]` table, selected by `kind`. Defaults are PyTorch's, except SGD's momentum
/// (0.9) and convention (`caffe`). In every method the weight decay is L2 added to the
/// gradient: `g' = g + weight_decay * decay_mult * w`, and the learning rate is
/// `lr * lr_mult`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with momentum.
    Sgd {
        /// Momentum (default 0.9).
        #[serde(default = "d_momentum")]
        momentum: f64,
        /// L2 weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
        /// Nesterov momentum (default false).
        #[serde(default)]
        nesterov: bool,
        /// Where the learning rate goes (default `caffe`).
        #[serde(default)]
        convention: SgdConvention,
    },
    /// Adam (PyTorch formula, bias-corrected).
    Adam {
        /// First-moment decay (default 0.9); a cycled momentum overrides it.
        #[serde(default = "d_beta1")]
        beta1: f64,
        /// Second-moment decay (default 0.999).
        #[serde(default = "d_beta2")]
        beta2: f64,
        /// Denominator term (default 1e-8).
        #[serde(default = "d_eps_adam")]
        eps: f64,
        /// L2 weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
    },
    /// RMSprop (PyTorch formula, not centered).
    Rmsprop {
        /// Square-average decay (default 0.99).
        #[serde(default = "d_alpha")]
        alpha: f64,
        /// Denominator term (default 1e-8).
        #[serde(default = "d_eps_adam")]
        eps: f64,
        /// Momentum (default 0).
        #[serde(default)]
        momentum: f64,
        /// L2 weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
    },
    /// AdaGrad (PyTorch formula, no LR decay, zero initial accumulator).
    Adagrad {
        /// Denominator term (default 1e-10).
        #[serde(default = "d_eps_adagrad")]
        eps: f64,
        /// L2 weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
    },
    /// AdaDelta (PyTorch formula; the learning rate scales the step, PyTorch default 1.0).
    Adadelta {
        /// Decay of both running averages (default 0.9).
        #[serde(default = "d_rho")]
        rho: f64,
        /// Term inside both square roots (default 1e-6).
        #[serde(default = "d_eps_adadelta")]
        eps: f64,
        /// L2 weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
    },
}

impl OptimizerSpec {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "sgd",
            Self::Adam { .. } => "adam",
            Self::Rmsprop { .. } => "rmsprop",
            Self::Adagrad { .. } => "adagrad",
            Self::Adadelta { .. } => "adadelta",
        }
    }

    /// Names of the per-parameter state tensors (PyTorch's names).
    fn slots(&self) -> &'static [&'static str] {
        match self {
            Self::Sgd { .. } => &["momentum_buffer"],
            Self::Adam { .. } => &["exp_avg", "exp_avg_sq"],
            Self::Rmsprop { .. } => &["square_avg", "momentum_buffer"],
            Self::Adagrad { .. } => &["sum"],
            Self::Adadelta { .. } => &["square_avg", "acc_delta"],
        }
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`NnError::InvalidOptimizer`] naming the key, the value and the allowed range.
    pub fn validate(&self) -> Result<(), NnError> {
        let kind = self.kind();
        let check = |key: &'static str, value: f64, ok: bool, allowed: &'static str| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(NnError::InvalidOptimizer {
                    kind,
                    key,
                    value,
                    allowed,
                })
            }
        };
        let wd = |w: f64| check("weight_decay", w, w >= 0.0, "must be >= 0");
        let eps = |e: f64| check("eps", e, e > 0.0, "must be > 0");
        let unit = |key, v: f64| check(key, v, (0.0..1.0).contains(&v), "must be in [0, 1)");
        match *self {
            Self::Sgd {
                momentum,
                weight_decay,
                ..
            } => {
                unit("momentum", momentum)?;
                wd(weight_decay)
            }
            Self::Adam {
                beta1,
                beta2,
                eps: e,
                weight_decay,
            } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                eps(e)?;
                wd(weight_decay)
            }
            Self::Rmsprop {
                alpha,
                eps: e,
                momentum,
                weight_decay,
            } => {
                unit("alpha", alpha)?;
                unit("momentum", momentum)?;
                eps(e)?;
                wd(weight_decay)
            }
            Self::Adagrad {
                eps: e,
                weight_decay,
            } => {
                eps(e)?;
                wd(weight_decay)
            }
            Self::Adadelta {
                rho,
                eps: e,
                weight_decay,
            } => {
                unit("rho", rho)?;
                eps(e)?;
                wd(weight_decay)
            }
        }
    }
}

/// Per-step constants shared by every parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepCtx {
    /// `lr * lr_mult`.
    pub lr: f32,
    /// `weight_decay * decay_mult`.
    pub wd: f32,
    /// SGD/RMSprop momentum or Adam's beta1 for this step.
    pub momentum: f32,
    /// 1-based step count after this update.
    pub t: u64,
}

/// An optimizer with its state for one network.
pub struct Optimizer {
    spec: OptimizerSpec,
    /// Steps taken.
    t: u64,
    /// Per trainable parameter (network order): name and two state vectors (the second is
    /// unused by one-slot methods).
    state: Vec<(String, [Vec<f32>; 2])>,
}

/// Values per parallel task of an update.
const CHUNK: usize = 1 << 15;

impl Optimizer {
    /// Zero state for every trainable parameter of `net`.
    ///
    /// # Errors
    /// As [`OptimizerSpec::validate`].
    pub fn new(spec: &OptimizerSpec, net: &Network) -> Result<Self, NnError> {
        spec.validate()?;
        let state = net
            .gradients()
            .into_iter()
            .map(|(name, g)| {
                let n = g.len();
                (name, [vec![0.0; n], vec![0.0; n]])
            })
            .collect();
        Ok(Self {
            spec: spec.clone(),
            t: 0,
            state,
        })
    }

    /// The spec this optimizer was built from.
    pub fn spec(&self) -> &OptimizerSpec {
        &self.spec
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Applies one update with learning rate `lr` to every trainable parameter of `net`, from
    /// the gradients of its last `forward_backward`. `momentum`, when given, replaces the
    /// spec's momentum (SGD, RMSprop) or `beta1` (Adam) for this step (cycled momentum); AdaGrad
    /// and AdaDelta ignore it.
    ///
    /// # Panics
    /// If `net` is not the network this optimizer was built for.
    pub fn step(&mut self, net: &mut Network, lr: f64, momentum: Option<f64>) {
        self.t += 1;
        let (base_m, wd) = match self.spec {
            OptimizerSpec::Sgd {
                momentum,
                weight_decay,
                ..
            } => (momentum, weight_decay),
            OptimizerSpec::Adam {
                beta1,
                weight_decay,
                ..
            } => (beta1, weight_decay),
            OptimizerSpec::Rmsprop {
                momentum,
                weight_decay,
                ..
            } => (momentum, weight_decay),
            OptimizerSpec::Adagrad { weight_decay, .. } => (0.0, weight_decay),
            OptimizerSpec::Adadelta { weight_decay, .. } => (0.0, weight_decay),
        };
        let m = momentum.unwrap_or(base_m);
        let spec = self.spec.clone();
        let t = self.t;
        let mut state = self.state.iter_mut();
        net.for_each_trainable_mut(|p| {
            let (name, [s0, s1]) = state.next().expect("optimizer built for another network");
            assert_eq!(
                s0.len(),
                p.value.len(),
                "optimizer built for another network ({name})"
            );
            let ctx = StepCtx {
                lr: (lr * p.lr_mult) as f32,
                wd: (wd * p.decay_mult) as f32,
                momentum: m as f32,
                t,
            };
            update(&spec, ctx, p, s0, s1);
        });
    }

    /// Saves the state (step count, every state tensor) as safetensors, atomically.
    ///
    /// # Errors
    /// [`NnError::Io`] if the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), NnError> {
        let slots = self.spec.slots();
        let tensors: Vec<io::Tensor<'_>> = self
            .state
            .iter()
            .flat_map(|(name, s)| {
                slots.iter().zip(s).map(move |(slot, v)| io::Tensor {
                    name: format!("{name}.{slot}"),
                    shape: vec![v.len()],
                    data: v,
                })
            })
            .collect();
        let meta = BTreeMap::from([
            ("kind".to_string(), self.spec.kind().to_string()),
            ("step".to_string(), self.t.to_string()),
        ]);
        io::save(path, &tensors, &meta)
    }

    /// Loads state saved by [`Optimizer::save`] for the same kind and network.
    ///
    /// # Errors
    /// [`NnError::Tensor`] for a missing or mis-shaped state tensor, [`NnError::Format`] if the
    /// file was written by another optimizer kind or lacks the step count.
    pub fn load(&mut self, path: &Path) -> Result<(), NnError> {
        let mut file = io::Loaded::read(path)?;
        let fmt = |message: String| NnError::Format {
            path: path.to_path_buf(),
            message,
        };
        let kind = file.metadata.get("kind").cloned().unwrap_or_default();
        if kind != self.spec.kind() {
            return Err(fmt(format!(
                "optimizer state of kind `{kind}`, expected `{}`",
                self.spec.kind()
            )));
        }
        let t: u64 = file
            .metadata
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fmt("no valid `step` in the metadata".into()))?;
        let slots = self.spec.slots();
        let mut loaded = Vec::new();
        for (name, s) in &self.state {
            for (slot, v) in slots.iter().zip(s) {
                loaded.push(file.take(&format!("{name}.{slot}"), &[v.len()])?);
            }
        }
        file.finish()?;
        let mut it = loaded.into_iter();
        for (_, s) in &mut self.state {
            for v in s.iter_mut().take(slots.len()) {
                *v = it.next().expect("one per slot");
            }
        }
        self.t = t;
        Ok(())
    }
}

/// Updates one parameter in parallel chunks.
fn update(spec: &OptimizerSpec, ctx: StepCtx, p: &mut Param<f32>, s0: &mut [f32], s1: &mut [f32]) {
    let w = p.value.as_slice_mut().expect("contiguous");
    let g = p.grad.as_slice().expect("contiguous");
    w.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(s0.par_chunks_mut(CHUNK))
        .zip(s1.par_chunks_mut(CHUNK))
        .for_each(|(((w, g), s0), s1)| apply(spec, ctx, w, g, s0, s1));
}

fn apply(
    spec: &OptimizerSpec,
    c: StepCtx,
    w: &mut [f32],
    g: &[f32],
    s0: &mut [f32],
    s1: &mut [f32],
) {
    match *spec {
        OptimizerSpec::Sgd {
            nesterov,
            convention,
            ..
        } => sgd::update(c, nesterov, convention, w, g, s0),
        OptimizerSpec::Adam { beta2, eps, .. } => {
            adam::update(c, beta2 as f32, eps as f32, w, g, s0, s1)
        }
        OptimizerSpec::Rmsprop { alpha, eps, .. } => {
            rmsprop::update(c, alpha as f32, eps as f32, w, g, s0, s1)
        }
        OptimizerSpec::Adagrad { eps, .. } => adagrad::update(c, eps as f32, w, g, s0),
        OptimizerSpec::Adadelta { rho, eps, .. } => {
            adadelta::update(c, rho as f32, eps as f32, w, g, s0, s1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps on one weight `w = 1` with gradient 0.5, the second at learning rate `lr2`.
    fn two_steps(spec: &OptimizerSpec, lr1: f32, lr2: f32, wd: f32, momentum: f32) -> [f32; 2] {
        let (mut w, mut s0, mut s1) = ([1.0f32], [0.0f32], [0.0f32]);
        let mut out = [0.0; 2];
        for (t, lr) in [lr1, lr2].into_iter().enumerate() {
            let c = StepCtx {
                lr,
                wd,
                momentum,
                t: t as u64 + 1,
            };
            apply(spec, c, &mut w, &[0.5], &mut s0, &mut s1);
            out[t] = w[0];
        }
        out
    }

    fn sgd(nesterov: bool, convention: SgdConvention) -> OptimizerSpec {
        OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: 0.1,
            nesterov,
            convention,
        }
    }

    fn close(a: [f32; 2], b: [f64; 2]) {
        for (a, b) in a.iter().zip(b) {
            assert!((*a as f64 - b).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn sgd_caffe_and_pytorch_by_hand() {
        // Caffe: V = 0.1 * (0.5 + 0.1) = 0.06, w = 0.94; then with lr 0.2:
        // V = 0.9 * 0.06 + 0.2 * (0.5 + 0.094) = 0.1728, w = 0.7672.
        close(
            two_steps(&sgd(false, SgdConvention::Caffe), 0.1, 0.2, 0.1, 0.9),
            [0.94, 0.7672],
        );
        // PyTorch: V = 0.6, w = 0.94; V = 0.54 + 0.594 = 1.134, w = 0.94 - 0.2 * 1.134 = 0.7132.
        close(
            two_steps(&sgd(false, SgdConvention::Pytorch), 0.1, 0.2, 0.1, 0.9),
            [0.94, 0.7132],
        );
        // Nesterov, constant lr 0.1: both give w = 1 - 1.9 * 0.06 = 0.886, then 0.725566.
        close(
            two_steps(&sgd(true, SgdConvention::Caffe), 0.1, 0.1, 0.1, 0.9),
            [0.886, 0.725566],
        );
        close(
            two_steps(&sgd(true, SgdConvention::Pytorch), 0.1, 0.1, 0.1, 0.9),
            [0.886, 0.725566],
        );
    }

    #[test]
    fn adaptive_methods_by_hand() {
        // Adam with a constant gradient moves by exactly lr per step (bias correction).
        let adam = OptimizerSpec::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        close(two_steps(&adam, 0.1, 0.1, 0.0, 0.9), [0.9, 0.8]);
        let rms = |momentum| OptimizerSpec::Rmsprop {
            alpha: 0.99,
            eps: 1e-8,
            momentum,
            weight_decay: 0.0,
        };
        close(
            two_steps(&rms(0.0), 0.01, 0.01, 0.0, 0.0),
            [0.90000002, 0.8291119095],
        );
        close(
            two_steps(&rms(0.5), 0.01, 0.01, 0.0, 0.5),
            [0.90000002, 0.7791119195],
        );
        let adagrad = OptimizerSpec::Adagrad {
            eps: 1e-10,
            weight_decay: 0.0,
        };
        close(two_steps(&adagrad, 0.1, 0.1, 0.0, 0.0), [0.9, 0.8292893219]);
        let adadelta = OptimizerSpec::Adadelta {
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
        };
        close(
            two_steps(&adadelta, 1.0, 1.0, 0.0, 0.0),
            [0.9968377856, 0.9935934238],
        );
    }

    #[test]
    fn weight_decay_enters_every_method_as_l2() {
        // g' = 0.5 + 0.5 * 1 = 1: AdaGrad's first step is lr * g' / |g'| = lr whatever g'; Adam's
        // too; so check through SGD PyTorch: w = 1 - 0.1 * 1.
        let s = OptimizerSpec::Sgd {
            momentum: 0.0,
            weight_decay: 0.5,
            nesterov: false,
            convention: SgdConvention::Pytorch,
        };
        close(two_steps(&s, 0.1, 0.0, 0.5, 0.0), [0.9, 0.9]);
    }

    #[test]
    fn invalid_hyper_parameters_are_named() {
        let e = OptimizerSpec::Adam {
            beta1: 1.0,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("beta1 = 1"), "{e}");
        let e = OptimizerSpec::Sgd {
            momentum: 0.9,
            weight_decay: -1.0,
            nesterov: false,
            convention: SgdConvention::Caffe,
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("weight_decay"), "{e}");
        assert!(toml::from_str::<OptimizerSpec>("kind = \"sgd\"\nmomentun = 0.9").is_err());
        assert!(toml::from_str::<OptimizerSpec>("kind = \"sgd\"\nconvention = \"keras\"").is_err());
        let s: OptimizerSpec = toml::from_str("kind = \"sgd\"").unwrap();
        assert_eq!(
            s,
            OptimizerSpec::Sgd {
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: false,
                convention: SgdConvention::Caffe
            }
        );
    }
}
