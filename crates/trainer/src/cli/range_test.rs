//! `clr range-test`.

/// Arguments of `clr range-test`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `clr range-test`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`clr range-test` is not implemented yet")
}
