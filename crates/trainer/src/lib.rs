//! Library behind the `clr` command line: configuration, datasets, the
//! training loop, checkpoints, reports and plots.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod compare;
pub mod config;
pub mod csvfile;
/// Datasets: the `clr-data` crate.
pub use clr_data as data;
pub mod eval;
pub mod figures;
pub mod fsutil;
pub mod memory;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod range;
pub mod report;
pub mod run;
pub mod rundir;
pub mod stop;
pub mod sweep;
