#!/usr/bin/env bash
# Training on a Slurm cluster with srun: one task per GPU.
#
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py options ...]
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh dev revcol \
#       configs/revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py work_dirs/upernet_b --amp
#
# WORK_DIR is optional (train.py's default: work_dir of the config, else
# ./work_dirs/<config stem>); a 4th argument starting with '-' is a train.py
# option. Environment: GPUS (8), GPUS_PER_NODE (GPUS, at most 8),
# CPUS_PER_TASK (5), SRUN_ARGS, PORT, PYTHON (python); see slurm_launch.sh.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: bash $0 PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py options ...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR_ARGS=()
if [[ $# -gt 0 && "$1" != -* ]]; then
  WORK_DIR_ARGS=(--work-dir "$1")
  shift
fi
source "$(dirname "${BASH_SOURCE[0]}")/slurm_launch.sh"
slurm_launch "$PARTITION" "$JOB_NAME" train.py 1 "$CONFIG" "${WORK_DIR_ARGS[@]}" "$@"
