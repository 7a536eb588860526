#!/usr/bin/env bash
# Build (or refresh) the mmrevcol virtual environment with the pinned, verified stack.
#
#   bash tools/bootstrap.sh                           # default stack (torch 2.13), venv at ./.venv
#   MMREVCOL_VENV=/path bash tools/bootstrap.sh
#   MMREVCOL_STACK=torch21 bash tools/bootstrap.sh    # requirements/stack_torch21.txt, ./.venv-torch21
#
# A stack other than 'default' is named by requirements/stack_<name>.txt: its pins are installed
# first and the file constrains every later install; its venv defaults to ./.venv-<name> and it
# gets a pip cache of its own (MMREVCOL_PIP_CACHE_DIR, default ~/.cache/mmrevcol/pip-<name>),
# because pip caches the mmcv wheel by its source, not by the torch it was compiled against.
# The default stack uses pip's usual cache.
#
# Idempotent: when the venv already matches the requirement files and this script, it only
# verifies the imports and returns in seconds. Every step is announced; a failure names the step.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${MMREVCOL_STACK:-default}"
if [[ "$STACK" == default ]]; then
  STACK_FILE=""
  VENV="${MMREVCOL_VENV:-$ROOT/.venv}"
else
  STACK_FILE="$ROOT/requirements/stack_${STACK}.txt"
  if [[ ! -f "$STACK_FILE" ]]; then
    echo "[bootstrap] unknown MMREVCOL_STACK=$STACK: no $STACK_FILE" >&2
    exit 2
  fi
  VENV="${MMREVCOL_VENV:-$ROOT/.venv-$STACK}"
fi
BASE_PY="${MMREVCOL_PYTHON:-python3}"
STAMP="$VENV/.mmrevcol-bootstrap"
STACK_STAMP="$VENV/.mmrevcol-stack"
TOTAL=7
STEP=0
STEP_NAME="start"
T0=$SECONDS

# torch must come from the standard package index: the machine-wide pip configuration may point
# at a local '+cpu' torch wheel for which no torchvision exists.
export PIP_CONFIG_FILE=/dev/null
export PIP_FIND_LINKS=
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [[ -n "${MMREVCOL_PIP_CACHE_DIR:-}" ]]; then
  export PIP_CACHE_DIR="$MMREVCOL_PIP_CACHE_DIR"
elif [[ -n "$STACK_FILE" ]]; then
  export PIP_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mmrevcol/pip-$STACK"
fi

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
  local files=() f
  for f in "$ROOT"/requirements/*.txt; do
    [[ "$(basename "$f")" == stack_* ]] || files+=("$f")
  done
  [[ -z "$STACK_FILE" ]] || files+=("$STACK_FILE")
  { [[ -z "$STACK_FILE" ]] || echo "stack $STACK"
    cat "${files[@]}" "$ROOT/tools/bootstrap.sh" "$ROOT/setup.py"; } | sha256sum | cut -d' ' -f1
}

# The version a stack file pins with '==' for package $1 (empty when none).
stack_pin() {
  [[ -n "$STACK_FILE" ]] || return 0
  sed -e 's/#.*//' "$STACK_FILE" | awk -v name="$1" -F'==' \
    'tolower($1) ~ "^[[:space:]]*" name "[[:space:]]*$" {gsub(/[[:space:]]/, "", $2); print $2}'
}

# Requirement lines of the files given, without those naming a package the stack file lists.
without_stack_packages() {
  local names
  names="$(sed -e 's/#.*//' "$STACK_FILE" | sed -E 's/[[:space:]]*([A-Za-z0-9_.-]+).*/\1/' \
           | tr 'A-Z_' 'a-z-' | grep -v '^$' | paste -sd'|')"
  cat "$@" | sed -e 's/#.*//' | grep -v '^[[:space:]]*$' \
    | awk -v names="^($names)\$" '{n = $0; sub(/[[:space:]]*[<>=!~;[ ].*/, "", n);
        gsub(/^[[:space:]]+/, "", n); n = tolower(n); gsub(/_/, "-", n); if (n !~ names) print}'
}

