#!/usr/bin/env bash
# Table 1 of the paper on CIFAR-10 with cifar10_full, with the controls the paper
# did not run. Rows, in this order (the first is the speed-up baseline):
#   fixed 70k (0.001, x0.1 at 60k and 65k)         cifar10_full_fixed
#   E1: three-stage triangular2 25k (Table 2)      cifar10_full_triangular2_3stage
#   E2: fixed 0.001, x0.1 at 16k and 22k, 25k      cifar10_full_fixed_drops_25k
#   E3: exp_range 42k, both bounds decaying        cifar10_full_exp_range_both
#   single-stage triangular2 25k                   cifar10_full_triangular2
#   decay 25k, exp 70k                             cifar10_full_decay, cifar10_full_exp
#   exp_range 42k, amplitude only (PyTorch's)      cifar10_full_exp_range
# Seeds 1..SEEDS (default 3), seed by seed: every row gets seed 1 before any gets seed 2.
# Give config names as arguments to run only those rows, e.g.
#   scripts/cifar10_table1.sh cifar10_full_triangular2_3stage cifar10_full_fixed_drops_25k
# JOBS=N runs N at once (README, "Sweeps"); on 2 cores 1 is as fast.
# Resumable: run it again after an interruption and finished runs are reused,
# checkpointed ones continued. About 17 minutes per 25k iterations on 2 cores.
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=${OUT:-runs/cifar10_table1}
seeds=${SEEDS:-3}
rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
    rows=(cifar10_full_fixed cifar10_full_triangular2_3stage cifar10_full_fixed_drops_25k
        cifar10_full_exp_range_both cifar10_full_triangular2 cifar10_full_decay
        cifar10_full_exp cifar10_full_exp_range)
fi
configs=()
for r in "${rows[@]}"; do configs+=("configs/$r.toml"); done
"$clr" data fetch cifar10
for s in $(seq 1 "$seeds"); do
    "$clr" compare "${configs[@]}" --seeds "$s" --target 0.78 --out "$out" --plain --jobs "${JOBS:-1}"
done
cat <<'TABLE'

The paper's Table 1 (original CIFAR-10; the data here may be a JPEG copy, which costs 2-3 points):
| policy | iterations | accuracy |
|---|---|---|
| fixed | 70,000 | 81.4% |
| triangular2 (three stages, Table 2) | 25,000 | 81.4% |
| decay | 25,000 | 78.5% |
| exp | 70,000 | 79.1% |
| exp_range | 42,000 | 82.2% |
TABLE
