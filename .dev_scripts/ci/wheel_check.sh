#!/usr/bin/env bash
# Clean-venv wheel check: does the mmrevcol *wheel* install and run in an
# environment that only has what a segmentation user has?
#
#   bash .dev_scripts/ci/wheel_check.sh
#
# 1. a fresh virtual environment (python3 -m venv) in a temporary folder;
# 2. torch + torchvision, mmengine, mmcv with ops (the source build of
#    tools/bootstrap.sh; pip's wheel cache, shared with the main stack, makes
#    it fast when the main stack built it against the same torch),
#    mmsegmentation (+ ftfy, regex), at the pins of requirements/*.txt, and
#    neither mmdet nor mmpretrain;
# 3. the wheel, built from a copy of the checkout's tracked and non-ignored
#    files, installed non-editable as mmrevcol[mmseg]; pip must not change
#    torch, mmcv or mmengine;
# 4. from a folder outside the checkout: import mmrevcol (from site-packages,
#    configs from mmrevcol/.mim), build the toy UperNet config of
#    mmrevcol/.mim/configs and run one train step, then run
#    mmrevcol/.mim/tools/train.py for 2 iterations (with validation) on a toy
#    ADE20K set written by mmrevcol/.mim/tools/dataset_converters.
#
# Environment: MMREVCOL_PYTHON (python3), PIP_CACHE_DIR (pip's default, the
# main stack's: its wheel cache holds the mmcv build), MMREVCOL_WHEELHOUSE
# (~/.cache/mmrevcol/wheelhouse: the downloaded wheels, about 4 GB with
# torch's CUDA libraries, kept between runs), MAX_JOBS (nproc; mmcv build),
# MMREVCOL_WHEEL_CHECK_KEEP=1 keeps the temporary folder. Exit status 0 only when every check passed; a
# failure names its step.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE_PY="${MMREVCOL_PYTHON:-python3}"
TOTAL=8
STEP=0
STEP_NAME="start"
T0=$SECONDS

# as tools/bootstrap.sh: torch from the standard package index, never the
# machine-wide find-links (a local '+cpu' torch without torchvision)
export PIP_CONFIG_FILE=/dev/null
export PIP_FIND_LINKS=
export PIP_DISABLE_PIP_VERSION_CHECK=1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

WHEELHOUSE="${MMREVCOL_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrevcol/wheelhouse}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mmrevcol-wheel-check.XXXXXX")"
VENV="$WORK/venv"
PY="$VENV/bin/python"
PIP=("$PY" -m pip)

step() {
  STEP=$((STEP + 1))
  STEP_NAME="$*"
  printf '[wheel-check %d/%d +%4ds] %s\n' "$STEP" "$TOTAL" "$((SECONDS - T0))" "$*"
}
cleanup() {
  if [[ "${MMREVCOL_WHEEL_CHECK_KEEP:-0}" == 1 ]]; then
    echo "[wheel-check] kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
on_error() {
  local rc=$?
  printf '\n[wheel-check] FAILED at step %d/%d (%s), exit code %d.\n' \
    "$STEP" "$TOTAL" "$STEP_NAME" "$rc" >&2
  exit "$rc"
}
trap on_error ERR
trap cleanup EXIT

# The version requirements/runtime.txt pins for package $1.
pin() {
  local v
  v="$(sed -e 's/#.*//' "$ROOT/requirements/runtime.txt" \
       | awk -F'==' -v n="$1" 'tolower($1) ~ "^[[:space:]]*" n "[[:space:]]*$" {gsub(/[[:space:]]/, "", $2); print $2}')"
  [[ -n "$v" ]] || { echo "[wheel-check] requirements/runtime.txt pins no $1" >&2; return 1; }
  echo "$v"
}
TORCH="$(pin torch)"
TORCHVISION="$(pin torchvision)"
MMENGINE="$(pin mmengine)"
MMSEG="$(pin mmsegmentation)"

step "fresh virtual environment at $VENV ($("$BASE_PY" --version 2>&1))"
"$BASE_PY" -m venv "$VENV"
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"

step "torch $TORCH + torchvision $TORCHVISION, mmengine $MMENGINE (wheelhouse $WHEELHOUSE)"
# pip does not keep the index's downloads here (its HTTP cache stays empty),
# so the wheels are kept in a wheelhouse: only what is missing is downloaded
mkdir -p "$WHEELHOUSE"
"${PIP[@]}" download -q -d "$WHEELHOUSE" "torch==$TORCH" "torchvision==$TORCHVISION" \
  "mmengine==$MMENGINE" "mmsegmentation==$MMSEG" ftfy regex addict yapf opencv-python
"${PIP[@]}" install -q --no-index -f "$WHEELHOUSE" \
  "torch==$TORCH" "torchvision==$TORCHVISION" "mmengine==$MMENGINE"

step "mmcv with ops (requirements/mmcv.txt, the source build of tools/bootstrap.sh; pip cache ${PIP_CACHE_DIR:-default})"
# from the index, as bootstrap.sh: pip's wheel cache knows the mmcv wheel
# by the index's sdist link
MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
  "${PIP[@]}" install -q --no-build-isolation -f "$WHEELHOUSE" -r "$ROOT/requirements/mmcv.txt"
"$PY" - <<'PY'
import torch
from mmcv.ops import RoIAlign
out = RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 4, 4), torch.tensor([[0., 0., 0., 3., 3.]]))
assert out.shape == (1, 1, 2, 2), out.shape
PY

