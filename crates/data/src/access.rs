//! Touching the data directory: existence probes and I/O errors that keep
//! "permission denied" apart from "missing" and from "download failed".
//!
//! `Path::is_file` and friends answer `false` when the OS refuses to look,
//! which would report an unreadable folder as missing files; every probe of
//! the data directory goes through [`probe`] instead, and every I/O error
//! through [`io_error`].

use std::fs;
use std::io;
use std::path::Path;

use super::config::DatasetName;
use super::error::{Access, DataError};

/// The error for an I/O failure while accessing `path`:
/// [`DataError::PermissionDenied`] when the OS refused, else
/// [`DataError::Read`] or [`DataError::Write`] by `access`.
pub fn io_error(dataset: DatasetName, path: &Path, access: Access, source: io::Error) -> DataError {
    let path = path.to_path_buf();
    match (source.kind(), access) {
        (io::ErrorKind::PermissionDenied, _) => DataError::PermissionDenied {
            dataset,
            path,
            access,
            source,
        },
        (_, Access::Read) => DataError::Read {
            dataset,
            path,
            source,
        },
        (_, Access::Write) => DataError::Write {
            dataset,
            path,
            source,
        },
    }
}

/// Where a refusal to access `path` comes from: the nearest of `path` and
/// its ancestors that can be looked at. That is `path` itself when it is
/// there, else the folder that refused to be searched, or to have `path`
/// created in it.
pub fn refusing(path: &Path) -> &Path {
    path.ancestors()
        .find(|a| fs::metadata(a).is_ok())
        .unwrap_or(path)
}

/// [`io_error`] for an operation on `path`, naming [`refusing`]`(path)`
/// when permission was denied.
fn located(dataset: DatasetName, path: &Path, access: Access, source: io::Error) -> DataError {
    let path = match source.kind() {
        io::ErrorKind::PermissionDenied => refusing(path),
        _ => path,
    };
    io_error(dataset, path, access, source)
}

/// [`io_error`] for reading `path`, as a `map_err` argument.
pub fn read_err(dataset: DatasetName, path: &Path) -> impl FnOnce(io::Error) -> DataError + '_ {
    move |source| located(dataset, path, Access::Read, source)
}

/// [`io_error`] for writing `path`, as a `map_err` argument.
pub fn write_err(dataset: DatasetName, path: &Path) -> impl FnOnce(io::Error) -> DataError + '_ {
    move |source| located(dataset, path, Access::Write, source)
}

/// What is at `path` (symbolic links followed): `Ok(None)` when nothing is,
/// as `Path::exists` would say.
///
/// # Errors
/// [`DataError::PermissionDenied`] naming the folder on the way that cannot
/// be searched: that is not the same as missing.
pub fn probe(dataset: DatasetName, path: &Path) -> Result<Option<fs::Metadata>, DataError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Err(located(dataset, path, Access::Read, e))
        }
        Err(_) => Ok(None),
    }
}

/// Whether `path` is a file, as `Path::is_file`.
///
/// # Errors
/// As [`probe`].
pub fn is_file(dataset: DatasetName, path: &Path) -> Result<bool, DataError> {
    Ok(probe(dataset, path)?.is_some_and(|m| m.is_file()))
}

/// Whether `path` is a folder, as `Path::is_dir`.
///
/// # Errors
/// As [`probe`].
pub fn is_dir(dataset: DatasetName, path: &Path) -> Result<bool, DataError> {
    Ok(probe(dataset, path)?.is_some_and(|m| m.is_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const DS: DatasetName = DatasetName::Mnist;

    #[test]
    fn permission_denied_is_its_own_error_naming_the_path() {
        let path = PathBuf::from("/data/mnist/train-labels-idx1-ubyte");
        for access in [Access::Read, Access::Write] {
            let denied = io::Error::from(io::ErrorKind::PermissionDenied);
            match io_error(DS, &path, access, denied) {
                DataError::PermissionDenied {
                    dataset,
                    path: p,
                    access: a,
                    ..
                } => assert_eq!((dataset, p.as_path(), a), (DS, path.as_path(), access)),
                e => panic!("wrong error: {e}"),
            }
        }
        let msg = io_error(
            DS,
            &path,
            Access::Write,
            io::Error::from(io::ErrorKind::PermissionDenied),
        )
        .to_string();
        assert!(
            msg.starts_with(
                "mnist: cannot write /data/mnist/train-labels-idx1-ubyte: permission denied; "
            ),
            "{msg}"
        );
        assert!(msg.contains("--data-dir DIR") && msg.contains("clr data fetch mnist"));
    }

    #[test]
    fn other_io_errors_stay_read_or_write_errors() {
        let path = Path::new("/data/mnist/x");
        let e = || io::Error::from(io::ErrorKind::UnexpectedEof);
        assert!(matches!(
            io_error(DS, path, Access::Read, e()),
            DataError::Read { .. }
        ));
        assert!(matches!(
            io_error(DS, path, Access::Write, e()),
            DataError::Write { .. }
        ));
    }

    #[test]
    fn probes_answer_like_path_methods_when_access_is_allowed() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(is_file(DS, &file).unwrap());
        assert!(!is_dir(DS, &file).unwrap());
        assert!(is_dir(DS, tmp.path()).unwrap());
        assert!(!is_file(DS, &tmp.path().join("absent")).unwrap());
        // A path through a file (ENOTDIR) is simply not there.
        assert!(probe(DS, &file.join("below")).unwrap().is_none());
    }

    #[test]
    fn a_refusal_is_located_at_the_nearest_path_that_can_be_looked_at() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"x").unwrap();
        // There: the path itself (its own mode refuses).
        assert_eq!(refusing(&file), file);
        // Not there (yet): the folder it would be created in.
        let deep = tmp.path().join("a").join("b.part");
        assert_eq!(refusing(&deep), tmp.path());
        let denied = || io::Error::from(io::ErrorKind::PermissionDenied);
        match write_err(DS, &deep)(denied()) {
            DataError::PermissionDenied { path, .. } => assert_eq!(path, tmp.path()),
            e => panic!("wrong error: {e}"),
        }
        // Other errors keep the path they happened on.
        let other = io::Error::from(io::ErrorKind::UnexpectedEof);
        match read_err(DS, &deep)(other) {
            DataError::Read { path, .. } => assert_eq!(path, deep),
            e => panic!("wrong error: {e}"),
        }
    }
}
