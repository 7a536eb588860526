"""Effective lr scale (decay ** (num_layers - 1 - depth)) of the patch embedding,
the first and last bottom-up block and the last top-down block of every
shipped RevColV2 config, under the current rule and the pre-issue-10 rule
(column + block index for every column). Run from the repository root:
    python .dev_scripts/print_lr_scales.py
"""
import glob, sys
import torch
from mmengine.config import Config
import mmrevcol  # noqa
from mmrevcol.models import RevColV2

rows = []
for path in sorted(glob.glob('configs/*revcolv2*.py')):
    cfg = Config.fromfile(path)
    bb = dict(cfg.model.backbone)
    bb.pop('type'); bb['init_cfg'] = None
    pw = cfg.optim_wrapper.get('paramwise_cfg', {}) or {}
    rate = pw.get('layer_decay_rate')
    if rate is None:
        rows.append((path, 'no layer decay')); continue
    with torch.device('meta'):
        m = RevColV2(**bb)
    n = m.num_layers
    nbu = m.arch_settings['bu_columns']
    last_bu = m.columns[nbu - 1]
    lbu = f'columns.{nbu-1}.levels.3.blocks.{len(last_bu.levels[3].blocks)-1}.norm1.weight'
    ltd_col = m.columns[-1]
    li = ltd_col.order[-1]
    ltd = f'columns.{len(m.columns)-1}.levels.{li}.blocks.{len(ltd_col.levels[li].blocks)-1}.norm1.weight'
    names = ['patch_embed.weight', 'columns.0.levels.0.blocks.0.norm1.weight', lbu, ltd]
    # old rule: column index + block index in the column + 1, num_layers from built columns
    def old(name):
        import re
        mm = re.match(r'columns\.(\d+)\.levels\.(\d)\.blocks\.(\d+)', name)
        tot = max(c + sum(len(col.levels[i].blocks) for i in col.order) for c, col in enumerate(m.columns)) + 2
        if mm is None: return 0, tot
        c, lv, k = map(int, mm.groups())
        col = m.columns[c]
        off = sum(len(col.levels[i].blocks) for i in col.order[:col.order.index(lv)])
        return c + off + k + 1, tot
    vals = []
    for name in names:
        d, _ = m.get_layer_depth(name)
        od, ot = old(name)
        vals.append(f'{rate ** (n - 1 - d):.2e} (was {rate ** (ot - 1 - od):.2e})')
    rows.append((path, f'decay {rate}, num_layers {n}: ' + ' | '.join(vals)))
print('config: patch_embed | first BU block | last BU block | last TD block')
for r in rows:
    print(*r)
