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
    #[command(subcommand)]
    pub command: Command,
}

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
