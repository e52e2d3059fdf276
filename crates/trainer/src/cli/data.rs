//! `clr data`.

/// Subcommands of `clr data`.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {}

/// Runs `clr data`.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {}
}
