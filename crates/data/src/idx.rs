//! IDX files (MNIST, Fashion-MNIST): header checks and loading.
//!
//! The `mnist` crate panics on a bad file, so every header (magic number,
//! dimensions, record count, file length) and every label is checked here
//! first. Canonical raw files are then parsed by the `mnist` crate; gzipped
//! or non-canonical files (e.g. small subsets) use the checked bytes directly.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::access::{self, read_err};
use crate::config::DatasetName;
use crate::error::DataError;
use crate::raw::{RawDataset, RawSplit, Stored};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Header length of an image file: magic, count, rows, cols.
const IMAGES_HEADER: usize = 16;
/// Header length of a label file: magic, count.
const LABELS_HEADER: usize = 8;

/// The four canonical file names (without `.gz`).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// All four, in the order train images, train labels, test images, test labels.
pub const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Which kind of IDX file a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxKind {
    /// `*-images-idx3-ubyte`.
    Images,
    /// `*-labels-idx1-ubyte`.
    Labels,
}

impl IdxKind {
    /// The kind of a canonical file name.
    pub fn of(name: &str) -> IdxKind {
        if name.contains("images") {
            IdxKind::Images
        } else {
            IdxKind::Labels
        }
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks an IDX header given the first bytes of the file and its total
/// length, and returns the record count.
///
/// # Errors
/// [`DataError::Truncated`] when the file is shorter or longer than the
/// header requires, [`DataError::BadMagic`], [`DataError::WrongImageSize`]
/// when the image dimensions are not `[rows, cols]`.
pub fn check_header(
    dataset: DatasetName,
    path: &Path,
    kind: IdxKind,
    prefix: &[u8],
    len: u64,
) -> Result<usize, DataError> {
    let (magic, header, what) = match kind {
        IdxKind::Images => (IMAGES_MAGIC, IMAGES_HEADER, "IDX images, u8, 3 dimensions"),
        IdxKind::Labels => (LABELS_MAGIC, LABELS_HEADER, "IDX labels, u8, 1 dimension"),
    };
    if prefix.len() < 4 {
        return Err(DataError::Truncated {
            dataset,
            path: path.to_path_buf(),
            expected: header as u64,
            found: len,
        });
    }
    let found = be_u32(prefix, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            dataset,
            path: path.to_path_buf(),
            expected: magic,
            found,
            what,
        });
    }
    if prefix.len() < header {
        return Err(DataError::Truncated {
            dataset,
            path: path.to_path_buf(),
            expected: header as u64,
            found: len,
        });
    }
    let count = be_u32(prefix, 4) as usize;
    let record = match kind {
        IdxKind::Labels => 1,
        IdxKind::Images => {
            let [_, h, w] = dataset.shape();
            let (rows, cols) = (be_u32(prefix, 8) as usize, be_u32(prefix, 12) as usize);
            if (rows, cols) != (h, w) {
                return Err(DataError::WrongImageSize {
                    dataset,
                    path: path.to_path_buf(),
                    expected: format!("{h}x{w}"),
                    found: format!("{rows}x{cols}"),
                });
            }
            rows * cols
        }
    };
    let expected = header as u64 + count as u64 * record as u64;
    if len != expected {
        return Err(DataError::Truncated {
            dataset,
            path: path.to_path_buf(),
            expected,
            found: len,
        });
    }
    Ok(count)
}

/// Checks that every label is below `classes`.
///
/// # Errors
/// [`DataError::BadLabel`] naming the first bad record.
pub fn check_labels(
    dataset: DatasetName,
    path: &Path,
    labels: &[u8],
    classes: usize,
) -> Result<(), DataError> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(index) => Err(DataError::BadLabel {
            dataset,
            path: path.to_path_buf(),
            index,
            label: labels[index],
            classes,
        }),
        None => Ok(()),
    }
}

