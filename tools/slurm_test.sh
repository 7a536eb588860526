#!/usr/bin/env bash
# Testing on a Slurm cluster with srun: one task per GPU.
#
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options ...]
#   GPUS=8 bash tools/slurm_test.sh dev revcol-test \
#       configs/revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py iter_160000.pth --tta
#
# Environment: GPUS (8), GPUS_PER_NODE (GPUS, at most 8), CPUS_PER_TASK (5),
# SRUN_ARGS, PORT, PYTHON (python); see slurm_launch.sh.
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options ...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
shift 2
source "$(dirname "${BASH_SOURCE[0]}")/slurm_launch.sh"
slurm_launch "$PARTITION" "$JOB_NAME" test.py 2 "$@"
