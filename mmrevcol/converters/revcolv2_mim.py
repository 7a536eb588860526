"""Export the backbone of a RevColV2 masked-image-modeling checkpoint.

A pre-training checkpoint (``tools/train.py`` with a ``RevColV2MIM`` config)
holds the whole algorithm: ``backbone.*`` (every bottom-up and top-down
column, the embeddings, ``td_norm``/``td_pos_embed`` and the pre-training
``mask_token``), ``neck.*`` (the pixel predictor) and optimizer/runner
state. The exported file keeps the backbone without ``mask_token``, as
``{'state_dict': {'backbone.' + key: tensor}, 'meta': {...}}``, which the
classification, UperNet, Mask R-CNN and Mask2Former configs load through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
with no missing backbone key (output norms are reported as new).

A joint pre-training checkpoint (``RevColV2JointMIM``) exports the same
way: it never holds the frozen teacher (kept out of the model's state dict),
and its feature predictor (``feature_predictor.*``, the projection to the
teacher's width) is outside ``backbone.`` and dropped with the pixel
predictor; the report lists both under "dropped outside the backbone".
Only ``backbone.*`` keys are ever written.
"""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List

import torch

from .revcol import (ConversionError, check_destination, find_state_dict,
                     read_checkpoint, save_atomic)

#: Backbone keys that only serve pre-training and are not exported.
PRETRAIN_ONLY = ('mask_token', )


@dataclass
class ExportReport:
    """What :func:`export_mim_backbone` did."""
    source: str = ''
    destination: str = ''
    kept: int = 0
    dropped_backbone: List[str] = field(default_factory=list)
    dropped_other: Dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        other = ', '.join(f'{k}* ({n})' for k, n in
                          sorted(self.dropped_other.items())) or 'none'
        return (f'exported {self.kept} backbone tensors of {self.source} '
                f'to {self.destination}\n'
                f'dropped pre-training-only backbone keys: '
                f'{", ".join(self.dropped_backbone) or "none"}\n'
                f'dropped outside the backbone: {other}')


def export_mim_backbone(src: str, dst: str, force: bool = False,
                        prefix: str = 'backbone.') -> ExportReport:
    """Write the backbone of the pre-training checkpoint ``src`` to ``dst``
    (atomically; never over ``src``; an existing ``dst`` needs ``force``).

    Raises:
        ConversionError: ``src`` has no ``backbone.`` key or lacks
            ``mask_token`` (not a masked-image-modeling checkpoint).
    """
    from .. import __version__
    from ..engine.checkpoint_compat import check_checkpoint_dict
    check_destination(src, dst, force)
    checkpoint, _ = read_checkpoint(src)
    check_checkpoint_dict(checkpoint, src, 'SRC')
    state, _, _ = find_state_dict(checkpoint)
    report = ExportReport(source=src)
    out: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        if not key.startswith(prefix):
            head = key.split('.', 1)[0] + '.'
            report.dropped_other[head] = report.dropped_other.get(head, 0) + 1
            continue
        name = key[len(prefix):]
        if name in PRETRAIN_ONLY:
            report.dropped_backbone.append(name)
            continue
        out[prefix + name] = value.contiguous()
    if not out:
        raise ConversionError(f'{src!r} has no {prefix!r} keys: not a '
                              f'RevColV2 pre-training checkpoint')
    if not report.dropped_backbone:
        raise ConversionError(
            f'{src!r} has no {prefix}mask_token: not a masked-image-modeling '
            f'checkpoint (a fine-tuned backbone needs no export)')
    meta = dict(exporter='mmrevcol.converters.revcolv2_mim',
                mmrevcol_version=__version__, source=osp.abspath(src),
                prefix=prefix)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('meta'),
                                                   dict):
        for k in ('epoch', 'iter'):
            if isinstance(checkpoint['meta'].get(k), int):
                meta[f'source_{k}'] = checkpoint['meta'][k]
    save_atomic(dict(meta=meta, state_dict=out), dst)
    report.kept = len(out)
    report.destination = dst
    return report
