//! Raw pixels and labels as read from disk, before any carve, limit or
//! preprocessing, with where each split is stored.

use std::path::PathBuf;

use crate::config::DatasetName;
use crate::error::DataError;

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