step "mmsegmentation $MMSEG (+ ftfy, regex); no mmdet, no mmpretrain"
"${PIP[@]}" install -q --no-index -f "$WHEELHOUSE" "mmsegmentation==$MMSEG" ftfy regex

step "build the wheel from a copy of the checkout"
SRC="$WORK/src"
mkdir -p "$SRC" "$WORK/dist"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # tracked and untracked-but-not-ignored files: no build/, .venv, .mim
  (cd "$ROOT" && git ls-files -z -c -o --exclude-standard \
     | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
     | tar --null -T - -cf -) | tar -C "$SRC" -xf -
else
  (cd "$ROOT" && tar --exclude=./.venv --exclude=./build --exclude=./mmrevcol/.mim -cf - .) \
    | tar -C "$SRC" -xf -
fi
"${PIP[@]}" wheel -q --no-deps --no-build-isolation "$SRC" -w "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/mmrevcol-*.whl)"
echo "[wheel-check] $(basename "$WHEEL")"
"$PY" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ['mmrevcol/.mim/model-index.yml',
        'mmrevcol/.mim/configs/toy/upernet_revcolv2_toy_ade20k.py',
        'mmrevcol/.mim/configs/_base_/models/upernet_revcolv2.py',
        'mmrevcol/.mim/configs/revcolv2/metafile.yml',
        'mmrevcol/.mim/configs/revcolv2/README.md',
        'mmrevcol/.mim/configs/revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py',
        'mmrevcol/.mim/demo/toy_demo.py',
        'mmrevcol/.mim/tools/analysis_tools/analysis_lib/speed.py',
        'mmrevcol/.mim/tools/train.py', 'mmrevcol/.mim/tools/test.py',
        'mmrevcol/.mim/tools/slurm_train.sh',
        'mmrevcol/.mim/tools/dataset_converters/make_toy_data.py']
missing = [n for n in need if n not in names]
assert not missing, f'the wheel lacks {missing}'
stray = [n for n in names if '__pycache__' in n or n.startswith(('tests/', 'configs/', 'tools/', 'demo/'))]
assert not stray, f'the wheel carries {stray[:5]}'
print(f'[wheel-check] {len(names)} files, '
      f'{sum(n.startswith("mmrevcol/.mim/") for n in names)} under mmrevcol/.mim')
PY

step "install the wheel non-editable as mmrevcol[mmseg]"
BEFORE="$("${PIP[@]}" freeze | grep -iE '^(torch|torchvision|mmcv|mmengine|mmsegmentation)==' | sort)"
"${PIP[@]}" install -q -f "$WHEELHOUSE" "${WHEEL}[mmseg]"
AFTER="$("${PIP[@]}" freeze | grep -iE '^(torch|torchvision|mmcv|mmengine|mmsegmentation)==' | sort)"
if [[ "$BEFORE" != "$AFTER" ]]; then
  printf '[wheel-check] installing the wheel changed the stack:\n%s\n->\n%s\n' "$BEFORE" "$AFTER" >&2
  false
