#!/usr/bin/env bash
# Table 1 of the paper on CIFAR-10 with cifar10_full: fixed 70k, triangular2
# 25k, decay 25k, exp 70k, exp_range 42k. Resumable: run it again after an
# interruption and finished runs are reused, checkpointed ones continued.
# Several hours on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
clr=target/release/clr
out=${OUT:-runs/cifar10_table1}
"$clr" data fetch cifar10
"$clr" compare configs/cifar10_full_fixed.toml configs/cifar10_full_triangular2.toml \
    configs/cifar10_full_decay.toml configs/cifar10_full_exp.toml configs/cifar10_full_exp_range.toml \
    --target 0.78 --out "$out" --plain "$@"
cat <<'TABLE'

The paper's Table 1 (original CIFAR-10; the data here may be a JPEG copy, which costs 2-3 points):
| policy | iterations | accuracy |
|---|---|---|
| fixed | 70,000 | 81.4% |
| triangular2 | 25,000 | 81.4% |
| decay | 25,000 | 78.5% |
| exp | 70,000 | 79.1% |
| exp_range | 42,000 | 82.2% |
TABLE