verify() {
  MMREVCOL_EXPECT_TORCH="$(stack_pin torch)" "$VENV/bin/python" - "$ROOT" <<'PY'
import os, sys
root = os.path.realpath(sys.argv[1])
import torch, torchvision, mmengine, mmcv, mmdet, mmseg, mmpretrain, timm  # noqa: F401
from mmcv.ops import RoIAlign, MultiScaleDeformableAttention  # noqa: F401  (compiled ops)
import mmrevcol
where = os.path.realpath(os.path.dirname(os.path.dirname(mmrevcol.__file__)))
if where != root:
    sys.exit(f'mmrevcol is imported from {where}, expected this checkout {root}')
expect = os.environ.get('MMREVCOL_EXPECT_TORCH')
if expect and torch.__version__.split('+')[0] != expect:
    sys.exit(f'torch {torch.__version__} is installed, the stack pins {expect}')
print(f'[bootstrap] torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, timm {timm.__version__}, '
      f'mmrevcol {mmrevcol.__version__}')
PY
}

# The compiled mmcv ops load and run (an mmcv wheel built against another torch fails here).
mmcv_ops_work() {
  "$VENV/bin/python" - <<'PY'
import mmcv, torch
assert mmcv.__version__ == '2.1.0', mmcv.__version__
from mmcv.ops import RoIAlign
out = RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 4, 4), torch.tensor([[0., 0., 0., 3., 3.]]))
assert out.shape == (1, 1, 2, 2), out.shape
PY
}

FP="$(fingerprint)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FP" ]] && verify 2>/dev/null; then
  echo "[bootstrap] $VENV ($STACK stack) is up to date ($((SECONDS - T0))s)."
  exit 0
fi
if [[ -f "$STACK_STAMP" && "$(cat "$STACK_STAMP")" != "$STACK" ]]; then
  echo "[bootstrap] $VENV holds the '$(cat "$STACK_STAMP")' stack, not '$STACK':" \
       "set MMREVCOL_VENV to another directory or remove it" >&2
  exit 2
fi
rm -f "$STAMP"

step "virtual environment at $VENV ($STACK stack)"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$BASE_PY" -m venv "$VENV"
fi
echo "$STACK" > "$STACK_STAMP"
PIP=("$VENV/bin/python" -m pip)
CONSTRAINTS=()
[[ -z "$STACK_FILE" ]] || CONSTRAINTS=(-c "$STACK_FILE")

step "build tools (pip, setuptools<81, wheel, ninja)"
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install -r "$ROOT/requirements/build.txt"

if [[ -z "$STACK_FILE" ]]; then
  step "torch 2.13.0 + torchvision 0.28.0 from the package index"
  "${PIP[@]}" install torch==2.13.0 torchvision==0.28.0

  step "mmengine"
  "${PIP[@]}" install mmengine==0.10.7
else
  step "torch $(stack_pin torch) + torchvision $(stack_pin torchvision) + numpy from the package index (pip cache $PIP_CACHE_DIR)"
  "${PIP[@]}" install "${CONSTRAINTS[@]}" torch torchvision numpy

  step "mmengine"
  "${PIP[@]}" install "${CONSTRAINTS[@]}" mmengine
fi

step "mmcv 2.1.0 with ops (built from source once, ~10 min on 2 cores; pip caches the wheel)"
if ! mmcv_ops_work 2>/dev/null; then
  if "${PIP[@]}" show mmcv >/dev/null 2>&1; then
    # installed but its ops do not load (e.g. built against another torch): build it again
    "${PIP[@]}" uninstall -y mmcv
  fi
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" install --no-build-isolation "${CONSTRAINTS[@]}" -r "$ROOT/requirements/mmcv.txt"
  mmcv_ops_work
fi

step "mmdet, mmsegmentation, mmpretrain, timm, test tools"
if [[ -z "$STACK_FILE" ]]; then
  "${PIP[@]}" install -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
else
  REQS="$VENV/.mmrevcol-requirements.txt"
  { cat "$STACK_FILE"; without_stack_packages "$ROOT/requirements/runtime.txt" \
      "$ROOT/requirements/tests.txt"; } > "$REQS"
  "${PIP[@]}" install "${CONSTRAINTS[@]}" -r "$REQS"
fi

step "mmrevcol (editable) and import check"
"${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT"
verify
echo "$FP" > "$STAMP"
echo "[bootstrap] done in $((SECONDS - T0))s."
