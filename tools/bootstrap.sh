#!/usr/bin/env bash
# Build (or refresh) the mmrevcol virtual environment with the pinned, verified stack.
#
#   bash tools/bootstrap.sh            # venv at ./.venv
#   MMREVCOL_VENV=/path bash tools/bootstrap.sh
#
# Idempotent: when the venv already matches the requirement files and this script, it only
# verifies the imports and returns in seconds. Every step is announced; a failure names the step.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMREVCOL_VENV:-$ROOT/.venv}"
BASE_PY="${MMREVCOL_PYTHON:-python3}"
STAMP="$VENV/.mmrevcol-bootstrap"
TOTAL=7
STEP=0
STEP_NAME="start"
T0=$SECONDS

# torch must come from the standard package index: the machine-wide pip configuration may point
# at a local '+cpu' torch wheel for which no torchvision exists.
export PIP_CONFIG_FILE=/dev/null
export PIP_FIND_LINKS=
export PIP_DISABLE_PIP_VERSION_CHECK=1

step() {
  STEP=$((STEP + 1))
  STEP_NAME="$*"
  printf '[bootstrap %d/%d +%4ds] %s\n' "$STEP" "$TOTAL" "$((SECONDS - T0))" "$*"
}
on_error() {
  local rc=$?
  printf '\n[bootstrap] FAILED at step %d/%d (%s), exit code %d.\n' "$STEP" "$TOTAL" "$STEP_NAME" "$rc" >&2
  printf '[bootstrap] venv: %s ; re-run this script after fixing the cause.\n' "$VENV" >&2
  exit "$rc"
}
trap on_error ERR

fingerprint() {
  cat "$ROOT"/requirements/*.txt "$ROOT/tools/bootstrap.sh" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1
}

verify() {
  "$VENV/bin/python" - "$ROOT" <<'PY'
import os, sys
root = os.path.realpath(sys.argv[1])
import torch, torchvision, mmengine, mmcv, mmdet, mmseg, mmpretrain, timm  # noqa: F401
from mmcv.ops import RoIAlign, MultiScaleDeformableAttention  # noqa: F401  (compiled ops)
import mmrevcol
where = os.path.realpath(os.path.dirname(os.path.dirname(mmrevcol.__file__)))
if where != root:
    sys.exit(f'mmrevcol is imported from {where}, expected this checkout {root}')
print(f'[bootstrap] torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, timm {timm.__version__}, '
      f'mmrevcol {mmrevcol.__version__}')
PY
}

FP="$(fingerprint)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FP" ]] && verify 2>/dev/null; then
  echo "[bootstrap] $VENV is up to date ($((SECONDS - T0))s)."
  exit 0
fi
rm -f "$STAMP"

step "virtual environment at $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$BASE_PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)

step "build tools (pip, setuptools<81, wheel, ninja)"
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install -r "$ROOT/requirements/build.txt"

step "torch 2.13.0 + torchvision 0.28.0 from the package index"
"${PIP[@]}" install torch==2.13.0 torchvision==0.28.0

step "mmengine"
"${PIP[@]}" install mmengine==0.10.7

step "mmcv 2.1.0 with ops (built from source once, ~10 min on 2 cores; pip caches the wheel)"
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" install --no-build-isolation -r "$ROOT/requirements/mmcv.txt"
fi

step "mmdet, mmsegmentation, mmpretrain, timm, test tools"
"${PIP[@]}" install -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

step "mmrevcol (editable) and import check"
"${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT"
verify
echo "$FP" > "$STAMP"
echo "[bootstrap] done in $((SECONDS - T0))s."
