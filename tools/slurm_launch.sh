#!/usr/bin/env bash
# Shared by slurm_train.sh and slurm_test.sh (sourced, not run), as
# dist_launch.sh is by the torchrun scripts:
#
#   slurm_launch PARTITION JOB_NAME TOOL N ARG1..ARGN [TOOL options ...]
#
# runs tools/TOOL with srun, one task per GPU: its N positional arguments,
# --launcher slurm, then the options. Environment (the OpenMMLab names):
# GPUS (default 8) tasks in all, GPUS_PER_NODE (GPUS, at most 8) tasks and
# GPUs per node, CPUS_PER_TASK (5), SRUN_ARGS (extra srun arguments, split on
# spaces, e.g. "--quotatype=auto --time=1-0"), PORT (exported as MASTER_PORT;
# mmengine's default 29500 when unset), PYTHON (python).
slurm_launch() {
  local partition=$1 job_name=$2 tool=$3 npos=$4
  shift 4
  local gpus=${GPUS:-8} per_node cpus=${CPUS_PER_TASK:-5} name value
  for name in GPUS GPUS_PER_NODE CPUS_PER_TASK; do
    case $name in
      GPUS) value=$gpus ;;
      GPUS_PER_NODE) per_node=${GPUS_PER_NODE:-$(( gpus < 8 ? gpus : 8 ))}
                     value=$per_node ;;
      CPUS_PER_TASK) value=$cpus ;;
    esac
    if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
      echo "$0: $name must be a positive integer, got '$value'" >&2
      exit 2
    fi
  done
  if [[ -n "${PORT:-}" ]]; then
    export MASTER_PORT="$PORT"
  fi
  local srun_args=()
  read -r -a srun_args <<< "${SRUN_ARGS:-}"
  local tools
  tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  exec srun -p "$partition" \
    --job-name="$job_name" \
    --gres=gpu:"$per_node" \
    --ntasks="$gpus" \
    --ntasks-per-node="$per_node" \
    --cpus-per-task="$cpus" \
    --kill-on-bad-exit=1 \
    "${srun_args[@]}" \
    "${PYTHON:-python}" -u "$tools/$tool" "${@:1:npos}" --launcher slurm "${@:npos+1}"
}
