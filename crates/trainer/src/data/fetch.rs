//! Fetching: try each source in order, verify, then install into
//! `<root>/<name>/`. Partial transfers live in `*.part` files and are
//! renamed only once verified, so a file that looks complete is complete.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::access::{self, read_err, write_err};
use super::cifar;
use super::config::{DataConfig, DatasetName};
use super::error::{DataError, SourceFailure};
use super::idx::{self, IdxKind};
use super::source::{Location, OpenError, Source};

/// What fetched files must satisfy before they are installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Published SHA-256 (lowercase hex) by file name: of the *uncompressed*
    /// IDX files (gzip encodings differ between mirrors), or of an archive.
    pub sha256: Vec<(String, String)>,
    /// Training and test record counts.
    pub counts: (usize, usize),
}

impl Expect {
    /// The published files of `dataset`.
    pub fn standard(dataset: DatasetName) -> Expect {
        let table: &[(&str, &str)] = match dataset {
            DatasetName::Mnist => &[
                (
                    idx::TRAIN_IMAGES,
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                ),
                (
                    idx::TRAIN_LABELS,
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                ),
                (
                    idx::TEST_IMAGES,
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                ),
                (
                    idx::TEST_LABELS,
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                ),
            ],
            DatasetName::FashionMnist => &[
                (
                    idx::TRAIN_IMAGES,
                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                ),
                (
                    idx::TRAIN_LABELS,
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                ),
                (
                    idx::TEST_IMAGES,
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                ),
                (
                    idx::TEST_LABELS,
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                ),
            ],
            // The JPEG re-encoding of the offline mirror; the binary
            // archive is checked by its record counts.
            DatasetName::Cifar10 => &[(
                "cifar10-jpg.tar.gz",
                "d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965",
            )],
        };
        let counts = match dataset {
            DatasetName::Cifar10 => (50_000, 10_000),
            _ => (60_000, 10_000),
        };
        Expect {
            sha256: table
                .iter()
                .map(|(n, h)| (n.to_string(), h.to_string()))
                .collect(),
            counts,
        }
    }

    fn sha_of(&self, name: &str) -> Option<&str> {
        self.sha256
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str())
    }
}

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
/// present (they are verified by [`super::load`]), else fetched as
/// [`fetch`] does, using `mirror` or env `CLR_DATA_MIRROR`.
///
/// # Errors
/// [`DataError::PermissionDenied`] when the data directory cannot be looked
/// into or written; [`DataError::AllSourcesFailed`] listing each source and
/// why it failed; [`DataError::Write`] when the data directory cannot be
/// written.
pub fn ensure_available(cfg: &DataConfig, mirror: Option<&str>) -> Result<(), DataError> {
    if presence(cfg.dataset, &cfg.dataset_dir())? {
        return Ok(());
    }
    fetch(cfg.dataset, &cfg.root(), mirror).map(|_| ())
}

/// Whether the files of `dataset` are in `dir` (`<root>/<name>`), without
/// verifying their content; `false` too when `dir` cannot be looked into
/// ([`ensure_available`] and [`super::load`] report that).
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

/// Why one step of a fetch failed.
enum Failure {
    /// The source cannot deliver (file not found, transfer failed, wrong
    /// content): the next source may.
    Source(String),
    /// The data directory itself cannot be used (e.g. permission denied):
    /// no source can help, so the fetch stops with this error.
    Local(DataError),
}

impl Failure {
    /// A check of fetched or installed files: a permission problem is the
    /// data directory's, anything else the content's.
    fn check(e: DataError) -> Failure {
        match e {
            DataError::PermissionDenied { .. } => Failure::Local(e),
            e => Failure::Source(e.to_string()),
        }
    }
}

