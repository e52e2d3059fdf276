//! CIFAR-10: the canonical binary layout and an image-folder layout, the
//! latter decoded in parallel once and cached in a compact binary file.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::access;
use super::config::{DatasetName, CIFAR10_CLASSES};
use super::dataset::{RawDataset, RawSplit, Stored};
use super::error::DataError;

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
/// Bytes per binary record: label byte + image.
const RECORD: usize = 1 + IMAGE;
/// Cache file written next to the `train/` and `test/` image folders.
pub const CACHE_FILE: &str = "images.cache";
const CACHE_MAGIC: &[u8; 8] = b"CLRIMGC1";

/// Loads CIFAR-10 from `dir`: `cifar-10-batches-bin/` when present, else the
/// image folders `train/<class>/` and `test/<class>/` (through the cache).
///
/// # Errors
/// [`DataError::Missing`] when neither layout is there;
/// [`DataError::PermissionDenied`]; any layout, size, label or decoding
/// error naming the file.
pub fn load(dir: &Path) -> Result<RawDataset, DataError> {
    let bin = dir.join(BINARY_DIR);
    if access::is_dir(DS, &bin)? {
        return load_binary(&bin);
    }
    if access::is_dir(DS, &dir.join("train"))? {
        return load_folder(dir);
    }
    Err(DataError::Missing {
        dataset: DS,
        path: bin.join(TRAIN_BATCHES[0]),
    })
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    access::read_err(DS, path)
}

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

