//! The CSV files a run writes (`metrics.csv`, `range_test.csv`, `comparison.csv`, `clr
//! schedule`'s output): rows are serde values (structs, or tuples for a view of one), numbers
//! print as Rust prints them, and every file starts with its fixed header, even when it has no
//! rows. Reading checks that header and names the file and line of any bad field.

use std::io::{self, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

/// An `f64` field in Rust's shortest round-trip form (`0.00001`, `NaN`, `inf`); `None` prints
/// as an empty field.
#[derive(Debug, Clone, Copy)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An `f64` field with `D` decimals.
#[derive(Debug, Clone, Copy)]
pub struct Fixed<const D: usize>(pub f64);

impl<const D: usize> Serialize for Fixed<D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:.*}", D, self.0))
    }
}

/// Writes `header` and then one record per row to `out`.
///
/// # Errors
/// Any write error.
pub fn write<T: Serialize>(
    out: impl Write,
    header: &[&str],
    rows: impl IntoIterator<Item = T>,
) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(1 << 16)
        .from_writer(out);
    w.write_record(header)?;
    for row in rows {
        w.serialize(row).map_err(io::Error::from)?;
    }
    w.flush()
}

/// [`write`] into a string.
pub fn to_string<T: Serialize>(header: &[&str], rows: impl IntoIterator<Item = T>) -> String {
    let mut buf = Vec::new();
    write(&mut buf, header, rows).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("CSV of UTF-8 fields is UTF-8")
}

/// Errors reading a CSV file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a valid row (or the header is not the expected one).
    #[error("{path} line {line}: {message}")]
    Format {
        /// The file.
        path: String,
        /// The line number (1-based; 1 is the header).
        line: u64,
        /// What is wrong with the line.
        message: String,
    },
}

/// Reads the rows of a file written by [`write`] with `header`.
///
/// # Errors
/// [`CsvError::Read`] if the file cannot be read, [`CsvError::Format`] if its header is not
/// `header` or a record does not parse as a `T` (the wrong number of fields, a field that is
/// not a number, ...).
pub fn read<T: DeserializeOwned>(path: &Path, header: &[&str]) -> Result<Vec<T>, CsvError> {
    let p = path.display().to_string();
    let read_err = |source| CsvError::Read {
        path: p.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut r = csv::ReaderBuilder::new().from_reader(io::BufReader::new(file));
    let format = |line: u64, message: String| CsvError::Format {
        path: p.clone(),
        line,
        message,
    };
    let found = r.headers().map_err(|e| format(1, e.to_string()))?;
    if found.iter().ne(header.iter().copied()) {
        return Err(format(
            1,
            format!("expected the header `{}`", header.join(",")),
        ));
    }
    let names = csv::StringRecord::from(header.to_vec());
    let mut rows = Vec::new();
    for record in r.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            if e.is_io_error() {
                read_err(io::Error::from(e))
            } else {
                format(line, e.to_string())
            }
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let row = record.deserialize(Some(&names)).map_err(|e| {
            let message = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => match err.field() {
                    Some(i) => {
                        let i = i as usize;
                        let value = record.get(i).unwrap_or_default();
                        let column = header.get(i).unwrap_or(&"?");
                        format!("column `{column}`, value `{value}`: {}", err.kind())
                    }
                    None => err.kind().to_string(),
                },
                _ => e.to_string(),
            };
            format(line, message)
        })?;
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Point {
        iteration: u64,
        lr: f64,
        momentum: Option<f64>,
    }

    const HEADER: [&str; 3] = ["iteration", "lr", "momentum"];

    #[test]
    fn numbers_print_as_rust_prints_them_and_read_back() {
        let rows = [(0u64, Num(1e-5), Some(Num(0.9))), (1, Num(f64::NAN), None)];
        let text = to_string(&HEADER, rows);
        assert_eq!(text, "iteration,lr,momentum\n0,0.00001,0.9\n1,NaN,\n");
        assert_eq!(
            to_string(&HEADER, [(2u64, Fixed::<3>(1.0), Fixed::<1>(0.25))]),
            "iteration,lr,momentum\n2,1.000,0.2\n"
        );
        assert_eq!(
            to_string(&HEADER, std::iter::empty::<(u64,)>()),
            "iteration,lr,momentum\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, &text).unwrap();
        let back: Vec<Point> = read(&p, &HEADER).unwrap();
        assert_eq!(
            back[0],
            Point {
                iteration: 0,
                lr: 1e-5,
                momentum: Some(0.9)
            }
        );
        assert!(back[1].lr.is_nan() && back[1].momentum.is_none());
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let err = |text: &str| {
            std::fs::write(&p, text).unwrap();
            read::<Point>(&p, &HEADER).unwrap_err().to_string()
        };
        let e = err("iteration,lr\n");
        assert!(
            e.contains("x.csv line 1") && e.contains("iteration,lr,momentum"),
            "{e}"
        );
        let e = err("iteration,lr,momentum\n0,0.1,\n1,fast,\n");
        assert!(e.contains("line 3: column `lr`, value `fast`"), "{e}");
        let e = err("iteration,lr,momentum\n0,0.1\n");
        assert!(e.contains("line 2"), "{e}");
        let missing = read::<Point>(&dir.path().join("none.csv"), &HEADER).unwrap_err();
        assert!(matches!(missing, CsvError::Read { .. }), "{missing}");
    }
}
