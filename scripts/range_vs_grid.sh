#!/usr/bin/env bash
# How good is the range test's suggestion? For each workload: the LR range test on its
# fixed-rate config, the run it suggests (<config>_range_clr), and a grid of triangular runs
# with the same step size and length: max_lr = the range test's (smoothed) accuracy peak
# times each of MAX_FACTORS (default 0.25 0.5 1 2), base_lr = max_lr over each of
# BASE_DIVISORS (default 10 4 3). Seeds 1..SEEDS (default 2). It prints, and writes to
# OUT/summary.md, the suggestion's mean final accuracy, the grid's best and the gap.
#
#   scripts/range_vs_grid.sh [WORKLOAD...]   # default: mnist_mlp mnist_lenet fashion_lenet
#
# Workloads: mnist_mlp, mnist_lenet, fashion_lenet, cifar10_quick. Resumable: run it again
# and finished runs are reused (clr compare). CLR_DATA_MIRROR as for the quick start.
set -euo pipefail
source "$(dirname "$0")/env.sh"
out=${OUT:-runs/range_vs_grid}
seeds=${SEEDS:-2}
factors=${MAX_FACTORS:-0.25 0.5 1 2}
divisors=${BASE_DIVISORS:-10 4 3}
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then
    workloads=(mnist_mlp mnist_lenet fashion_lenet)
fi

# `x` to 2 significant digits, as a plain decimal.
sig2() { awk -v x="$1" 'BEGIN { printf "%.2g\n", x }' | awk '{ printf "%.10g\n", $1 }'; }

for w in "${workloads[@]}"; do
    case $w in
        mnist_mlp)
            cfg=configs/mnist_mlp_fixed.toml
            range=(--epochs 2 --step-epochs 1) ;;
        mnist_lenet)
            cfg=configs/mnist_lenet_fixed.toml
            range=(--epochs 2 --step-epochs 1 --cycles 2) ;;
        fashion_lenet)
            cfg=configs/fashion_lenet_fixed.toml
            range=(--epochs 2 --step-epochs 1 --cycles 2) ;;
        cifar10_quick)
            cfg=configs/cifar10_quick_fixed.toml
            range=(--sweep linear --min-lr 0.0001 --max-lr 0.02 --epochs 4 --evals 20
                   --step-epochs 2 --cycles 3) ;;
        *) echo "unknown workload $w (mnist_mlp, mnist_lenet, fashion_lenet, cifar10_quick)" >&2
           exit 2 ;;
    esac
    dataset=$(sed -n 's/^dataset = "\(.*\)"/\1/p' "$cfg" | head -1)
    "$clr" data fetch "$dataset"
    dir=$out/$w
    if [ ! -f "$dir/range/suggested_run.toml" ]; then
        "$clr" range-test "$cfg" "${range[@]}" --out "$dir/range" --force --plain
    fi
    suggested=$dir/range/suggested_run.toml
    peak=$(sed -n 's/.*to its peak [0-9.]* (lr \([0-9.e+-]*\)).*/\1/p' "$dir/range/suggested.toml" | head -1)
    if [ -z "$peak" ]; then
        echo "$w: no accuracy peak in $dir/range/suggested.toml" >&2
        exit 1
    fi
    # The grid: the suggested config with other bounds and names.
    mkdir -p "$dir/grid"
    configs=("$suggested")
    for f in $factors; do
        max=$(sig2 "$(awk -v p="$peak" -v f="$f" 'BEGIN { print p * f }')")
        for d in $divisors; do
            base=$(sig2 "$(awk -v m="$max" -v d="$d" 'BEGIN { print m / d }')")
            name=${w}_grid_${base}-${max}
            sed -e "s/^name = .*/name = \"$name\"/" -e "s/^base_lr = .*/base_lr = $base/" \
                -e "s/^max_lr = .*/max_lr = $max/" "$suggested" > "$dir/grid/$name.toml"
            configs+=("$dir/grid/$name.toml")
        done
    done
    "$clr" compare "${configs[@]}" --seeds "$seeds" --out "$dir/compare" --plain --jobs "${JOBS:-1}"
    # Mean final accuracy per config; the suggestion is the first row.
    row=$(awk -F, -v w="$w" -v peak="$peak" 'NR > 1 {
            n[$1]++; s[$1] += $6; r[$1] = $3
            if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }
        } END {
            sug = order[1]; best = order[2]
            for (i = 2; i <= k; i++) if (s[order[i]] / n[order[i]] > s[best] / n[best]) best = order[i]
            a = 100 * s[sug] / n[sug]; b = 100 * s[best] / n[best]
            printf "| %s | %.3g | %s | %.2f | %s | %.2f | %+.2f |\n", w, peak, r[sug], a, r[best], b, a - b
        }' "$dir/compare/comparison.csv")
    echo "$row" > "$dir/summary_row.md"
    echo "$row"
done
# The table of every workload run so far.
{
    echo "| workload | accuracy peak lr | suggested | suggested final acc % | grid best | grid best final acc % | gap (points) |"
    echo "|---|---|---|---|---|---|---|"
    cat "$out"/*/summary_row.md
} > "$out/summary.md"
echo
cat "$out/summary.md"
