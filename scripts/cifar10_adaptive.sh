#!/usr/bin/env bash
# The paper's adaptive-methods table on CIFAR-10 (cifar10_full): each method
# with triangular CLR for 25k iterations and with a fixed LR at the lower bound
# for 70k. The five CLR runs go first (about 17 min each on 2 cores), then the
# five fixed ones (about 47 min each). Resumable like cifar10_table1.sh: run it
# again after an interruption and finished runs are reused, checkpointed ones
# continued.
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=${OUT:-runs/cifar10_adaptive}
methods=(nesterov adam rmsprop adagrad adadelta)
"$clr" data fetch cifar10
for m in "${methods[@]}"; do
    "$clr" compare "configs/adaptive/cifar10_full_${m}_clr.toml" --target 0.75 --out "$out/$m" --plain "$@"
done
for m in "${methods[@]}"; do
    "$clr" compare "configs/adaptive/cifar10_full_${m}_fixed.toml" "configs/adaptive/cifar10_full_${m}_clr.toml" \
        --target 0.75 --out "$out/$m" --plain "$@"
done
cat <<'TABLE'

The paper's adaptive-methods table (original CIFAR-10; the copy here may be JPEG, which costs 2-3 points):
| method | fixed 70k | CLR bounds | CLR 25k |
|---|---|---|---|
| Nesterov | 82.1% | 0.001-0.006 | 81.3% |
| Adam | 81.4% | 0.0005-0.002 | 79.8% |
| RMSprop | 75.2% | 0.0001-0.0003 | 72.8% |
| AdaGrad | 74.6% | 0.003-0.035 | 76.0% |
| AdaDelta | 67.3% | 0.01-0.1 | 67.3% |
TABLE
