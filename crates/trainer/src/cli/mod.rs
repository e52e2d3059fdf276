//! Command-line interface: one module per subcommand, each with its clap
//! arguments and a `run` function.

use clap::{Parser, Subcommand};

pub mod bench;
pub mod common;
pub mod compare;
pub mod data;
pub mod plot;
pub mod range_test;
pub mod schedule;
pub mod train;

/// Cyclical learning rates for training neural networks, on the CPU.
#[derive(Debug, Parser)]
#[command(name = "clr", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `clr`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a learning-rate schedule as CSV (and optionally plot it).
    Schedule(schedule::Args),
    /// Fetch, verify and inspect datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train one configured run.
    Train(train::Args),
    /// LR range test: train while the LR rises and suggest `base_lr`/`max_lr`.
    RangeTest(range_test::Args),
    /// Run several configs (and seeds) and compare them side by side.
    Compare(compare::Args),
    /// Plot existing runs.
    Plot(plot::Args),
    /// Measure training and inference throughput of a workload.
    Bench(bench::Args),
}

/// Process-wide signal setup, before any command runs: a file-size limit (`ulimit -f`) makes
/// the kernel send SIGXFSZ, whose default action kills the process without a word; ignored, the
/// write fails with EFBIG instead and the error names the file (see [`hint`]).
pub fn setup_signals() {
    // SAFETY: installing SIG_IGN for SIGXFSZ has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// What to do about an error whose cause is a full disk or a file-size limit.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let code = err
        .chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error)?;
    match code {
        libc::ENOSPC | libc::EDQUOT => Some(
            "the disk (or your quota) is full: free some space, then continue with \
             `clr train --resume RUN_DIR` (or the same `clr compare` command); \
             the last complete checkpoint is intact",
        ),
        libc::EFBIG => Some(
            "a file reached the size limit (`ulimit -f`) or the file system's largest file: \
             raise the limit, then continue with `clr train --resume RUN_DIR` \
             (or the same `clr compare` command); the last complete checkpoint is intact",
        ),
        _ => None,
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schedule(args) => schedule::run(args),
        Command::Data(cmd) => data::run(cmd),
        Command::Train(args) => train::run(args),
        Command::RangeTest(args) => range_test::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