fi
echo "$AFTER" | tr '\n' ' '; echo

RUN="$WORK/run"
mkdir -p "$RUN"
cd "$RUN"   # outside the checkout: nothing can be imported from it

step "import mmrevcol from site-packages, one train step of the .mim toy UperNet config"
"$PY" - "$ROOT" <<'PY'
import importlib.util
import os.path as osp
import sys

root = osp.realpath(sys.argv[1])
for absent in ('mmdet', 'mmpretrain'):
    assert importlib.util.find_spec(absent) is None, f'{absent} is installed'
import mmrevcol
from mmrevcol import apis
from mmrevcol.datasets.toy import make_toy_data
from mmrevcol.resources import MIM_DIR, resource_root

pkg = osp.realpath(osp.dirname(mmrevcol.__file__))
assert not pkg.startswith(root + osp.sep), f'mmrevcol imported from the checkout: {pkg}'
assert 'site-packages' in pkg, pkg
assert resource_root() == MIM_DIR and osp.isdir(MIM_DIR), resource_root()
config = osp.join(MIM_DIR, 'configs', 'toy', 'upernet_revcolv2_toy_ade20k.py')
assert osp.isfile(config), config
assert osp.isfile(osp.join(MIM_DIR, 'demo', 'toy_demo.py')), 'no .mim/demo'
make_toy_data('ade20k', 'data/step_ade20k', num_train=4, num_val=2,
              img_size=64, seed=0)
options = {f'{k}.dataset.data_root': 'data/step_ade20k'
           for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
options.update({
    'train_cfg.max_iters': 1, 'train_cfg.val_interval': 10,
    'param_scheduler.0.end': 1, 'param_scheduler.1.begin': 1,
    'param_scheduler.1.end': 2, 'default_hooks.checkpoint.interval': 1,
})
cfg = apis.build_train_config(config, work_dir='work_dirs/step',
                              cfg_options=options)
assert cfg.model.backbone.type == 'RevColV2', cfg.model.backbone.type
runner = apis.run_train(cfg)
assert runner.iter == 1, runner.iter
loss = runner.message_hub.get_scalar('train/loss').current()
assert loss == loss and loss > 0, loss
print(f'[wheel-check] mmrevcol {mmrevcol.__version__} from {pkg}; one train '
      f'step of {osp.relpath(config, pkg)}: loss {loss:.3f}')
PY

step "mmrevcol/.mim/tools/train.py, 2 iterations on a toy ADE20K set"
MIM="$("$PY" -c 'from mmrevcol.resources import MIM_DIR; print(MIM_DIR)')"
"$PY" "$MIM/tools/dataset_converters/make_toy_data.py" ade20k data/toy_ade20k \
  --num-train 4 --num-val 2 --img-size 64
"$PY" "$MIM/tools/train.py" "$MIM/configs/toy/upernet_revcolv2_toy_ade20k.py" \
  --work-dir work_dirs/tool --cfg-options \
  train_dataloader.dataset.data_root=data/toy_ade20k \
  val_dataloader.dataset.data_root=data/toy_ade20k \
  test_dataloader.dataset.data_root=data/toy_ade20k \
  train_cfg.max_iters=2 train_cfg.val_interval=2 \
  param_scheduler.0.end=1 param_scheduler.1.begin=1 param_scheduler.1.end=2 \
  default_hooks.checkpoint.interval=2 default_hooks.logger.interval=1 \
  > train.log 2>&1 || { tail -n 60 train.log >&2; false; }
test -f work_dirs/tool/iter_2.pth || { tail -n 60 train.log >&2; echo "no iter_2.pth" >&2; false; }
grep -q 'mIoU' train.log || { tail -n 60 train.log >&2; echo "no validation mIoU in the log" >&2; false; }
grep -E 'Iter\(val\).*mIoU' train.log | tail -n 1

echo "[wheel-check] passed in $((SECONDS - T0))s."
