//! Why a fetch step failed: the source's fault ([`FetchError`], the next
//! source may do better) or the data directory's ([`DataError`]).

use std::path::PathBuf;

use crate::error::DataError;
use crate::source::OpenError;

/// Why a source could not deliver a dataset. It surfaces as the reason of
/// a [`crate::SourceFailure`] in [`DataError::AllSourcesFailed`], and in the notes
/// of a fetch.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// Reading from the source failed part way.
    #[error("transfer failed: {0}")]
    Transfer(std::io::Error),
    /// The source sent fewer or more bytes than it announced.
    #[error("transfer incomplete: received {received} of {expected} bytes")]
    Incomplete {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        expected: u64,
    },
    /// A file's SHA-256 differs from the published one.
    #[error("{file} has SHA-256 {found}, expected {expected}")]
    Checksum {
        /// The file (a path or an archive name).
        file: String,
        /// Digest found.
        found: String,
        /// Published digest.
        expected: String,
    },
    /// An IDX file holds another number of records than the dataset has.
    #[error("{} holds {count} records, expected {expected}", path.display())]
    Records {
        /// The file.
        path: PathBuf,
        /// Records found.
        count: usize,
        /// Records expected.
        expected: usize,
    },
    /// A CIFAR-10 folder holds another number of images than the dataset has.
    #[error(
        "{} holds {train} training and {test} test images, expected {} and {}",
        dir.display(), expected.0, expected.1
    )]
    Images {
        /// The folder.
        dir: PathBuf,
        /// Training images found.
        train: usize,
        /// Test images found.
        test: usize,
        /// Training and test images expected.
        expected: (usize, usize),
    },
    /// The source has neither the gzipped nor the raw file.
    #[error("has no {gz} (nor {raw})")]
    NoFile {
        /// The gzipped file's path in the source.
        gz: String,
        /// The raw file's path in the source.
        raw: String,
    },
    /// The source has none of the archives tried.
    #[error("has none of {}", .0.join(", "))]
    NoArchive(Vec<String>),
    /// The source could not be read.
    #[error("{0}")]
    Open(OpenError),
    /// An archive that does not unpack.
    #[error("{archive} is not a complete .tar.gz archive: {source}")]
    NotAnArchive {
        /// The archive's name.
        archive: String,
        /// The error unpacking it.
        source: std::io::Error,
    },
    /// An archive whose end cannot be read.
    #[error("cannot read {archive}: {source}")]
    ArchiveRead {
        /// The archive's name.
        archive: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The fetched files fail a check of their content.
    #[error(transparent)]
    Content(DataError),
}

/// Why one step of a fetch failed.
pub(super) enum Failure {
    /// The source cannot deliver (file not found, transfer failed, wrong
    /// content): the next source may.
    Source(FetchError),
    /// The data directory itself cannot be used (e.g. permission denied):
    /// no source can help, so the fetch stops with this error.
    Local(DataError),
}

impl Failure {
    /// A check of fetched or installed files: a permission problem is the
    /// data directory's, anything else the content's.
    pub(super) fn check(e: DataError) -> Failure {
        match e {
            DataError::PermissionDenied { .. } => Failure::Local(e),
            e => Failure::Source(FetchError::Content(e)),
        }
    }
}

impl From<DataError> for Failure {
    /// An I/O failure in the data directory.
    fn from(e: DataError) -> Failure {
        Failure::Local(e)
    }
}
