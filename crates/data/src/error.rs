//! Errors of the data layer. Every variant names the file (or source) at
//! fault and the command that fixes it.

use std::fmt;
use std::path::PathBuf;

use super::config::DatasetName;

/// Why one acquisition source could not deliver a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    /// The source as shown to the user (`mirror ../shared/data`, a URL, …).
    pub source: String,
    /// What went wrong there.
    pub reason: String,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

/// What was being done to a path when the OS refused access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading a file, listing or searching a folder.
    Read,
    /// Creating, writing, renaming or removing.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

fn list(attempts: &[SourceFailure]) -> String {
    if attempts.is_empty() {
        return "\n  (no source was configured)".to_string();
    }
    attempts.iter().map(|a| format!("\n  - {a}")).collect()
}

/// Errors while fetching, verifying or loading a dataset.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum DataError {
    /// A dataset name that is not one of the known ones.
    #[error(
        "unknown dataset `{name}`: expected one of mnist, fashion-mnist, cifar10 \
         (or `all` for `clr data fetch`), e.g. `clr data fetch mnist`"
    )]
    UnknownDataset {
        /// The name given.
        name: String,
    },

    /// A file that must be there is not.
    #[error(
        "{dataset}: missing {}; run `clr data fetch {dataset}` (offline: add \
         `--mirror DIR|URL` or set CLR_DATA_MIRROR)",
        path.display()
    )]
    Missing {
        /// The dataset.
        dataset: DatasetName,
        /// The file expected.
        path: PathBuf,
    },

    /// Reading a file failed.
    #[error(
        "{dataset}: cannot read {}: {source}; check its permissions, or delete it and \
         run `clr data fetch {dataset}`",
        path.display()
    )]
    Read {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// Writing into the data directory failed.
    #[error(
        "{dataset}: cannot write {}: {source}; make the data directory writable or \
         choose another with `--data-dir DIR` / CLR_DATA_DIR",
        path.display()
    )]
    Write {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The OS refused access to a file or folder of the data directory.
    #[error(
        "{dataset}: cannot {access} {}: permission denied; give your user {access} \
         permission on it and on the folders above it (`ls -ld` shows who may), or choose \
         another data directory with `--data-dir DIR` / CLR_DATA_DIR, then run \
         `clr data fetch {dataset}`",
        path.display()
    )]
    PermissionDenied {
        /// The dataset.
        dataset: DatasetName,
        /// The file or folder.
        path: PathBuf,
        /// What was refused.
        access: Access,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A file does not start with the expected magic number.
    #[error(
        "{dataset}: {} has magic number {found:#010x}, expected {expected:#010x} ({what}); \
         delete it and run `clr data fetch {dataset}`",
        path.display()
    )]
    BadMagic {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// Expected magic number.
        expected: u32,
        /// Magic number found.
        found: u32,
        /// What kind of file was expected.
        what: &'static str,
    },

    /// A file is shorter (or longer) than its header promises.
    #[error(
        "{dataset}: {} is {found} bytes but its header/layout requires {expected}: the file \
         is truncated or corrupt; delete it and run `clr data fetch {dataset}`",
        path.display()
    )]
    Truncated {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// Bytes required.
        expected: u64,
        /// Bytes found.
        found: u64,
    },

    /// Images and labels disagree in number.
    #[error(
        "{dataset}: {} holds {images} images but {} holds {labels} labels; the pair does not \
         belong together: delete both and run `clr data fetch {dataset}`",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The dataset.
        dataset: DatasetName,
        /// The image file (or folder).
        images_path: PathBuf,
        /// The label file (or folder).
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// Images of the wrong size.
    #[error(
        "{dataset}: {} holds images of {found}, expected {expected}; this is not a \
         {dataset} file: delete it and run `clr data fetch {dataset}`",
        path.display()
    )]
    WrongImageSize {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// Expected size, e.g. `28x28`.
        expected: String,
        /// Size found.
        found: String,
    },

    /// A label outside `0..classes`.
    #[error(
        "{dataset}: {} has label {label} at record {index}, but there are only {classes} \
         classes; delete it and run `clr data fetch {dataset}`",
        path.display()
    )]
    BadLabel {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// Record index.
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes.
        classes: usize,
    },

    /// A file or folder that must hold images of a split holds none: a
    /// model cannot be trained, or scored, on nothing.
    #[error(
        "{dataset}: {} holds no {split} image; the copy is empty or incomplete: delete it \
         and run `clr data fetch {dataset}`",
        path.display()
    )]
    NoImages {
        /// The dataset.
        dataset: DatasetName,
        /// `training` or `test`.
        split: &'static str,
        /// The file or folder.
        path: PathBuf,
    },

    /// A class of the dataset has no image in one split of the files as
    /// stored: a model cannot learn a class it never sees, nor be scored on it.
    #[error(
        "{dataset}: {} holds no {split} image of class `{class}` (label {label}); every class \
         must be in both the training and the test files: the copy is incomplete, delete it \
         and run `clr data fetch {dataset}`",
        path.display()
    )]
    ClassMissing {
        /// The dataset.
        dataset: DatasetName,
        /// `training` or `test`.
        split: &'static str,
        /// The class name.
        class: String,
        /// Its label.
        label: usize,
        /// The file (labels) or folder (class folders) of the split.
        path: PathBuf,
    },

    /// A file's SHA-256 differs from the published one.
    #[error(
        "{dataset}: {} has SHA-256 {actual}, expected {expected}; the copy is corrupt: \
         delete it and run `clr data fetch {dataset}`",
        path.display()
    )]
    Checksum {
        /// The dataset.
        dataset: DatasetName,
        /// The file.
        path: PathBuf,
        /// Published digest.
        expected: String,
        /// Digest found.
        actual: String,
    },

    /// An image that cannot be decoded, or a folder layout that is wrong.
    #[error(
        "{dataset}: {}: {reason}; delete the folder and run `clr data fetch {dataset}`",
        path.display()
    )]
    Corrupt {
        /// The dataset.
        dataset: DatasetName,
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Every acquisition source failed.
    #[error(
        "{dataset}: could not fetch from any source:{}\nfix: pass `--mirror DIR|URL` (a folder or \
         URL laid out like the canonical sources, see docs/data.md) or set CLR_DATA_MIRROR, or connect to the internet, \
         then run `clr data fetch {dataset}`",
        list(attempts)
    )]
    AllSourcesFailed {
        /// The dataset.
        dataset: DatasetName,
        /// Each source tried and why it failed, in order.
        attempts: Vec<SourceFailure>,
    },

    /// A `[data]` setting that cannot be honoured.
    #[error("[data] {key} = {value}: {reason}")]
    Config {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used and what is allowed.
        reason: String,
    },
}
