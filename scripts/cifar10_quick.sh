#!/usr/bin/env bash
# cifar10_quick: Caffe's 5k fixed recipe, the same recipe stretched to 70k,
# triangular2 CLR for 20k, and the range test's suggested CLR (with and without
# a final annealing stage): the cheaper CIFAR-10 comparison. Resumable.
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=${OUT:-runs/cifar10_quick}
"$clr" data fetch cifar10
"$clr" compare configs/cifar10_quick_fixed.toml configs/cifar10_quick_fixed_70k.toml configs/cifar10_quick_clr.toml \
    configs/cifar10_quick_range_clr.toml configs/cifar10_quick_range_clr_anneal.toml \
    --target 0.72 --out "$out" --plain "$@"
