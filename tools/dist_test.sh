#!/usr/bin/env bash
# Distributed testing with torchrun: one process per GPU.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options ...]
#
# Environment: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# PORT (29500), PYTHON (python).
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: bash $0 CONFIG CHECKPOINT GPUS [test.py options ...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
source "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh"
dist_launch "$GPUS" test.py 2 "$CONFIG" "$CHECKPOINT" "$@"
