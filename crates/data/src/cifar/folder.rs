//! The image-folder layout: `train/<class>/` and `test/<class>/` holding
//! 32x32 PNG or JPEG files, listed class-balanced and decoded in parallel.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::cache::{self, CACHE_FILE};
use super::{read_err, DS, IMAGE};
use crate::access;
use crate::config::CIFAR10_CLASSES;
use crate::error::DataError;
use crate::progress::{Meter, Progress, Unit};
use crate::raw::{RawDataset, RawSplit, Stored};

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

/// Loads the image folders `train/<class>/` and `test/<class>/` of `dir`:
/// from the cache when it matches the images, else decoded (and the cache
/// written), telling `progress` about both.
///
/// # Errors
/// Any listing, read or decoding error naming the file or folder.
pub fn load(dir: &Path, progress: &dyn Progress) -> Result<RawDataset, DataError> {
    let (classes, train, test) = list_folders(dir)?;
    let train_from = Stored::at(dir.join("train"));
    let test_from = Stored::at(dir.join("test"));
    let print = fingerprint(dir, &[&train, &test])?;
    let cache = dir.join(CACHE_FILE);
    match cache::read(&cache, &print, &classes) {
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
        Err(why) => progress.note(&format!(
            "{DS}: ignoring cache {}: {why}; rebuilding it",
            cache.display()
        )),
    }
    let n = train.files.len() + test.files.len();
    let meter = progress.meter(&format!("{DS}: decoding"), Some(n as u64), Unit::Images);
    let train_raw = decode_all(&train, meter.as_ref())?;
    let test_raw = decode_all(&test, meter.as_ref())?;
    meter.finish();
    if let Err(e) = cache::write(&cache, &print, &classes, &train_raw, &test_raw) {
        progress.note(&format!(
            "{DS}: could not write cache {} ({e}); the next load decodes again",
            cache.display()
        ));
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

fn decode_all(list: &Listing, meter: &dyn Meter) -> Result<RawSplit, DataError> {
    let decoded = list
        .files
        .par_iter()
        .map(|(path, _)| {
            let r = decode_image(path);
            meter.advance(1);
            r
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RawSplit {
        pixels: decoded.concat(),
        labels: list.files.iter().map(|(_, l)| *l).collect(),
    })
}

/// Counts the images of the `train/` and `test/` folders of `dir`, decoding
/// nothing.
///
/// # Errors
/// [`DataError::Missing`] when either folder is not there; any listing error.
pub fn count_images(dir: &Path) -> Result<(usize, usize), DataError> {
    let (_, train, test) = list_folders(dir)?;
    Ok((train.files.len(), test.files.len()))
}
