//! The cache of the decoded image folders, written next to `train/` and
//! `test/` and used while it matches the images it was decoded from.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::IMAGE;
use crate::raw::RawSplit;

/// Cache file written next to the `train/` and `test/` image folders.
pub const CACHE_FILE: &str = "images.cache";
const CACHE_MAGIC: &[u8; 8] = b"CLRIMGC1";

/// Why a cache file cannot be used (it gets rebuilt).
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// The file could not be read.
    #[error("{0}")]
    Io(std::io::Error),
    /// It does not start with the magic of this version.
    #[error("not a cache file of this version")]
    Version,
    /// It holds images of another shape.
    #[error("wrong image shape")]
    Shape,
    /// The classes or the images' fingerprint differ.
    #[error("the images changed since it was written")]
    Stale,
    /// It ends before its header says.
    #[error("truncated")]
    Truncated,
    /// The payload's CRC-32 differs.
    #[error("checksum mismatch")]
    Checksum,
}

/// Cache layout (little endian): magic `CLRIMGC1`; u32 C, H, W; u64 train
/// count, test count; u32 class count, then per class u32 length + UTF-8
/// name; 32-byte listing fingerprint; u32 CRC-32 of the payload; payload:
/// train pixels, train labels, test pixels, test labels.
pub fn write(
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
    // Runs started together decode the same folder and write the same cache: each writes its
    // own temporary, and the last rename wins (they hold the same bytes).
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let mut f = std::io::BufWriter::new(fs::File::create(&tmp)?);
        f.write_all(&head)?;
        for p in parts {
            f.write_all(p)?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads the cache when it matches the current images. `Ok(None)`: no
/// cache; `Err`: a cache that is stale or damaged (it gets rebuilt).
///
/// # Errors
/// [`CacheError`] saying why the cache cannot be used.
pub fn read(
    path: &Path,
    print: &[u8; 32],
    classes: &[String],
) -> Result<Option<(RawSplit, RawSplit)>, CacheError> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::Io(e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(CacheError::Io)?;
    let mut r = Cursor {
        bytes: &bytes,
        at: 0,
    };
    if r.take(8)? != CACHE_MAGIC {
        return Err(CacheError::Version);
    }
    if [r.u32()?, r.u32()?, r.u32()?] != [3, 32, 32] {
        return Err(CacheError::Shape);
    }
    let (n_train, n_test) = (r.u64()? as usize, r.u64()? as usize);
    let n_classes = r.u32()? as usize;
    let mut names = Vec::new();
    for _ in 0..n_classes.min(256) {
        let len = r.u32()? as usize;
        names.push(String::from_utf8_lossy(r.take(len)?).into_owned());
    }
    if names != classes || r.take(32)? != print {
        return Err(CacheError::Stale);
    }
    let crc = r.u32()?;
    let body = &bytes[r.at..];
    let expected = (n_train + n_test).checked_mul(IMAGE + 1);
    if expected != Some(body.len()) {
        return Err(CacheError::Truncated);
    }
    if crc32fast::hash(body) != crc {
        return Err(CacheError::Checksum);
    }
    let mut r = Cursor { bytes: body, at: 0 };
    let mut split = |n: usize| -> Result<RawSplit, CacheError> {
        Ok(RawSplit {
            pixels: r.take(n * IMAGE)?.to_vec(),
            labels: r.take(n)?.to_vec(),
        })
    };
    let train = split(n_train)?;
    let test = split(n_test)?;
    Ok(Some((train, test)))
}

/// Reads the cache bytes front to back.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CacheError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(CacheError::Truncated)?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, CacheError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, CacheError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two runs started together both decode the folder and write the cache at the same
    /// moment: every write succeeds, the cache reads back, and no temporary is left.
    #[test]
    fn concurrent_writers_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let split = |n: usize| RawSplit {
            pixels: (0..n * IMAGE).map(|i| (i % 251) as u8).collect(),
            labels: (0..n).map(|i| (i % 2) as u8).collect(),
        };
        let (train, test) = (split(40), split(10));
        let print = [7u8; 32];
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| write(&path, &print, &classes, &train, &test)))
                .collect();
            for w in writers {
                w.join().unwrap().unwrap();
            }
        });
        let (tr, te) = read(&path, &print, &classes).unwrap().unwrap();
        assert_eq!((tr, te), (train, test));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CACHE_FILE]);
    }
}
