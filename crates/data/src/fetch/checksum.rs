//! SHA-256 verification: the published sums of each dataset and the
//! comparison of what was fetched against them.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::error::FetchError;
use crate::config::DatasetName;

/// What fetched files must satisfy before they are installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Published SHA-256 (lowercase hex) by file name: of the *uncompressed*
    /// IDX files (gzip encodings differ between mirrors), or of an archive.
    pub sha256: Vec<(String, String)>,
    /// Training and test record counts.
    pub counts: (usize, usize),
}

/// The four IDX files of MNIST and Fashion-MNIST, in the order of the sums below.
const IDX_FILES: [&str; 4] = [
    crate::idx::TRAIN_IMAGES,
    crate::idx::TRAIN_LABELS,
    crate::idx::TEST_IMAGES,
    crate::idx::TEST_LABELS,
];

/// SHA-256 of MNIST's uncompressed [`IDX_FILES`].
const MNIST_SHA256: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

/// SHA-256 of Fashion-MNIST's uncompressed [`IDX_FILES`].
const FASHION_MNIST_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

impl Expect {
    /// The published files of `dataset`.
    pub fn standard(dataset: DatasetName) -> Expect {
        let pairs = |names: &[&str], sums: &[&str]| -> Vec<(String, String)> {
            names
                .iter()
                .zip(sums)
                .map(|(n, h)| (n.to_string(), h.to_string()))
                .collect()
        };
        let (sha256, counts) = match dataset {
            DatasetName::Mnist => (pairs(&IDX_FILES, &MNIST_SHA256), (60_000, 10_000)),
            DatasetName::FashionMnist => {
                (pairs(&IDX_FILES, &FASHION_MNIST_SHA256), (60_000, 10_000))
            }
            // The JPEG re-encoding of the offline mirror; the binary archive is checked by
            // its record counts.
            DatasetName::Cifar10 => (
                pairs(
                    &["cifar10-jpg.tar.gz"],
                    &["d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965"],
                ),
                (50_000, 10_000),
            ),
        };
        Expect { sha256, counts }
    }

    /// The published SHA-256 of `name`, if any.
    pub(crate) fn sha_of(&self, name: &str) -> Option<&str> {
        self.sha256
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str())
    }
}

/// Lowercase hex of a digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`.
pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Checks the SHA-256 of the file `name` against the published one, when
/// there is one; `digest` is computed only then. `file` names the file in
/// the error.
pub(super) fn verify(
    expect: &Expect,
    name: &str,
    file: &str,
    digest: impl FnOnce() -> [u8; 32],
) -> Result<(), FetchError> {
    if let Some(want) = expect.sha_of(name) {
        let got = hex(&digest());
        if got != want {
            return Err(FetchError::Checksum {
                file: file.to_string(),
                found: got,
                expected: want.to_string(),
            });
        }
    }
    Ok(())
}

/// A reader that hashes everything read through it.
pub(super) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Hashing<R> {
    pub(super) fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of everything read so far.
    pub(super) fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
