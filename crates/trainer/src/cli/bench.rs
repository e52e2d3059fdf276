//! `clr bench`.

/// Arguments of `clr bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `clr bench`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`clr bench` is not implemented yet")
}
