#!/usr/bin/env bash
# Shared by dist_train.sh and dist_test.sh (sourced, not run):
#
#   dist_launch GPUS TOOL N ARG1..ARGN [TOOL options ...]
#
# runs tools/TOOL with torchrun, one process per GPU: its N positional
# arguments, --launcher pytorch, then the options. Environment: NNODES (default 1), NODE_RANK (0),
# MASTER_ADDR (127.0.0.1), PORT (29500), PYTHON (python).
dist_launch() {
  local gpus=$1 tool=$2 npos=$3
  shift 3
  if ! [[ "$gpus" =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: GPUS must be a positive integer, got '$gpus'" >&2
    exit 2
  fi
  local tools
  tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$gpus" \
    --master_port="${PORT:-29500}" \
    "$tools/$tool" "${@:1:npos}" --launcher pytorch "${@:npos+1}"
}
