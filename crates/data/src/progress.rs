//! Where fetching and loading report what they do: one-line notes (the
//! source tried, a file fetched again, a cache rebuilt) and counters for
//! long transfers and decodes. [`Stderr`] prints them on stderr, the
//! counters as terminal progress bars.

use std::io::Read;

use indicatif::{ProgressBar, ProgressStyle};

/// What a [`Meter`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Bytes transferred or read.
    Bytes,
    /// Images decoded.
    Images,
}

/// Receives the notes and counters of a fetch or a load.
pub trait Progress: Sync {
    /// One line of news, e.g. `mnist: trying mirror ../shared/data`.
    fn note(&self, message: &str);

    /// Starts counting one step (`message`, e.g. `mnist: train-images-idx3-ubyte`)
    /// of `total` units when known. The default counts nothing.
    fn meter(&self, message: &str, total: Option<u64>, unit: Unit) -> Box<dyn Meter> {
        let _ = (message, total, unit);
        Box::new(Silent)
    }
}

/// The counter of one step, advanced as it goes.
pub trait Meter: Send + Sync {
    /// Counts `n` more units.
    fn advance(&self, n: u64);
    /// Ends the step once it is complete.
    fn finish(&self);
}

/// A [`Meter`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Meter for Silent {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

impl Progress for Silent {
    fn note(&self, _: &str) {}
}

/// The default [`Progress`]: notes as lines on stderr, counters as
/// progress bars on stderr (drawn only when it is a terminal).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Progress for Stderr {
    fn note(&self, message: &str) {
        eprintln!("{message}");
    }

    fn meter(&self, message: &str, total: Option<u64>, unit: Unit) -> Box<dyn Meter> {
        let bar = match (unit, total) {
            (Unit::Bytes, Some(n)) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            (Unit::Bytes, None) => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
            (Unit::Images, n) => ProgressBar::new(n.unwrap_or(0)).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
        };
        bar.set_message(message.to_string());
        Box::new(Bar(bar))
    }
}

/// A terminal progress bar.
struct Bar(ProgressBar);

impl Meter for Bar {
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A reader that advances a meter by what is read through it and counts it.
pub(crate) struct Metered<'a, R> {
    inner: R,
    meter: &'a dyn Meter,
    read: u64,
}

impl<'a, R: Read> Metered<'a, R> {
    pub(crate) fn new(inner: R, meter: &'a dyn Meter) -> Self {
        Metered {
            inner,
            meter,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub(crate) fn count(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.advance(n as u64);
        self.read += n as u64;
        Ok(n)
    }
}
