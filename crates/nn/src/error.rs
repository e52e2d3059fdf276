//! The error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong when building, saving or loading a network or an optimizer.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum NnError {
    /// A `[model]` table that does not describe a network.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// A layer whose hyper-parameters are out of range, naming the layer and the key.
    #[error("layer {layer} ({kind}): {message}")]
    InvalidLayer {
        /// Layer name, e.g. `conv2`.
        layer: String,
        /// Layer type, e.g. `conv2d`.
        kind: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An `[optimizer]` hyper-parameter out of range.
    #[error("optimizer {kind}: invalid {key} = {value}: {allowed}")]
    InvalidOptimizer {
        /// Optimizer kind, e.g. `adam`.
        kind: &'static str,
        /// The offending key.
        key: &'static str,
        /// The offending value.
        value: f64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not a valid safetensors file.
    #[error("{path}: not a valid safetensors file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A tensor is missing from a file, or has the wrong shape or dtype.
    #[error("{path}: tensor `{tensor}`: {message}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor name, e.g. `conv1.weight`.
        tensor: String,
        /// What differs (expected vs found).
        message: String,
    },
}