impl From<DataError> for Failure {
    /// An I/O failure in the data directory.
    fn from(e: DataError) -> Failure {
        Failure::Local(e)
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
    fetch_from(
        dataset,
        root,
        &Source::standard(dataset, mirror),
        &Expect::standard(dataset),
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
    let dir = root.join(dataset.as_str());
    fs::create_dir_all(&dir).map_err(write_err(dataset, &dir))?;
    let mut missing: Vec<&str> = Vec::new();
    match dataset {
        DatasetName::Cifar10 => match check_cifar_layout(&dir, expect) {
            Ok(()) => {}
            Err(Failure::Local(e)) => return Err(e),
            Err(Failure::Source(why)) => {
                if presence(dataset, &dir)? {
                    eprintln!("{dataset}: {why}; fetching again");
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
                        eprintln!("{dataset}: {why}; fetching it again");
                        missing.push(name);
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        eprintln!("{dataset}: present and verified in {}", dir.display());
        return Ok(Fetched {
            dataset,
            dir,
            source: None,
        });
    }
    let mut attempts = Vec::new();
    for src in sources {
        eprintln!("{dataset}: trying {}", src.label);
        let result = match dataset {
            DatasetName::Cifar10 => fetch_cifar(src, &dir, expect),
            _ => fetch_idx(dataset, src, &dir, &mut missing, expect),
        };
        match result {
            Ok(()) => {
                eprintln!(
                    "{dataset}: installed from {} into {}",
                    src.label,
                    dir.display()
                );
                return Ok(Fetched {
                    dataset,
                    dir,
                    source: Some(src.label.clone()),
                });
            }
            Err(Failure::Source(reason)) => {
                eprintln!("{dataset}: {} failed: {reason}", src.label);
                attempts.push(SourceFailure {
                    source: src.label.clone(),
                    reason,
                });
            }
            Err(Failure::Local(e)) => return Err(e),
        }
    }
    Err(DataError::AllSourcesFailed { dataset, attempts })
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes_bar(len: Option<u64>, msg: String) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(msg);
    bar
}

/// A reader that hashes everything read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Copies `reader` (gunzipped when `gz`) into `part`, returning the SHA-256
/// of what was written.
fn copy_to_part(
    dataset: DatasetName,
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
    gz: bool,
    part: &Path,
    msg: String,
) -> Result<[u8; 32], Failure> {
    let bar = bytes_bar(len, msg);
    let mut counted = bar.wrap_read(reader);
    let mut input: Box<dyn Read + '_> = if gz {
        Box::new(GzDecoder::new(BufReader::new(&mut counted)))
    } else {
        Box::new(&mut counted)
    };
    let file = File::create(part).map_err(write_err(dataset, part))?;
    let mut hasher = Sha256::new();
    let mut w = BufWriter::new(file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| Failure::Source(format!("transfer failed: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n]).map_err(write_err(dataset, part))?;
    }
    drop(input);
    // The whole transfer must arrive, including anything after the gzip
    // stream, and match the announced length.
    std::io::copy(&mut counted, &mut std::io::sink())
        .map_err(|e| Failure::Source(format!("transfer failed: {e}")))?;
    let received = bar.position();
    bar.finish_and_clear();
    if let Some(n) = len.filter(|&n| n != received) {
        return Err(Failure::Source(format!(
            "transfer incomplete: received {received} of {n} bytes"
        )));
    }
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(write_err(dataset, part))?;
    Ok(hasher.finalize().into())
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
    if let Some(want) = expect.sha_of(name) {
        let got = digest.unwrap_or_else(|| Sha256::digest(&bytes).into());
        if hex(&got) != want {
            return Err(Failure::Source(format!(
                "{} has SHA-256 {}, expected {want}",
                path.display(),
                hex(&got)
            )));
        }
    }
    let kind = IdxKind::of(name);
    let count = idx::check_header(dataset, path, kind, &bytes, bytes.len() as u64)
        .map_err(Failure::check)?;
    let want = if name.starts_with("train") {
        expect.counts.0
    } else {
        expect.counts.1
    };
    if count != want {
        return Err(Failure::Source(format!(
            "{} holds {count} records, expected {want}",
            path.display()
        )));
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
) -> Result<(), Failure> {
    while let Some(&name) = missing.first() {
        let gz_rel = format!("{}{name}.gz", src.prefix);
        let raw_rel = format!("{}{name}", src.prefix);
        let (opened, gz) = match src.location.open(&gz_rel) {
            Ok(o) => (o, true),
            Err(OpenError::NotFound(_)) => match src.location.open(&raw_rel) {
                Ok(o) => (o, false),
                Err(OpenError::NotFound(_)) => {
                    return Err(Failure::Source(format!("has no {gz_rel} (nor {raw_rel})")))
                }
                Err(e) => return Err(Failure::Source(e.to_string())),
            },
            Err(e) => return Err(Failure::Source(e.to_string())),
        };
        let part = dir.join(format!("{name}.part"));
        let msg = format!("{dataset}: {name}");
        let result = copy_to_part(dataset, opened.0, opened.1, gz, &part, msg)
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
        return Err(Failure::Source(format!(
            "{} holds {train} training and {test} test images, expected {} and {}",
            dir.display(),
            expect.counts.0,
            expect.counts.1
        )));
    }
    Ok(())
}

/// Fetches one CIFAR-10 archive from a source, unpacks it into a staging
/// folder, verifies it, then moves its folders into `dir`.
fn fetch_cifar(src: &Source, dir: &Path, expect: &Expect) -> Result<(), Failure> {
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
            Err(e) => return Err(Failure::Source(e.to_string())),
        };
        // Remote archives are downloaded whole first, local ones read in place.
        let part = dir.join(format!("{archive}.part"));
        let (reader, len): (Box<dyn Read + Send>, Option<u64>) = match src.location {
            Location::Dir(_) => (reader, len),
            Location::Http(_) => {
                let msg = format!("cifar10: {archive}");
                let result = copy_to_part(DS, reader, len, false, &part, msg).and_then(|_| {
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
        let result = unpack_verified(reader, len, archive, &staging, expect)
            .and_then(|()| install(&staging, dir));
        let _ = fs::remove_file(&part);
        let _ = fs::remove_dir_all(&staging);
        return result;
    }
    Err(Failure::Source(format!(
        "has none of {}",
        not_found.join(", ")
    )))
}

fn unpack_verified(
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
    archive: &str,
    staging: &Path,
    expect: &Expect,
) -> Result<(), Failure> {
    const DS: DatasetName = DatasetName::Cifar10;
    if access::probe(DS, staging)?.is_some() {
        fs::remove_dir_all(staging).map_err(write_err(DS, staging))?;
    }
    fs::create_dir_all(staging).map_err(write_err(DS, staging))?;
    let bar = bytes_bar(len, format!("cifar10: unpacking {archive}"));
    let mut hashing = Hashing {
        inner: BufReader::new(bar.wrap_read(reader)),
        hasher: Sha256::new(),
    };
    let mut tar = tar::Archive::new(GzDecoder::new(&mut hashing));
    tar.unpack(staging).map_err(|e| {
        // The archive was opened already: a refusal comes from writing
        // into the staging folder.
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            Failure::Local(write_err(DS, staging)(e))
        } else {
            Failure::Source(format!("{archive} is not a complete .tar.gz archive: {e}"))
        }
    })?;
    drop(tar);
    // Hash whatever follows the end-of-archive marker too.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| Failure::Source(format!("cannot read {archive}: {e}")))?;
    bar.finish_and_clear();
    if let Some(want) = expect.sha_of(archive) {
        let got = hex(&hashing.hasher.finalize());
        if got != want {
            return Err(Failure::Source(format!(
                "{archive} has SHA-256 {got}, expected {want}"
            )));
        }
    }
    check_cifar_layout(staging, expect)
}

/// Moves every top-level entry of `staging` into `dir`, replacing what was
/// there, and drops a decoding cache that no longer matches.
fn install(staging: &Path, dir: &Path) -> Result<(), Failure> {
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
