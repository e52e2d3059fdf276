//! Parameter initializers.

use crate::Real;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which fan a scaled initializer divides by.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VarianceNorm {
    /// `n = fan_in` (inputs per output: `c_in * k * k` for a convolution).
    FanIn,
    /// `n = fan_out` (`c_out * k * k` for a convolution).
    FanOut,
    /// `n = (fan_in + fan_out) / 2`.
    Average,
}

/// How a parameter tensor is filled.
///
/// # Formula
/// - `gaussian`: `N(mean, std^2)`.
/// - `uniform`: `U(low, high)`.
/// - `xavier`: `U(-a, a)`, `a = sqrt(3 / n)`; `n` per `variance_norm`, default `average`,
///   which is Glorot's `sqrt(6 / (fan_in + fan_out))` (Caffe's `xavier` defaults to `fan_in`).
/// - `kaiming`: `N(0, 2 / n)`, `n` default `fan_in` (He et al., Caffe's `msra`, PyTorch's
///   `kaiming_normal_` with ReLU gain).
/// - `constant`: `value`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitSpec {
    /// Normal distribution.
    Gaussian {
        /// Mean (default 0).
        #[serde(default)]
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Uniform distribution on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Xavier/Glorot uniform.
    Xavier {
        /// Fan used (default `average`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variance_norm: Option<VarianceNorm>,
    },
    /// He/Kaiming normal.
    Kaiming {
        /// Fan used (default `fan_in`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variance_norm: Option<VarianceNorm>,
    },
    /// Every value equal.
    Constant {
        /// The value.
        value: f64,
    },
}

impl InitSpec {
    /// Checks the hyper-parameters; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::Gaussian { mean, std }
                if !(std >= 0.0 && std.is_finite() && mean.is_finite()) =>
            {
                Err(format!(
                    "gaussian init needs a finite std >= 0, got std = {std}"
                ))
            }
            Self::Uniform { low, high }
                if !(low <= high && low.is_finite() && high.is_finite()) =>
            {
                Err(format!(
                    "uniform init needs finite low <= high, got [{low}, {high})"
                ))
            }
            Self::Constant { value } if !value.is_finite() => {
                Err(format!("constant init needs a finite value, got {value}"))
            }
            _ => Ok(()),
        }
    }

    /// Fills `out` given the tensor's fans.
    pub(crate) fn fill<T: Real>(
        &self,
        out: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut impl Rng,
    ) {
        let n = |norm: VarianceNorm| match norm {
            VarianceNorm::FanIn => fan_in as f64,
            VarianceNorm::FanOut => fan_out as f64,
            VarianceNorm::Average => (fan_in + fan_out) as f64 / 2.0,
        };
        match *self {
            Self::Gaussian { mean, std } => out
                .iter_mut()
                .for_each(|v| *v = T::of(mean + std * normal(rng))),
            Self::Uniform { low, high } => out
                .iter_mut()
                .for_each(|v| *v = T::of(low + (high - low) * rng.gen::<f64>())),
            Self::Xavier { variance_norm } => {
                let a = (3.0 / n(variance_norm.unwrap_or(VarianceNorm::Average))).sqrt();
                out.iter_mut()
                    .for_each(|v| *v = T::of(a * (2.0 * rng.gen::<f64>() - 1.0)))
            }
            Self::Kaiming { variance_norm } => {
                let std = (2.0 / n(variance_norm.unwrap_or(VarianceNorm::FanIn))).sqrt();
                out.iter_mut().for_each(|v| *v = T::of(std * normal(rng)))
            }
            Self::Constant { value } => out.fill(T::of(value)),
        }
    }
}

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
