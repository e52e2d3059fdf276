//! The canonical binary layout: `cifar-10-batches-bin/`, five training
//! batch files and one test batch file of 3073-byte records (label byte,
//! then the R, G and B planes).

use std::fs;
use std::path::Path;

use super::{read_err, DS, IMAGE, TEST_BATCH, TRAIN_BATCHES};
use crate::access;
use crate::config::CIFAR10_CLASSES;
use crate::error::DataError;
use crate::raw::{RawDataset, RawSplit, Stored};

/// Bytes per binary record: label byte + image.
const RECORD: usize = 1 + IMAGE;

/// The split a binary batch file belongs to, for messages.
fn split_of(name: &str) -> &'static str {
    if name == TEST_BATCH {
        "test"
    } else {
        "training"
    }
}

/// Parses one binary batch file (any whole number of records) into `out`.
///
/// # Errors
/// [`DataError::NoImages`] for an empty file (every batch file holds
/// records: an empty one is a lost part of its split);
/// [`DataError::Truncated`] unless the file is a whole number of 3073-byte
/// records; [`DataError::BadLabel`] for a label above 9.
pub fn parse_batch(path: &Path, bytes: &[u8], out: &mut RawSplit) -> Result<(), DataError> {
    if bytes.is_empty() {
        return Err(DataError::NoImages {
            dataset: DS,
            split: split_of(&path.file_name().unwrap_or_default().to_string_lossy()),
            path: path.to_path_buf(),
        });
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(DataError::Truncated {
            dataset: DS,
            path: path.to_path_buf(),
            expected: (bytes.len() / RECORD + 1) as u64 * RECORD as u64,
            found: bytes.len() as u64,
        });
    }
    for (index, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CIFAR10_CLASSES.len() {
            return Err(DataError::BadLabel {
                dataset: DS,
                path: path.to_path_buf(),
                index,
                label: rec[0],
                classes: CIFAR10_CLASSES.len(),
            });
        }
        out.labels.push(rec[0]);
        out.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// Loads the five training batches and the test batch of `bin`.
///
/// # Errors
/// [`DataError::Missing`] for a batch file that is not there; any read or
/// [`parse_batch`] error.
pub fn load(bin: &Path) -> Result<RawDataset, DataError> {
    let read = |names: &[&str]| -> Result<RawSplit, DataError> {
        let mut split = RawSplit::default();
        for name in names {
            let path = bin.join(name);
            if !access::is_file(DS, &path)? {
                return Err(DataError::Missing { dataset: DS, path });
            }
            let bytes = fs::read(&path).map_err(read_err(&path))?;
            parse_batch(&path, &bytes, &mut split)?;
        }
        Ok(split)
    };
    Ok(RawDataset {
        classes: CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect(),
        train: read(&TRAIN_BATCHES)?,
        test: read(&[TEST_BATCH])?,
        provenance: format!("binary batches in {}", bin.display()),
        train_from: Stored::at(bin.to_path_buf()),
        test_from: Stored::at(bin.join(TEST_BATCH)),
    })
}

/// Counts the training and test records of the batch files in `bin`,
/// checking their sizes but decoding nothing.
///
/// # Errors
/// [`DataError::Missing`], [`DataError::NoImages`] or
/// [`DataError::Truncated`] for the first batch file that is not there, is
/// empty or is not a whole number of records.
pub fn count_records(bin: &Path) -> Result<(usize, usize), DataError> {
    let count = |name: &str| -> Result<usize, DataError> {
        let path = bin.join(name);
        let Some(meta) = access::probe(DS, &path)? else {
            return Err(DataError::Missing { dataset: DS, path });
        };
        let len = meta.len();
        if len == 0 {
            return Err(DataError::NoImages {
                dataset: DS,
                split: split_of(name),
                path,
            });
        }
        if len % RECORD as u64 != 0 {
            return Err(DataError::Truncated {
                dataset: DS,
                path,
                expected: (len / RECORD as u64 + 1) * RECORD as u64,
                found: len,
            });
        }
        Ok((len / RECORD as u64) as usize)
    };
    let mut train = 0;
    for name in TRAIN_BATCHES {
        train += count(name)?;
    }
    Ok((train, count(TEST_BATCH)?))
}
