//! Library behind the `clr` command line: configuration, datasets, the
//! training loop, checkpoints, reports and plots.

pub mod cli;
pub mod data;
pub mod plot;
