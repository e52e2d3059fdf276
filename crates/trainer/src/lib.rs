//! Library behind the `clr` command line: configuration, datasets, the
//! training loop, checkpoints, reports and plots.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod fsutil;
pub mod metrics;
pub mod progress;
pub mod run;
pub mod stop;
pub mod compare;
pub mod figures;
pub mod range;
pub mod report;
