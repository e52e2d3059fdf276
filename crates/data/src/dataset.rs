//! Loading a dataset from the data directory: check, carve, limit,
//! preprocess.

use std::path::Path;

use crate::batch::Split;
use crate::cifar;
use crate::config::{DataConfig, DatasetName, Preprocess};
use crate::error::DataError;
use crate::idx;
use crate::preprocess::Fitted;
use crate::progress::{Progress, Stderr};
use crate::raw::{RawDataset, RawSplit};

/// A loaded, preprocessed dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Which dataset.
    pub name: DatasetName,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Image shape `[C, H, W]`.
    pub shape: [usize; 3],
    /// Training split (after the validation carve and `train_limit`).
    pub train: Split,
    /// Validation split carved from the end of train, when asked for.
    pub validation: Option<Split>,
    /// Test split (after `test_limit`).
    pub test: Split,
    /// The preprocessing applied, with the training statistics it used.
    pub preprocess: Fitted,
    /// Where the pixels came from (files, cache), for messages.
    pub provenance: String,
}

/// Reads the raw pixels of `dataset` from `dir` (`<root>/<name>`), without
/// fetching; notes (a CIFAR-10 cache rebuilt) go to stderr.
///
/// # Errors
/// [`DataError::Missing`] naming the file and `clr data fetch NAME`; any
/// verification error of the files found.
pub fn load_raw(dataset: DatasetName, dir: &Path) -> Result<RawDataset, DataError> {
    load_raw_with(dataset, dir, &Stderr)
}

/// [`load_raw`], telling `progress` what it does.
///
/// # Errors
/// As [`load_raw`].
pub fn load_raw_with(
    dataset: DatasetName,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<RawDataset, DataError> {
    match dataset {
        DatasetName::Mnist | DatasetName::FashionMnist => idx::load(dataset, dir),
        DatasetName::Cifar10 => cifar::load(dir, progress),
    }
}

/// Loads the dataset `cfg` names from its data directory: no fetching
/// (see [`crate::ensure_available`]). The files are checked to be usable
/// ([`RawDataset::check`]), the validation split is carved from the end of
/// the training set, then `train_limit`/`test_limit` keep the first images,
/// then preprocessing statistics are fitted on what remains of the training
/// split and applied to every split. Notes go to stderr.
///
/// # Errors
/// [`DataError::Missing`] naming the file and `clr data fetch NAME`;
/// [`DataError::PermissionDenied`]; any verification error;
/// [`DataError::NoImages`] or [`DataError::ClassMissing`] for files that
/// hold an empty split or miss a class; [`DataError::Config`] when
/// `validation` leaves no training image or a limit is 0.
pub fn load(cfg: &DataConfig) -> Result<Dataset, DataError> {
    load_with(cfg, &Stderr)
}

/// [`load`], telling `progress` what it does.
///
/// # Errors
/// As [`load`].
pub fn load_with(cfg: &DataConfig, progress: &dyn Progress) -> Result<Dataset, DataError> {
    let raw = load_raw_with(cfg.dataset, &cfg.dataset_dir(), progress)?;
    from_raw(cfg, raw)
}

/// Checks, carves, limits and preprocesses raw pixels as [`load`] does.
/// Every split of the result holds at least one image.
///
/// # Errors
/// [`DataError::NoImages`] or [`DataError::ClassMissing`] from
/// [`RawDataset::check`]; [`DataError::Config`] when `validation` leaves no
/// training image or a limit is 0.
pub fn from_raw(cfg: &DataConfig, raw: RawDataset) -> Result<Dataset, DataError> {
    raw.check(cfg.dataset)?;
    let shape = cfg.dataset.shape();
    let RawDataset {
        classes,
        mut train,
        mut test,
        provenance,
        ..
    } = raw;
    if cfg.validation >= train.len() {
        return Err(DataError::Config {
            key: "validation",
            value: cfg.validation.to_string(),
            reason: format!(
                "{} has {} training images; the validation split must leave at least one \
                 (use 0 for none)",
                cfg.dataset,
                train.len()
            ),
        });
    }
    let validation = (cfg.validation > 0).then(|| train.split_off_end(cfg.validation, shape));
    for (key, limit, split) in [
        ("train_limit", cfg.train_limit, &mut train),
        ("test_limit", cfg.test_limit, &mut test),
    ] {
        match limit {
            Some(0) => {
                return Err(DataError::Config {
                    key,
                    value: "0".to_string(),
                    reason: "must be at least 1 (leave it out to use every image)".to_string(),
                })
            }
            Some(n) => split.truncate(n, shape),
            None => {}
        }
    }
    let kind: Preprocess = cfg.preprocess();
    let fitted = Fitted::fit(kind, &train.pixels, shape);
    let make = |s: RawSplit| Split::new(shape, fitted.apply(&s.pixels, shape), s.labels);
    Ok(Dataset {
        name: cfg.dataset,
        classes,
        shape,
        validation: validation.map(make),
        train: make(train),
        test: make(test),
        preprocess: fitted,
        provenance,
    })
}
