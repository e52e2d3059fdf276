//! `clr compare`.

/// Arguments of `clr compare`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `clr compare`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`clr compare` is not implemented yet")
}
