#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU.
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py options ...]
#
# Environment: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# PORT (29500), PYTHON (python).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: bash $0 CONFIG GPUS [train.py options ...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
source "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh"
dist_launch "$GPUS" train.py 1 "$CONFIG" "$@"
