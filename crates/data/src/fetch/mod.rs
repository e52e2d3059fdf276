//! Fetching: try each source in order, verify, then install into
//! `<root>/<name>/`. Partial transfers live in `*.part` files and are
//! renamed only once verified, so a file that looks complete is complete.
//! The bytes are moved by [`transfer`] and checked against the published
//! sums by [`checksum`].

mod checksum;
mod error;
mod transfer;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::access::{self, read_err, write_err};
use crate::cifar;
use crate::config::{DataConfig, DatasetName};
use crate::error::{DataError, SourceFailure};
use crate::idx::{self, IdxKind};
use crate::progress::{Progress, Stderr};
use crate::source::{Location, OpenError, Source};
use error::Failure;

pub use checksum::Expect;
pub use error::FetchError;

/// Where a fetched dataset came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The dataset.
    pub dataset: DatasetName,
    /// The folder it is in.
    pub dir: PathBuf,
    /// The source label, or `None` when it was already present and verified.
    pub source: Option<String>,
}

/// Makes the dataset of `cfg` available: quiet and cheap when its files are
/// present (they are verified by [`crate::load`]), else fetched as
/// [`fetch`] does, using `mirror` or env `CLR_DATA_MIRROR`.
///
/// # Errors
/// [`DataError::PermissionDenied`] when the data directory cannot be looked
/// into or written; [`DataError::AllSourcesFailed`] listing each source and
/// why it failed; [`DataError::Write`] when the data directory cannot be
/// written.
pub fn ensure_available(cfg: &DataConfig, mirror: Option<&str>) -> Result<(), DataError> {
    ensure_available_with(cfg, mirror, &Stderr)
}

/// [`ensure_available`], telling `progress` what it does.
///
/// # Errors
/// As [`ensure_available`].
pub fn ensure_available_with(
    cfg: &DataConfig,
    mirror: Option<&str>,
    progress: &dyn Progress,
) -> Result<(), DataError> {
    if presence(cfg.dataset, &cfg.dataset_dir())? {
        return Ok(());
    }
    fetch_with(cfg.dataset, &cfg.root(), mirror, progress).map(|_| ())
}

/// Whether the files of `dataset` are in `dir` (`<root>/<name>`), without
/// verifying their content; `false` too when `dir` cannot be looked into
/// ([`ensure_available`] and [`crate::load`] report that).
pub fn is_present(dataset: DatasetName, dir: &Path) -> bool {
    presence(dataset, dir).unwrap_or(false)
}

