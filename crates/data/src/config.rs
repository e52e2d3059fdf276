//! The `[data]` table of a run configuration.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::Augment;

/// Environment variable naming the data root (default `data`).
pub const DATA_DIR_ENV: &str = "CLR_DATA_DIR";

/// The datasets the project knows how to fetch and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatasetName {
    /// MNIST handwritten digits, 28x28 grayscale, 60,000/10,000.
    #[serde(rename = "mnist")]
    Mnist,
    /// Fashion-MNIST (Zalando), 28x28 grayscale, 60,000/10,000.
    #[serde(rename = "fashion-mnist")]
    FashionMnist,
    /// CIFAR-10, 32x32 RGB, 50,000/10,000.
    #[serde(rename = "cifar10")]
    Cifar10,
}

impl DatasetName {
    /// Every dataset, in the order `clr data fetch all` fetches them.
    pub const ALL: [DatasetName; 3] = [
        DatasetName::Mnist,
        DatasetName::FashionMnist,
        DatasetName::Cifar10,
    ];

    /// The name used on the command line, in configs and as the folder under
    /// the data root.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Cifar10 => "cifar10",
        }
    }

    /// Image shape `[C, H, W]`.
    pub fn shape(self) -> [usize; 3] {
        match self {
            DatasetName::Mnist | DatasetName::FashionMnist => [1, 28, 28],
            DatasetName::Cifar10 => [3, 32, 32],
        }
    }

    /// Class names in label order.
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            DatasetName::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetName::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetName::Cifar10 => &CIFAR10_CLASSES,
        }
    }

    /// The preprocessing used when a config does not choose one: `scale` for
    /// the MNIST-likes, Caffe's `mean_image` for CIFAR-10 (the paper's setup).
    pub fn default_preprocess(self) -> Preprocess {
        match self {
            DatasetName::Mnist | DatasetName::FashionMnist => Preprocess::Scale,
            DatasetName::Cifar10 => Preprocess::MeanImage,
        }
    }
}

/// CIFAR-10 class names in label order 0..9.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    /// # Errors
    /// [`DataError::UnknownDataset`] for anything but `mnist`,
    /// `fashion-mnist` or `cifar10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetName::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| DataError::UnknownDataset {
                name: s.to_string(),
            })
    }
}

/// How pixel values are turned into network inputs. Statistics come from
/// the training split only (after the validation split is carved off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preprocess {
    /// # Formula
    /// `x / 255`, values in [0, 1].
    Scale,
    /// # Formula
    /// `(x - mean_c) / std_c` with the per-channel mean and standard
    /// deviation of the training pixels.
    Standardize,
    /// Caffe's CIFAR-10 setup.
    ///
    /// # Formula
    /// `x - mean[c, h, w]` on 0-255 values, with the per-pixel mean image of
    /// the training split.
    MeanImage,
    /// Raw 0-255 values as `f32`.
    None,
}

/// The order in which training images are drawn, epoch after epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// A new permutation every epoch, drawn from the seed and the epoch number (default).
    #[default]
    Shuffle,
    /// One permutation drawn from the seed, the same in every epoch: what Caffe does when it
    /// reads its LMDB front to back each epoch (the order there was fixed once, when the
    /// database was written; the folder copy of CIFAR-10 is sorted by class, so its own file
    /// order cannot stand in for it).
    Fixed,
}

impl Order {
    fn is_shuffle(&self) -> bool {
        *self == Order::Shuffle
    }
}

/// The `[data]` table of a run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `"mnist"`, `"fashion-mnist"` or `"cifar10"`.
    pub dataset: DatasetName,
    /// Data root; default: env `CLR_DATA_DIR`, else `data`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Default: [`DatasetName::default_preprocess`].
    #[serde(default)]
    pub preprocess: Option<Preprocess>,
    /// Images carved from the end of the training set as a validation split
    /// (default 0: none).
    #[serde(default)]
    pub validation: usize,
    /// Use only the first N training images (after the validation carve).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Use only the first N test images.
    #[serde(default)]
    pub test_limit: Option<usize>,
    /// `"shuffle"` (default) or `"fixed"`: see [`Order`].
    #[serde(default, skip_serializing_if = "Order::is_shuffle")]
    pub order: Order,
    /// Training-time augmentation (default: none).
    #[serde(default, skip_serializing_if = "Augment::is_off")]
    pub augment: Augment,
}

impl DataConfig {
    /// The full dataset with default settings.
    pub fn new(dataset: DatasetName) -> Self {
        DataConfig {
            dataset,
            dir: None,
            preprocess: None,
            validation: 0,
            train_limit: None,
            test_limit: None,
            order: Order::Shuffle,
            augment: Augment::default(),
        }
    }

    /// The data root: `dir`, else env `CLR_DATA_DIR`, else `data`.
    pub fn root(&self) -> PathBuf {
        resolve_root(self.dir.as_deref())
    }

    /// The folder holding this dataset: `<root>/<name>`.
    pub fn dataset_dir(&self) -> PathBuf {
        self.root().join(self.dataset.as_str())
    }

    /// The preprocessing in effect.
    pub fn preprocess(&self) -> Preprocess {
        self.preprocess
            .unwrap_or_else(|| self.dataset.default_preprocess())
    }
}

/// Resolves a data root: the given one, else env `CLR_DATA_DIR`, else `data`.
pub fn resolve_root(dir: Option<&std::path::Path>) -> PathBuf {
    match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os(DATA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("data")),
    }
}
