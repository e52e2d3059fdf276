//! `clr plot`.

/// Arguments of `clr plot`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `clr plot`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`clr plot` is not implemented yet")
}
