//! CIFAR-10: the canonical binary layout ([`binary`]) and an image-folder
//! layout ([`folder`]), the latter decoded in parallel once and cached in a
//! compact binary file ([`cache`]).

mod binary;
mod cache;
mod folder;

use std::path::Path;

use crate::access;
use crate::config::DatasetName;
use crate::error::DataError;
use crate::progress::Progress;
use crate::raw::RawDataset;

pub use cache::CACHE_FILE;

const DS: DatasetName = DatasetName::Cifar10;
/// Folder of the canonical binary distribution.
pub const BINARY_DIR: &str = "cifar-10-batches-bin";
/// Training batch files of the binary layout.
pub const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// Test batch file of the binary layout.
pub const TEST_BATCH: &str = "test_batch.bin";
/// Bytes per image: 3 planes (R, G, B) of 32x32.
const IMAGE: usize = 3 * 32 * 32;

/// Loads CIFAR-10 from `dir`: `cifar-10-batches-bin/` when present, else the
/// image folders `train/<class>/` and `test/<class>/` (through the cache),
/// telling `progress` about the decoding and the cache.
///
/// # Errors
/// [`DataError::Missing`] when neither layout is there;
/// [`DataError::PermissionDenied`]; any layout, size, label or decoding
/// error naming the file.
pub fn load(dir: &Path, progress: &dyn Progress) -> Result<RawDataset, DataError> {
    let bin = dir.join(BINARY_DIR);
    if access::is_dir(DS, &bin)? {
        return binary::load(&bin);
    }
    if access::is_dir(DS, &dir.join("train"))? {
        return folder::load(dir, progress);
    }
    Err(DataError::Missing {
        dataset: DS,
        path: bin.join(TRAIN_BATCHES[0]),
    })
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    access::read_err(DS, path)
}

/// Counts the training and test records of either layout in `dir`,
/// checking binary batch sizes but decoding nothing.
///
/// # Errors
/// [`DataError::Missing`] when neither layout is there, or the first
/// layout (or permission) error found.
pub fn count_records(dir: &Path) -> Result<(usize, usize), DataError> {
    let bin = dir.join(BINARY_DIR);
    if access::is_dir(DS, &bin)? {
        return binary::count_records(&bin);
    }
    folder::count_images(dir)
}
