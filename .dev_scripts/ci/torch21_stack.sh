#!/usr/bin/env bash
# CI, second stack: torch 2.1.2 + torchvision 0.16.2 + numpy < 2, mmcv 2.1.0 built from source
# with ops against that torch, and the same OpenMMLab versions as the default stack
# (requirements/stack_torch21.txt). Builds or reuses the venv with tools/bootstrap.sh (own pip
# cache: a first build compiles mmcv, ~15 min on 2 cores; later builds reuse the cached wheel),
# then runs the tests that touch what differs between torch versions: the compat module,
# registries, checkpoint loading (safe loading, converter, backbone weights, state-dict versions), the
# backbones and their argument checks, the reversible engine and its non-finite check, the bad-input
# catalogue, pre-training (MIM, joint), the resume state round trip, and one train step per library.
#
#   bash .dev_scripts/ci/torch21_stack.sh [extra pytest args]
#   MMREVCOL_TORCH21_VENV=/path bash .dev_scripts/ci/torch21_stack.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VENV="${MMREVCOL_TORCH21_VENV:-.venv-torch21}"
T0=$SECONDS
MMREVCOL_STACK=torch21 MMREVCOL_VENV="$VENV" bash tools/bootstrap.sh
T_BUILD=$((SECONDS - T0))

TESTS=(
  tests/test_utils/test_compat.py
  tests/test_registry.py
  tests/test_engine/test_safe_loading.py
  tests/test_engine/test_checkpoint_compat.py
  tests/test_models/test_checkpoint_loading.py
  tests/test_converters/test_revcol_converter.py
  tests/test_models/test_backbones/test_revcol.py
  tests/test_models/test_backbones/test_revcolv2.py
  tests/test_models/test_reversible.py
  tests/test_models/test_reversible_frozen.py
  tests/test_models/test_selfsup/test_revcolv2_mim.py
  tests/test_models/test_checkpoint_fixture.py
  tests/test_models/test_state_dict_version.py
  tests/test_models/test_backbones/test_arguments.py
  tests/test_models/test_reversible_nonfinite.py
  tests/test_models/test_selfsup/test_revcolv2_joint.py
  tests/test_engine/test_hooks/test_nonfinite_guard.py
  tests/test_bad_inputs.py
  # torch.compile: level compilation, and the clear refusal of a compiled whole model on torch 2.1
  tests/test_models/test_compile.py
  tests/test_tools/test_benchmark.py
  # resume: the RNG-state round trip through the safe loader and the restore logic (the bit-identical
  # kill-and-resume runs take ~3 min; they run on the default stack)
  tests/test_engine/test_resume.py::test_rng_state_round_trip_through_the_safe_loader
  tests/test_engine/test_resume.py::test_resume_restores_right_before_the_first_new_batch
  # one train step per library (mmseg, mmdet incl. mmcv ops, mmpretrain)
  tests/test_downstream/test_mmseg.py::test_backbones_resolve_in_every_scope
  tests/test_downstream/test_mmseg.py::test_upernet_train_step_and_layer_decay_groups
  tests/test_downstream/test_mmseg.py::test_reversible_in_amp_optim_wrapper
  tests/test_downstream/test_mmdet.py::test_revcolv2_detector_train_step_and_predict
  tests/test_downstream/test_mmseg_mask2former.py::test_train_step_reaches_the_backbone
  tests/test_downstream/test_mmpretrain.py::test_train_step_with_the_configured_optimizer
)
# What torch 2.1 cannot do, not what mmrevcol does:
DESELECT=(
  # CPU autocast takes bfloat16 only on torch 2.1 ("AutocastCPU only support Bfloat16")
  'tests/test_models/test_reversible.py::test_autocast_cpu_step_runs_without_warnings[dtype1]'
  # keep_states_every=1 under bf16: every gradient is bitwise equal to plain autograd except
  # patch_embed.bias (3e-3 relative, bf16 rounding): torch 2.1's bf16 conv bias backward sums
  # in another order when the (identical) incoming gradient has another memory layout
  'tests/test_models/test_reversible.py::test_bf16_autocast_cpu[1-1e-06]'
  # torch 2.1's dynamo hits "RecursionError: maximum recursion depth exceeded" compiling the level functions
  # for the recomputation check when it runs after the other modules of this list in one process; run
  # alone on torch 2.1.2 it passes (14.6 s); the full check runs on the default stack
  'tests/test_models/test_compile.py::test_compiled_recomputation_rebuilds_states'
)
T1=$SECONDS
rc=0
OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  "${TESTS[@]}" "${DESELECT[@]/#/--deselect=}" "$@" || rc=$?
echo "[torch21 stack] bootstrap ${T_BUILD}s, tests $((SECONDS - T1))s, exit code $rc"
exit "$rc"
