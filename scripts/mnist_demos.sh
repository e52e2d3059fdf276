#!/usr/bin/env bash
# MNIST and Fashion-MNIST: fixed vs triangular vs triangular2 vs exp_range vs
# one-cycle with the MLP and LeNet, 3 seeds each (SEEDS=N to change). Resumable.
# Usage: scripts/mnist_demos.sh [mnist|fashion] [mlp|lenet] [extra clr compare flags]
set -euo pipefail
source "$(dirname "$0")/env.sh"
data=${1:-mnist}; net=${2:-mlp}; shift $(( $# < 2 ? $# : 2 ))
case "$data" in mnist) name=mnist; target=0.98 ;; fashion) name=fashion-mnist; target=0.88 ;; *) echo "unknown dataset $data" >&2; exit 2 ;; esac
"$clr" data fetch "$name"
"$clr" compare configs/${data}_${net}_{fixed,triangular,triangular2,exp_range,one_cycle}.toml \
    --seeds "${SEEDS:-3}" --target "$target" --out "runs/${data}_${net}" --plain "$@"