fn load_binary(bin: &Path) -> Result<RawDataset, DataError> {
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

/// Counts the training and test records of either layout in `dir`,
/// checking binary batch sizes but decoding nothing.
///
/// # Errors
/// [`DataError::Missing`] when neither layout is there, or the first
/// layout (or permission) error found.
pub fn count_records(dir: &Path) -> Result<(usize, usize), DataError> {
    let bin = dir.join(BINARY_DIR);
    if access::is_dir(DS, &bin)? {
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
        return Ok((train, count(TEST_BATCH)?));
    }
    let (_, train, test) = list_folders(dir)?;
    Ok((train.files.len(), test.files.len()))
}

/// The image files of one split, in load order, with their labels.
struct Listing {
    files: Vec<(PathBuf, u8)>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn subdirs(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err(dir))? {
        let entry = entry.map_err(read_err(dir))?;
        if entry.file_type().map_err(read_err(dir))?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Class names in label order, from the class folders found in `train/`
/// and `test/`: CIFAR-10's ten in its order when every folder name is one of
/// its classes (a copy missing some class folders still has ten classes,
/// and the missing ones are reported by [`RawDataset::check`]), the names
/// sorted otherwise.
pub fn class_order(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    if !names.is_empty() && names.iter().all(|n| CIFAR10_CLASSES.contains(&n.as_str())) {
        CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect()
    } else {
        names
    }
}

/// Lists `<split_dir>/<class>/*.{png,jpg,jpeg}`: files sorted by name within
/// a class, then interleaved round-robin across classes so that any prefix
/// or suffix of the split (a limit, a validation carve) is class-balanced.
/// A class whose folder is missing or empty has no image here; whether the
/// split is usable is for [`RawDataset::check`] to say.
fn list_split(split_dir: &Path, classes: &[String]) -> Result<Listing, DataError> {
    let mut per_class = Vec::with_capacity(classes.len());
    for (label, class) in classes.iter().enumerate() {
        let dir = split_dir.join(class);
        let mut files = Vec::new();
        if access::is_dir(DS, &dir)? {
            for entry in fs::read_dir(&dir).map_err(read_err(&dir))? {
                let path = entry.map_err(read_err(&dir))?.path();
                if is_image(&path) {
                    files.push(path);
                }
            }
        }
        files.sort();
        per_class.push((label as u8, files));
    }
    let longest = per_class.iter().map(|(_, f)| f.len()).max().unwrap_or(0);
    let mut files = Vec::new();
    for i in 0..longest {
        for (label, list) in &per_class {
            if let Some(path) = list.get(i) {
                files.push((path.clone(), *label));
            }
        }
    }
    Ok(Listing { files })
}

/// SHA-256 over every image's path, size and modification time: any added,
/// removed, replaced or touched image changes it.
fn fingerprint(root: &Path, lists: &[&Listing]) -> Result<[u8; 32], DataError> {
    let mut h = Sha256::new();
    for list in lists {
        for (path, label) in &list.files {
            let meta = fs::metadata(path).map_err(read_err(path))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let rel = path.strip_prefix(root).unwrap_or(path);
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0, *label]);
            h.update(meta.len().to_le_bytes());
            h.update(mtime.to_le_bytes());
        }
    }
    Ok(h.finalize().into())
}

/// Lists the class folders of `train/` and `test/` (the classes are those
/// of either) and their images.
fn list_folders(dir: &Path) -> Result<(Vec<String>, Listing, Listing), DataError> {
    let train_dir = dir.join("train");
    let test_dir = dir.join("test");
    for split_dir in [&train_dir, &test_dir] {
        if !access::is_dir(DS, split_dir)? {
            return Err(DataError::Missing {
                dataset: DS,
                path: split_dir.clone(),
            });
        }
    }
    let mut names = subdirs(&train_dir)?;
    names.extend(subdirs(&test_dir)?);
    let classes = class_order(names);
    if classes.len() > 256 {
        return Err(DataError::Corrupt {
            dataset: DS,
            path: train_dir,
            reason: format!("{} class folders; at most 256 are supported", classes.len()),
        });
    }
    let train = list_split(&train_dir, &classes)?;
    let test = list_split(&test_dir, &classes)?;
    Ok((classes, train, test))
}

fn load_folder(dir: &Path) -> Result<RawDataset, DataError> {
    let (classes, train, test) = list_folders(dir)?;
    let train_from = Stored::at(dir.join("train"));
    let test_from = Stored::at(dir.join("test"));
    let print = fingerprint(dir, &[&train, &test])?;
    let cache = dir.join(CACHE_FILE);
    match read_cache(&cache, &print, &classes) {
        Ok(Some((train, test))) => {
            return Ok(RawDataset {
                classes,
                train,
                test,
                provenance: format!("cache {}", cache.display()),
                train_from,
                test_from,
            })
        }
        Ok(None) => {}
        Err(why) => eprintln!(
            "{DS}: ignoring cache {}: {why}; rebuilding it",
            cache.display()
        ),
    }
    let n = train.files.len() + test.files.len();
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("{DS}: decoding"));
    let train_raw = decode_all(&train, &bar)?;
    let test_raw = decode_all(&test, &bar)?;
    bar.finish_and_clear();
    if let Err(e) = write_cache(&cache, &print, &classes, &train_raw, &test_raw) {
        eprintln!(
            "{DS}: could not write cache {} ({e}); the next load decodes again",
            cache.display()
        );
    }
    Ok(RawDataset {
        classes,
        train: train_raw,
        test: test_raw,
        provenance: format!(
            "image folders in {} (decoded, cache written)",
            dir.display()
        ),
        train_from,
        test_from,
    })
}

/// Decodes one image file into CHW RGB bytes.
///
/// # Errors
/// [`DataError::Corrupt`] when it cannot be decoded,
/// [`DataError::WrongImageSize`] when it is not 32x32.
pub fn decode_image(path: &Path) -> Result<Vec<u8>, DataError> {
    let corrupt = |reason: String| DataError::Corrupt {
        dataset: DS,
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(read_err(path))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| corrupt(format!("cannot decode image ({e})")))?
        .to_rgb8();
    if img.dimensions() != (32, 32) {
        return Err(DataError::WrongImageSize {
            dataset: DS,
            path: path.to_path_buf(),
            expected: "32x32".to_string(),
            found: format!("{}x{}", img.width(), img.height()),
        });
    }
    let mut chw = vec![0u8; IMAGE];
    for (p, px) in img.pixels().enumerate() {
        for c in 0..3 {
            chw[c * 1024 + p] = px[c];
        }
    }
    Ok(chw)
}

