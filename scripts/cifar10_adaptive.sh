#!/usr/bin/env bash
# The paper's adaptive-methods table on CIFAR-10 (cifar10_full): each method
# with a fixed LR at the lower bound (70k) and with triangular CLR (25k).
# Resumable like cifar10_table1.sh. Many hours on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
clr=target/release/clr
out=${OUT:-runs/cifar10_adaptive}
"$clr" data fetch cifar10
for m in nesterov adam rmsprop adagrad adadelta; do
    "$clr" compare "configs/adaptive/cifar10_full_${m}_fixed.toml" "configs/adaptive/cifar10_full_${m}_clr.toml" \
        --out "$out/$m" --plain "$@"
done
