#!/usr/bin/env bash
# ResNet-20 on CIFAR-10 (the paper's Table 4, at a 30-epoch budget), rows in this order:
#   one_cycle to max_lr 0.4 (super-convergence)      cifar10_resnet20_one_cycle
#   fixed 0.1, x0.1 at 50% and 75%                     cifar10_resnet20_fixed
#   CLR triangular 0.1-0.3 with the same drops        cifar10_resnet20_clr
# preceded by the LR range test on ResNet-20 (4 epochs, 1e-3 to 3). Seeds 1..SEEDS
# (default 2), seed by seed. Give config names as arguments to run only those rows
# (e.g. the 10-epoch one-cycle pair cifar10_resnet20_one_cycle_10ep{,_wd1e4}, or the
# 30-epoch one-cycle runs with weight decay 1e-4, cifar10_resnet20_one_cycle_wd1e4{,_lr02}).
# Resumable: run it again after an interruption; finished runs are reused and
# checkpointed ones continued. About 2 hours per 30-epoch run on 2 cores.
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=${OUT:-runs/cifar10_resnet20}
seeds=${SEEDS:-2}
rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
    rows=(cifar10_resnet20_one_cycle cifar10_resnet20_fixed cifar10_resnet20_clr)
fi
configs=()
for r in "${rows[@]}"; do configs+=("configs/$r.toml"); done
"$clr" data fetch cifar10
if [ ! -f "$out/range/range_test.csv" ]; then
    "$clr" range-test configs/cifar10_resnet20_fixed.toml --min-lr 0.001 --max-lr 3 --epochs 4 \
        --evals 20 --step-epochs 3 --cycles 5 --out "$out/range" --force --plain
fi
for s in $(seq 1 "$seeds"); do
    "$clr" compare "${configs[@]}" --seeds "$s" --target 0.90 --out "$out" --plain --jobs "${JOBS:-1}"
done
