# Sourced by the scripts in this folder: the workspace root as the working directory, a
# release build of clr, and $clr pointing at it (in $CARGO_TARGET_DIR when that is set).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
clr=${CARGO_TARGET_DIR:-target}/release/clr
