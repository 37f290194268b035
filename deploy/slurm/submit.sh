#!/bin/bash
# Runs a livelab trial as N shards on Slurm: an array job of N shards, then the merge as a job
# that depends on the whole array (afterok). Prints the two job ids, array first.
#   deploy/slurm/submit.sh TRIAL N OUT [SBATCH_OPTION...]
# The options (a partition, an account, --cpus-per-task, ...) are given to both jobs. Job
# logs go to OUT/logs/. The jobs inherit this environment (sbatch's default --export=ALL), so
# PATH, LIVELAB (the binary, when not on PATH) and LIVELAB_CACHE_DIR reach them.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 TRIAL N OUT [SBATCH_OPTION...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
trial=$1 shards=$2 out=$3
shift 3
# Slurm does not create the directory of --output; a job whose log cannot be opened fails.
mkdir -p "${out}/logs"
array=$(sbatch --parsable --array="1-${shards}" --output="${out}/logs/shard-%a.out" "$@" \
    "${here}/trial-array.sbatch" "$trial" "$shards" "$out")
array=${array%%;*} # --parsable prints JOBID or JOBID;CLUSTER
merge=$(sbatch --parsable --dependency="afterok:${array}" --output="${out}/logs/merge.out" "$@" \
    "${here}/merge.sbatch" "$shards" "$out")
echo "$array"
echo "${merge%%;*}"
