//! Moving bytes: copying a source's file (gunzipped on the way) into a
//! `*.part` file, unpacking a `.tar.gz` archive into a staging folder, and
//! installing what was staged.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;

use super::checksum::Hashing;
use super::error::{Failure, FetchError};
use crate::access::{self, read_err, write_err};
use crate::cifar;
use crate::config::DatasetName;
use crate::progress::{Metered, Progress, Unit};

/// Copies `reader` (gunzipped when `gz`) into `part`, returning the SHA-256
/// of what was written. `msg` names the transfer to `progress`.
pub(super) fn copy_to_part(
    dataset: DatasetName,
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
    gz: bool,
    part: &Path,
    msg: &str,
    progress: &dyn Progress,
) -> Result<[u8; 32], Failure> {
    let meter = progress.meter(msg, len, Unit::Bytes);
    let mut counted = Metered::new(reader, meter.as_ref());
    let input: Box<dyn Read + '_> = if gz {
        Box::new(GzDecoder::new(BufReader::new(&mut counted)))
    } else {
        Box::new(&mut counted)
    };
    let mut input = Hashing::new(input);
    let file = File::create(part).map_err(write_err(dataset, part))?;
    let mut w = BufWriter::new(file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| Failure::Source(FetchError::Transfer(e)))?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n]).map_err(write_err(dataset, part))?;
    }
    let digest = input.finish();
    // The whole transfer must arrive, including anything after the gzip
    // stream, and match the announced length.
    std::io::copy(&mut counted, &mut std::io::sink())
        .map_err(|e| Failure::Source(FetchError::Transfer(e)))?;
    let received = counted.count();
    meter.finish();
    if let Some(n) = len.filter(|&n| n != received) {
        return Err(Failure::Source(FetchError::Incomplete {
            received,
            expected: n,
        }));
    }
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(write_err(dataset, part))?;
    Ok(digest)
}

/// Unpacks the `.tar.gz` `archive` read from `reader` into a fresh
/// `staging` folder, returning the SHA-256 of the whole archive (whatever
/// follows its end-of-archive marker included).
pub(super) fn unpack(
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
    archive: &str,
    staging: &Path,
    progress: &dyn Progress,
) -> Result<[u8; 32], Failure> {
    const DS: DatasetName = DatasetName::Cifar10;
    if access::probe(DS, staging)?.is_some() {
        fs::remove_dir_all(staging).map_err(write_err(DS, staging))?;
    }
    fs::create_dir_all(staging).map_err(write_err(DS, staging))?;
    let meter = progress.meter(&format!("cifar10: unpacking {archive}"), len, Unit::Bytes);
    let mut hashing = Hashing::new(BufReader::new(Metered::new(reader, meter.as_ref())));
    let mut tar = tar::Archive::new(GzDecoder::new(&mut hashing));
    tar.unpack(staging).map_err(|e| {
        // The archive was opened already: a refusal comes from writing
        // into the staging folder.
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            Failure::Local(write_err(DS, staging)(e))
        } else {
            Failure::Source(FetchError::NotAnArchive {
                archive: archive.to_string(),
                source: e,
            })
        }
    })?;
    drop(tar);
    // Hash whatever follows the end-of-archive marker too.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| {
        Failure::Source(FetchError::ArchiveRead {
            archive: archive.to_string(),
            source: e,
        })
    })?;
    meter.finish();
    Ok(hashing.finish())
}

/// Moves every top-level entry of `staging` into `dir`, replacing what was
/// there, and drops a decoding cache that no longer matches.
pub(super) fn install(staging: &Path, dir: &Path) -> Result<(), Failure> {
    const DS: DatasetName = DatasetName::Cifar10;
    for entry in fs::read_dir(staging).map_err(read_err(DS, staging))? {
        let entry = entry.map_err(read_err(DS, staging))?;
        let dest = dir.join(entry.file_name());
        match access::probe(DS, &dest)? {
            Some(meta) if meta.is_dir() => {
                fs::remove_dir_all(&dest).map_err(write_err(DS, &dest))?
            }
            Some(_) => fs::remove_file(&dest).map_err(write_err(DS, &dest))?,
            None => {}
        }
        fs::rename(entry.path(), &dest).map_err(write_err(DS, &dest))?;
    }
    let _ = fs::remove_file(dir.join(cifar::CACHE_FILE));
    Ok(())
}
