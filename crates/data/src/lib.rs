//! Datasets: acquisition, verification, loading, preprocessing and batching.
//!
//! - [`fetch()`]/[`ensure_available`] bring MNIST, Fashion-MNIST or CIFAR-10
//!   into `<root>/<name>/` from a mirror, system folders or the canonical
//!   downloads, verifying every file before it is installed.
//! - [`load`] reads them (never fetching), checks every header and that
//!   both splits hold images of every class, carves the validation split,
//!   applies the configured preprocessing.
//! - [`Sampler`] (on [`epoch_order`] and [`Split::fill_batch`]) feeds the training loop.
//! - [`Progress`] receives what fetching and loading report; the `*_with`
//!   entry points take one, the others print to stderr ([`Stderr`]).

#![warn(missing_docs)]

mod access;
mod augment;
mod batch;
mod cifar;
mod config;
mod dataset;
mod error;
mod fetch;
mod idx;
mod preprocess;
mod progress;
mod raw;
mod sampler;
mod source;

pub use augment::{Augment, Draw};
pub use batch::{epoch_order, Split};
pub use config::{
    resolve_root, DataConfig, DatasetName, Order, Preprocess, CIFAR10_CLASSES, DATA_DIR_ENV,
};
pub use dataset::{from_raw, load, load_raw, load_raw_with, load_with, Dataset};
pub use error::{Access, DataError, SourceFailure};
pub use fetch::{
    ensure_available, ensure_available_with, fetch, fetch_from, fetch_from_with, fetch_with,
    is_present, Expect, Fetched,
};
pub use preprocess::Fitted;
pub use progress::{Meter, Progress, Silent, Stderr, Unit};
pub use raw::{RawDataset, RawSplit, Stored};
pub use sampler::Sampler;
pub use source::{
    mirror_from_env_in, Location, OpenError, Opened, Source, MIRROR_ENV, SYSTEM_FASHION_MNIST,
};

/// File names and layout constants, for tools and tests that build or
/// inspect dataset folders.
pub mod layout {
    pub use super::cifar::{BINARY_DIR, CACHE_FILE, TEST_BATCH, TRAIN_BATCHES};
    pub use super::idx::{
        IMAGES_MAGIC, LABELS_MAGIC, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
    };
}
