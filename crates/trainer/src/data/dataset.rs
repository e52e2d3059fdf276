//! Loading a dataset from the data directory: check, carve, limit,
//! preprocess.

use std::path::{Path, PathBuf};

use super::batch::Split;
use super::cifar;
use super::config::{DataConfig, DatasetName, Preprocess};
use super::error::DataError;
use super::idx;
use super::preprocess::Fitted;

/// Undecoded pixels (`N*C*H*W` bytes, NCHW) and labels of one split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSplit {
    /// Pixels, 0-255.
    pub pixels: Vec<u8>,
    /// Labels, one per image.
    pub labels: Vec<u8>,
}

impl RawSplit {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Keeps the first `n` images.
    pub fn truncate(&mut self, n: usize, shape: [usize; 3]) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.pixels.truncate(n * shape.iter().product::<usize>());
    }

    /// Removes and returns the last `n` images.
    pub fn split_off_end(&mut self, n: usize, shape: [usize; 3]) -> RawSplit {
        let keep = self.len() - n.min(self.len());
        RawSplit {
            labels: self.labels.split_off(keep),
            pixels: self
                .pixels
                .split_off(keep * shape.iter().product::<usize>()),
        }
    }
}

/// Where one split of a dataset is stored, to name it in messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The file or folder holding the images: an IDX image file, a CIFAR-10
    /// batch file or batch folder, a `train/` or `test/` image folder.
    pub images: PathBuf,
    /// The file or folder holding the labels: the IDX label file, else the
    /// same as `images` (labels stored in the records or as folder names).
    pub labels: PathBuf,
}

impl Stored {
    /// A split whose labels are stored with its images, in `path`.
    pub fn at(path: PathBuf) -> Stored {
        Stored {
            images: path.clone(),
            labels: path,
        }
    }
}

/// Raw pixels of a dataset as found on disk.
#[derive(Debug, Clone)]
pub struct RawDataset {
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Training images.
    pub train: RawSplit,
    /// Test images.
    pub test: RawSplit,
    /// Where the pixels came from (files, cache), for messages.
    pub provenance: String,
    /// Where the training split is stored.
    pub train_from: Stored,
    /// Where the test split is stored.
    pub test_from: Stored,
}

impl RawDataset {
    /// Checks that the dataset as stored can be trained and scored on: both
    /// splits hold images, and every class has an image in each. Run before
    /// any carve or limit, so that a `train_limit`/`test_limit` subset may
    /// miss classes while a copy that misses them is caught.
    ///
    /// # Errors
    /// [`DataError::NoImages`] naming the empty split's file or folder;
    /// [`DataError::ClassMissing`] naming the split's labels and the class.
    pub fn check(&self, dataset: DatasetName) -> Result<(), DataError> {
        let splits = [
            ("training", &self.train, &self.train_from),
            ("test", &self.test, &self.test_from),
        ];
        for &(split, data, from) in &splits {
            if data.is_empty() {
                return Err(DataError::NoImages {
                    dataset,
                    split,
                    path: from.images.clone(),
                });
            }
        }
        for (split, data, from) in splits {
            let mut seen = vec![false; self.classes.len()];
            for &label in &data.labels {
                if let Some(s) = seen.get_mut(usize::from(label)) {
                    *s = true;
                }
            }
            if let Some(label) = seen.iter().position(|&s| !s) {
                return Err(DataError::ClassMissing {
                    dataset,
                    split,
                    class: self.classes[label].clone(),
                    label,
                    path: from.labels.clone(),
                });
            }
        }
        Ok(())
    }
}

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
/// fetching.
///
/// # Errors
/// [`DataError::Missing`] naming the file and `clr data fetch NAME`; any
/// verification error of the files found.
pub fn load_raw(dataset: DatasetName, dir: &Path) -> Result<RawDataset, DataError> {
    match dataset {
        DatasetName::Mnist | DatasetName::FashionMnist => idx::load(dataset, dir),
        DatasetName::Cifar10 => cifar::load(dir),
    }
}

/// Loads the dataset `cfg` names from its data directory: no fetching
/// (see [`super::ensure_available`]). The files are checked to be usable
/// ([`RawDataset::check`]), the validation split is carved from the end of
/// the training set, then `train_limit`/`test_limit` keep the first images,
/// then preprocessing statistics are fitted on what remains of the training
/// split and applied to every split.
///
/// # Errors
/// [`DataError::Missing`] naming the file and `clr data fetch NAME`;
/// [`DataError::PermissionDenied`]; any verification error;
/// [`DataError::NoImages`] or [`DataError::ClassMissing`] for files that
/// hold an empty split or miss a class; [`DataError::Config`] when
/// `validation` leaves no training image or a limit is 0.
pub fn load(cfg: &DataConfig) -> Result<Dataset, DataError> {
    let raw = load_raw(cfg.dataset, &cfg.dataset_dir())?;
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