/// One IDX file found on disk, header checked.
struct Checked {
    path: PathBuf,
    count: usize,
    /// The whole decompressed file when it had to be read (gz or labels).
    bytes: Option<Vec<u8>>,
    gz: bool,
}

/// Finds `<dir>/<name>` or `<dir>/<name>.gz`.
///
/// # Errors
/// [`DataError::Missing`] naming the uncompressed path;
/// [`DataError::PermissionDenied`] when `dir` cannot be searched.
pub fn locate(dataset: DatasetName, dir: &Path, name: &str) -> Result<(PathBuf, bool), DataError> {
    let raw = dir.join(name);
    if access::is_file(dataset, &raw)? {
        return Ok((raw, false));
    }
    let gz = dir.join(format!("{name}.gz"));
    if access::is_file(dataset, &gz)? {
        return Ok((gz, true));
    }
    Err(DataError::Missing { dataset, path: raw })
}

/// Reads a whole gzip file into memory.
fn gunzip(dataset: DatasetName, path: &Path) -> Result<Vec<u8>, DataError> {
    let file = File::open(path).map_err(read_err(dataset, path))?;
    let mut out = Vec::new();
    GzDecoder::new(std::io::BufReader::new(file))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Corrupt {
            dataset,
            path: path.to_path_buf(),
            reason: format!("not a complete gzip file ({e})"),
        })?;
    Ok(out)
}

fn check_file(dataset: DatasetName, dir: &Path, name: &str) -> Result<Checked, DataError> {
    let (path, gz) = locate(dataset, dir, name)?;
    let kind = IdxKind::of(name);
    // Gzipped files and (small) label files are read whole once; raw image
    // files only for their header.
    let whole = if gz {
        Some(gunzip(dataset, &path)?)
    } else if kind == IdxKind::Labels {
        Some(std::fs::read(&path).map_err(read_err(dataset, &path))?)
    } else {
        None
    };
    let count = match &whole {
        Some(bytes) => check_header(dataset, &path, kind, bytes, bytes.len() as u64)?,
        None => {
            let mut file = File::open(&path).map_err(read_err(dataset, &path))?;
            let len = file.metadata().map_err(read_err(dataset, &path))?.len();
            let mut prefix = Vec::with_capacity(IMAGES_HEADER);
            (&mut file)
                .take(IMAGES_HEADER as u64)
                .read_to_end(&mut prefix)
                .map_err(read_err(dataset, &path))?;
            check_header(dataset, &path, kind, &prefix, len)?
        }
    };
    Ok(Checked {
        path,
        count,
        bytes: whole,
        gz,
    })
}

/// The records of a checked file (header stripped), `record` bytes each.
fn payload(
    dataset: DatasetName,
    file: Checked,
    header: usize,
    record: usize,
) -> Result<Vec<u8>, DataError> {
    let mut bytes = match file.bytes {
        Some(b) => b,
        None => std::fs::read(&file.path).map_err(read_err(dataset, &file.path))?,
    };
    let expected = header + file.count * record;
    if bytes.len() != expected {
        // The file changed between the header check and this read.
        return Err(DataError::Truncated {
            dataset,
            path: file.path,
            expected: expected as u64,
            found: bytes.len() as u64,
        });
    }
    bytes.drain(..header);
    Ok(bytes)
}

/// Number of training and test records of the canonical files.
const CANONICAL_COUNTS: (usize, usize) = (60_000, 10_000);