fn decode_all(list: &Listing, bar: &ProgressBar) -> Result<RawSplit, DataError> {
    let decoded = list
        .files
        .par_iter()
        .map(|(path, _)| {
            let r = decode_image(path);
            bar.inc(1);
            r
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RawSplit {
        pixels: decoded.concat(),
        labels: list.files.iter().map(|(_, l)| *l).collect(),
    })
}

/// Cache layout (little endian): magic `CLRIMGC1`; u32 C, H, W; u64 train
/// count, test count; u32 class count, then per class u32 length + UTF-8
/// name; 32-byte listing fingerprint; u32 CRC-32 of the payload; payload:
/// train pixels, train labels, test pixels, test labels.
fn write_cache(
    path: &Path,
    print: &[u8; 32],
    classes: &[String],
    train: &RawSplit,
    test: &RawSplit,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    head.extend_from_slice(CACHE_MAGIC);
    for d in [3u32, 32, 32] {
        head.extend_from_slice(&d.to_le_bytes());
    }
    head.extend_from_slice(&(train.len() as u64).to_le_bytes());
    head.extend_from_slice(&(test.len() as u64).to_le_bytes());
    head.extend_from_slice(&(classes.len() as u32).to_le_bytes());
    for c in classes {
        head.extend_from_slice(&(c.len() as u32).to_le_bytes());
        head.extend_from_slice(c.as_bytes());
    }
    head.extend_from_slice(print);
    let parts = [&train.pixels, &train.labels, &test.pixels, &test.labels];
    let mut crc = crc32fast::Hasher::new();
    for p in parts {
        crc.update(p);
    }
    head.extend_from_slice(&crc.finalize().to_le_bytes());
    let tmp = path.with_extension("cache.tmp");
    let mut f = std::io::BufWriter::new(fs::File::create(&tmp)?);
    f.write_all(&head)?;
    for p in parts {
        f.write_all(p)?;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, path)
}

/// Reads the cache when it matches the current images. `Ok(None)`: no
/// cache; `Err`: a cache that is stale or damaged (it gets rebuilt).
fn read_cache(
    path: &Path,
    print: &[u8; 32],
    classes: &[String],
) -> Result<Option<(RawSplit, RawSplit)>, String> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let mut r = Cursor {
        bytes: &bytes,
        at: 0,
    };
    if r.take(8)? != CACHE_MAGIC {
        return Err("not a cache file of this version".to_string());
    }
    if [r.u32()?, r.u32()?, r.u32()?] != [3, 32, 32] {
        return Err("wrong image shape".to_string());
    }
    let (n_train, n_test) = (r.u64()? as usize, r.u64()? as usize);
    let n_classes = r.u32()? as usize;
    let mut names = Vec::new();
    for _ in 0..n_classes.min(256) {
        let len = r.u32()? as usize;
        names.push(String::from_utf8_lossy(r.take(len)?).into_owned());
    }
    if names != classes || r.take(32)? != print {
        return Err("the images changed since it was written".to_string());
    }
    let crc = r.u32()?;
    let body = &bytes[r.at..];
    let expected = (n_train + n_test).checked_mul(IMAGE + 1);
    if expected != Some(body.len()) {
        return Err("truncated".to_string());
    }
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".to_string());
    }
    let mut r = Cursor { bytes: body, at: 0 };
    let mut split = |n: usize| -> Result<RawSplit, String> {
        Ok(RawSplit {
            pixels: r.take(n * IMAGE)?.to_vec(),
            labels: r.take(n)?.to_vec(),
        })
    };
    let train = split(n_train)?;
    let test = split(n_test)?;
    Ok(Some((train, test)))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| "truncated".to_string())?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}
