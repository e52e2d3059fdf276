//! `clr train`.

/// Arguments of `clr train`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `clr train`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`clr train` is not implemented yet")
}
