//! `clr schedule`.

/// Arguments of `clr schedule`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `clr schedule`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`clr schedule` is not implemented yet")
}
