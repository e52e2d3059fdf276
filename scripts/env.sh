# Sourced by the scripts in this folder: the workspace root as the working directory, a
# release build of clr, and $clr pointing at it.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
clr=target/release/clr
