#!/usr/bin/env bash
# Runs a `clr compare --plan` file as a Slurm job array: task i runs line i.
#
#   target/release/clr compare configs/cifar10_full_*.toml --seeds 3 --out runs/table1 --plan > plan.txt
#   sbatch --array=1-$(wc -l < plan.txt) scripts/slurm_array.sh plan.txt
#   target/release/clr compare configs/cifar10_full_*.toml --seeds 3 --out runs/table1   # collect
#
# The nodes need the repository (the plan's paths are relative to it), the data in its
# data/ (the plan fetched what was missing) and the clr binary on a shared filesystem.
# A task that is requeued or resubmitted resumes its run from the last checkpoint, and a
# finished run is reported, not trained again (each line ends in `--reuse`). Two tasks never
# write one run: the second fails at once on the run's lock.
#SBATCH --job-name=clr-sweep
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
plan=${1:?usage: sbatch --array=1-N scripts/slurm_array.sh PLAN_FILE}
cd "${SLURM_SUBMIT_DIR:-.}"
line=$(sed -n "${SLURM_ARRAY_TASK_ID:?run it as a job array (sbatch --array=1-N)}p" "$plan")
if [ -z "$line" ]; then
    echo "$plan has no line $SLURM_ARRAY_TASK_ID" >&2
    exit 1
fi
# Slurm sends SIGTERM before a time limit or preemption: clr checkpoints and exits, and the
# requeued task continues.
echo "task $SLURM_ARRAY_TASK_ID: $line"
eval "exec $line"