/// Loads the four IDX files of an MNIST-like dataset from `dir`.
///
/// # Errors
/// Any header, length, count or label error, each naming the file.
pub fn load(dataset: DatasetName, dir: &Path) -> Result<RawDataset, DataError> {
    let checked: [Checked; 4] = [
        check_file(dataset, dir, TRAIN_IMAGES)?,
        check_file(dataset, dir, TRAIN_LABELS)?,
        check_file(dataset, dir, TEST_IMAGES)?,
        check_file(dataset, dir, TEST_LABELS)?,
    ];
    for pair in checked.chunks(2) {
        if pair[0].count != pair[1].count {
            return Err(DataError::CountMismatch {
                dataset,
                images_path: pair[0].path.clone(),
                labels_path: pair[1].path.clone(),
                images: pair[0].count,
                labels: pair[1].count,
            });
        }
    }
    let classes = dataset.classes().len();
    for labels in [&checked[1], &checked[3]] {
        let bytes = labels.bytes.as_deref().unwrap_or_default();
        check_labels(dataset, &labels.path, &bytes[LABELS_HEADER..], classes)?;
    }
    let stored = |images: &Checked, labels: &Checked| Stored {
        images: images.path.clone(),
        labels: labels.path.clone(),
    };
    let (train_from, test_from) = (
        stored(&checked[0], &checked[1]),
        stored(&checked[2], &checked[3]),
    );
    let raw = |(train, test, provenance): (RawSplit, RawSplit, String)| RawDataset {
        classes: dataset.classes().iter().map(|c| c.to_string()).collect(),
        train,
        test,
        provenance,
        train_from,
        test_from,
    };
    let canonical =
        checked.iter().all(|c| !c.gz) && (checked[0].count, checked[2].count) == CANONICAL_COUNTS;
    if canonical {
        if let Some(dir_str) = dir.to_str() {
            return with_mnist_crate(dataset, dir_str, &checked).map(raw);
        }
    }
    let source = format!(
        "IDX files in {}{}",
        dir.display(),
        if checked.iter().any(|c| c.gz) {
            " (gzipped)"
        } else {
            ""
        }
    );
    let pixels = dataset.shape().iter().product();
    let images = |f| payload(dataset, f, IMAGES_HEADER, pixels);
    let labels = |f| payload(dataset, f, LABELS_HEADER, 1);
    let [train_images, train_labels, test_images, test_labels] = checked;
    let train = RawSplit {
        pixels: images(train_images)?,
        labels: labels(train_labels)?,
    };
    let test = RawSplit {
        pixels: images(test_images)?,
        labels: labels(test_labels)?,
    };
    Ok(raw((train, test, source)))
}

/// Parses canonical, already checked raw files with the `mnist` crate.
fn with_mnist_crate(
    dataset: DatasetName,
    dir: &str,
    checked: &[Checked],
) -> Result<(RawSplit, RawSplit, String), DataError> {
    let parsed = std::panic::catch_unwind(|| {
        mnist::MnistBuilder::new()
            .base_path(dir)
            .training_images_filename(TRAIN_IMAGES)
            .training_labels_filename(TRAIN_LABELS)
            .test_images_filename(TEST_IMAGES)
            .test_labels_filename(TEST_LABELS)
            .training_set_length(CANONICAL_COUNTS.0 as u32)
            .validation_set_length(0)
            .test_set_length(CANONICAL_COUNTS.1 as u32)
            .finalize()
    })
    .map_err(|_| DataError::Corrupt {
        dataset,
        path: checked[0].path.clone(),
        reason: "the IDX parser rejected the files (were they changed while loading?)".to_string(),
    })?;
    let train = RawSplit {
        pixels: parsed.trn_img,
        labels: parsed.trn_lbl,
    };
    let test = RawSplit {
        pixels: parsed.tst_img,
        labels: parsed.tst_lbl,
    };
    // The labels were checked from the bytes read above; the parser must agree.
    for (labels, file) in [(&train.labels, &checked[1]), (&test.labels, &checked[3])] {
        let bytes = file.bytes.as_deref().unwrap_or_default();
        if bytes.get(LABELS_HEADER..) != Some(labels.as_slice()) {
            return Err(DataError::Corrupt {
                dataset,
                path: file.path.clone(),
                reason: "the file changed while loading".to_string(),
            });
        }
    }
    Ok((train, test, format!("IDX files in {dir}")))
}