/// [`is_present`], with a permission error kept apart from "not there".
fn presence(dataset: DatasetName, dir: &Path) -> Result<bool, DataError> {
    match dataset {
        DatasetName::Cifar10 => {
            let bin = dir.join(cifar::BINARY_DIR);
            let mut binary = true;
            for f in cifar::TRAIN_BATCHES.iter().chain([&cifar::TEST_BATCH]) {
                binary &= access::is_file(dataset, &bin.join(f))?;
            }
            Ok(binary
                || (access::is_dir(dataset, &dir.join("train"))?
                    && access::is_dir(dataset, &dir.join("test"))?))
        }
        _ => {
            for f in idx::FILES {
                match idx::locate(dataset, dir, f) {
                    Ok(_) => {}
                    Err(DataError::Missing { .. }) => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            Ok(true)
        }
    }
}

/// Fetches `dataset` into `<root>/<name>/` from the standard sources
/// ([`Source::standard`]): files already there are verified and kept.
///
/// # Errors
/// As [`fetch_from`].
pub fn fetch(
    dataset: DatasetName,
    root: &Path,
    mirror: Option<&str>,
) -> Result<Fetched, DataError> {
    fetch_with(dataset, root, mirror, &Stderr)
}

/// [`fetch`], telling `progress` what it does.
///
/// # Errors
/// As [`fetch_from`].
pub fn fetch_with(
    dataset: DatasetName,
    root: &Path,
    mirror: Option<&str>,
    progress: &dyn Progress,
) -> Result<Fetched, DataError> {
    fetch_from_with(
        dataset,
        root,
        &Source::standard(dataset, mirror),
        &Expect::standard(dataset),
        progress,
    )
}

/// Fetches `dataset` into `<root>/<name>/`, trying `sources` in order (each
/// reported on stderr) and installing only files that satisfy `expect`.
///
/// # Errors
/// [`DataError::AllSourcesFailed`] listing each source and why it failed;
/// [`DataError::PermissionDenied`] (or [`DataError::Write`]) when the data
/// directory cannot be read or written, whatever the source: it stops the
/// fetch at once.
pub fn fetch_from(
    dataset: DatasetName,
    root: &Path,
    sources: &[Source],
    expect: &Expect,
) -> Result<Fetched, DataError> {
    fetch_from_with(dataset, root, sources, expect, &Stderr)
}

/// [`fetch_from`], reporting each source and step to `progress` instead of
/// stderr.
///
/// # Errors
/// As [`fetch_from`].
pub fn fetch_from_with(
    dataset: DatasetName,
    root: &Path,
    sources: &[Source],
    expect: &Expect,
    progress: &dyn Progress,
) -> Result<Fetched, DataError> {
    let dir = root.join(dataset.as_str());
    fs::create_dir_all(&dir).map_err(write_err(dataset, &dir))?;
    let mut missing: Vec<&str> = Vec::new();
    match dataset {
        DatasetName::Cifar10 => match check_cifar_layout(&dir, expect) {
            Ok(()) => {}
            Err(Failure::Local(e)) => return Err(e),
            Err(Failure::Source(why)) => {
                if presence(dataset, &dir)? {
                    progress.note(&format!("{dataset}: {why}; fetching again"));
                }
                missing.push("archive");
            }
        },
        _ => {
            for name in idx::FILES {
                let path = dir.join(name);
                if !access::is_file(dataset, &path)? {
                    missing.push(name);
                    continue;
                }
                match verify_idx(dataset, &path, name, None, expect) {
                    Ok(()) => {}
                    Err(Failure::Local(e)) => return Err(e),
                    Err(Failure::Source(why)) => {
                        progress.note(&format!("{dataset}: {why}; fetching it again"));
                        missing.push(name);
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        progress.note(&format!(
            "{dataset}: present and verified in {}",
            dir.display()
        ));
        return Ok(Fetched {
            dataset,
            dir,
            source: None,
        });
    }
    let mut attempts = Vec::new();
    for src in sources {
        progress.note(&format!("{dataset}: trying {}", src.label));
        let result = match dataset {
            DatasetName::Cifar10 => fetch_cifar(src, &dir, expect, progress),
            _ => fetch_idx(dataset, src, &dir, &mut missing, expect, progress),
        };
        match result {
            Ok(()) => {
                progress.note(&format!(
                    "{dataset}: installed from {} into {}",
                    src.label,
                    dir.display()
                ));
                return Ok(Fetched {
                    dataset,
                    dir,
                    source: Some(src.label.clone()),
                });
            }
            Err(Failure::Source(reason)) => {
                progress.note(&format!("{dataset}: {} failed: {reason}", src.label));
                attempts.push(SourceFailure {
                    source: src.label.clone(),
                    reason: reason.to_string(),
                });
            }
            Err(Failure::Local(e)) => return Err(e),
        }
    }
    Err(DataError::AllSourcesFailed { dataset, attempts })
}

/// Verifies an uncompressed IDX file of the data directory: SHA-256 when
/// published, header, record count and labels always. `digest` is the
/// SHA-256 when already known.
fn verify_idx(
    dataset: DatasetName,
    path: &Path,
    name: &str,
    digest: Option<[u8; 32]>,
    expect: &Expect,
) -> Result<(), Failure> {
    let bytes = fs::read(path)
        .map_err(read_err(dataset, path))
        .map_err(Failure::check)?;
    let file = path.display().to_string();
    checksum::verify(expect, name, &file, || {
        digest.unwrap_or_else(|| checksum::sha256(&bytes))
    })
    .map_err(Failure::Source)?;
    let kind = IdxKind::of(name);
    let count = idx::check_header(dataset, path, kind, &bytes, bytes.len() as u64)
        .map_err(Failure::check)?;
    let want = if name.starts_with("train") {
        expect.counts.0
    } else {
        expect.counts.1
    };
    if count != want {
        return Err(Failure::Source(FetchError::Records {
            path: path.to_path_buf(),
            count,
            expected: want,
        }));
    }
    if kind == IdxKind::Labels {
        idx::check_labels(dataset, path, &bytes[8..], dataset.classes().len())
            .map_err(Failure::check)?;
    }
    Ok(())
}

/// Fetches the IDX files still `missing` from one source, removing each
/// from the list once installed.
fn fetch_idx(
    dataset: DatasetName,
    src: &Source,
    dir: &Path,
    missing: &mut Vec<&str>,
    expect: &Expect,
    progress: &dyn Progress,
) -> Result<(), Failure> {
    while let Some(&name) = missing.first() {
        let gz_rel = format!("{}{name}.gz", src.prefix);
        let raw_rel = format!("{}{name}", src.prefix);
        let (opened, gz) = match src.location.open(&gz_rel) {
            Ok(o) => (o, true),
            Err(OpenError::NotFound(_)) => match src.location.open(&raw_rel) {
                Ok(o) => (o, false),
                Err(OpenError::NotFound(_)) => {
                    return Err(Failure::Source(FetchError::NoFile {
                        gz: gz_rel,
                        raw: raw_rel,
                    }))
                }
                Err(e) => return Err(Failure::Source(FetchError::Open(e))),
            },
            Err(e) => return Err(Failure::Source(FetchError::Open(e))),
        };
        let part = dir.join(format!("{name}.part"));
        let msg = format!("{dataset}: {name}");
        let result = transfer::copy_to_part(dataset, opened.0, opened.1, gz, &part, &msg, progress)
            .and_then(|digest| verify_idx(dataset, &part, name, Some(digest), expect));
        if let Err(why) = result {
            let _ = fs::remove_file(&part);
            return Err(why);
        }
        let dest = dir.join(name);
        fs::rename(&part, &dest).map_err(write_err(dataset, &dest))?;
        missing.remove(0);
    }
    Ok(())
}

/// Checks an installed (or staged) CIFAR-10 folder by its record counts.
fn check_cifar_layout(dir: &Path, expect: &Expect) -> Result<(), Failure> {
    let (train, test) = cifar::count_records(dir).map_err(Failure::check)?;
    if (train, test) != expect.counts {
        return Err(Failure::Source(FetchError::Images {
            dir: dir.to_path_buf(),
            train,
            test,
            expected: expect.counts,
        }));
    }
    Ok(())
}

/// Fetches one CIFAR-10 archive from a source, unpacks it into a staging
/// folder, verifies it, then moves its folders into `dir`.
fn fetch_cifar(
    src: &Source,
    dir: &Path,
    expect: &Expect,
    progress: &dyn Progress,
) -> Result<(), Failure> {
    const DS: DatasetName = DatasetName::Cifar10;
    let mut not_found = Vec::new();
    for archive in &src.archives {
        let rel = format!("{}{archive}", src.prefix);
        let (reader, len) = match src.location.open(&rel) {
            Ok(o) => o,
            Err(OpenError::NotFound(what)) => {
                not_found.push(what);
                continue;
            }
            Err(e) => return Err(Failure::Source(FetchError::Open(e))),
        };
        // Remote archives are downloaded whole first, local ones read in place.
        let part = dir.join(format!("{archive}.part"));
        let (reader, len): (Box<dyn Read + Send>, Option<u64>) = match src.location {
            Location::Dir(_) => (reader, len),
            Location::Http(_) => {
                let msg = format!("cifar10: {archive}");
                let result = transfer::copy_to_part(DS, reader, len, false, &part, &msg, progress)
                    .and_then(|_| {
                        File::open(&part).map_err(|e| Failure::Local(read_err(DS, &part)(e)))
                    });
                match result {
                    Ok(f) => {
                        let len = f.metadata().ok().map(|m| m.len());
                        (Box::new(f), len)
                    }
                    Err(why) => {
                        let _ = fs::remove_file(&part);
                        return Err(why);
                    }
                }
            }
        };
        let staging = dir.join(".unpack.part");
        let result = transfer::unpack(reader, len, archive, &staging, progress)
            .and_then(|digest| {
                checksum::verify(expect, archive, archive, || digest).map_err(Failure::Source)
            })
            .and_then(|()| check_cifar_layout(&staging, expect))
            .and_then(|()| transfer::install(&staging, dir));
        let _ = fs::remove_file(&part);
        let _ = fs::remove_dir_all(&staging);
        return result;
    }
    Err(Failure::Source(FetchError::NoArchive(not_found)))
}
