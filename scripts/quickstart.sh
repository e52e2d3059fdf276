#!/usr/bin/env bash
# The main job: fetch MNIST if missing, run the LR range test, then compare a
# fixed learning rate with the cyclical schedule the range test suggests
# (2 seeds each), print the table and write the plots. About 10 minutes on 2 cores.
#
# Offline: set CLR_DATA_MIRROR to a local mirror of the datasets (see data/README.md).
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=${OUT:-runs/quickstart}

"$clr" data fetch mnist
"$clr" range-test configs/mnist_mlp_fixed.toml --epochs 2 --step-epochs 1 --out "$out/range" --force --plain
"$clr" compare configs/mnist_mlp_fixed.toml "$out/range/suggested_run.toml" \
    --seeds 2 --target 0.98 --out "$out/compare" --plain
echo
echo "plots: $out/range/range_test.png, $out/compare/comparison.png"
