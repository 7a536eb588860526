"""How well a config's reversible backbone rebuilds its columns with given
weights, per precision and ``keep_states_every``.

The reversible backward rebuilds column states with the inverse, and its
rounding error depends on the weights (see :mod:`mmrevcol.models.reversible`).
Before fine-tuning from a checkpoint (e.g. an official RevCol one converted
with ``tools/model_converters/revcol_converter.py``), this measures the error
the training would see, under each autocast precision and for each
``keep_states_every``, so the setting can be chosen from numbers.
"""
from typing import (Any, Dict, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import torch

from mmrevcol.models.reversible import (check_keep_every, column_backbone,
                                 reconstruction_errors)
from .complexity import ConfigLike, load_model
from .speed import load_batches

#: Autocast dtype of each precision name (None: no autocast).
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


class ReconstructionRow(NamedTuple):
    """Errors of one (precision, ``keep_states_every``) setting.

    Attributes:
        precision (str): A key of :data:`PRECISIONS`.
        keep_every (int | None): The ``keep_states_every`` measured.
        errors (list[float]): Per column but the last, first column first:
            max absolute error / max absolute state value, the worst over
            the batches (0 for kept columns).
    """
    precision: str
    keep_every: Optional[int]
    errors: List[float]

    @property
    def worst(self) -> float:
        return max(self.errors, default=0.0)


def load_backbone_weights(backbone: torch.nn.Module, checkpoint: str) -> str:
    """Load a checkpoint into ``backbone`` under the backbone key policy of
    :func:`mmrevcol.models.checkpoint.load_backbone_checkpoint` (whole model
    with ``backbone.`` keys or the backbone alone, e.g. the converter's
    output; no code from the file runs).

    Returns:
        str: What was loaded, for the report.

    Raises:
        CheckpointKeyError: if a backbone key is missing from the file or
            the file has keys the backbone does not know.
    """
    from mmrevcol.models.checkpoint import load_backbone_checkpoint
    report = load_backbone_checkpoint(backbone, checkpoint, logger='silent',
                                      what='CHECKPOINT')
    return (f'loaded {len(report.loaded)} backbone entries: {report.source}; '
            f'{len(report.new)} new, {len(report.unused)} unused')


def check_reconstruction(
        config: ConfigLike,
        checkpoint: Optional[str] = None,
        shape: Union[int, Sequence[int], None] = None,
        batch_size: int = 1,
        num_batches: int = 1,
        source: str = 'dummy',
        keep_every: Sequence[Optional[int]] = (None, 2),
        precisions: Sequence[str] = ('fp32', 'bf16'),
        device: str = 'cpu',
        cfg_options: Optional[Dict[str, Any]] = None
) -> Tuple[List[ReconstructionRow], str]:
    """Measure the reconstruction error of a config's backbone.

    Args:
        config (str | Config): An mmdet, mmseg or mmpretrain config whose
            ``model.backbone`` is a RevCol / RevColV2.
        checkpoint (str, optional): Whole-model or backbone weights (see
            :func:`load_backbone_weights`); random init without.
        shape (int | Sequence[int], optional): Dummy image size
            (``source='dummy'``).
        batch_size (int): Images per batch. Defaults to 1.
        num_batches (int): Batches measured (``source='dataset'``; the worst
            error over them is kept). Defaults to 1.
        source (str): ``'dummy'`` random images or ``'dataset'`` (the
            config's test dataloader). Defaults to ``'dummy'``.
        keep_every (Sequence[int | None]): ``keep_states_every`` values.
        precisions (Sequence[str]): Keys of :data:`PRECISIONS`.
        device (str): Where to run. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Dotted-key overrides.

    Returns:
        tuple[list[ReconstructionRow], str]: One row per (precision, keep)
        and a line saying which weights were used.
    """
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f'precisions must be among {sorted(PRECISIONS)}'
                             f', got {p!r}')
    for k in keep_every:
        check_keep_every(k)
    if (not isinstance(num_batches, int) or isinstance(num_batches, bool)
            or num_batches < 1):
        raise ValueError(f'num_batches must be an int >= 1, got '
                         f'{num_batches!r}')
    dev = torch.device(device)
    model, cfg = load_model(config, None, cfg_options, dev)
    backbone = column_backbone(model, 'check_reconstruction')
    source_note = 'random initialisation'
    if checkpoint is not None:
        source_note = load_backbone_weights(backbone, checkpoint)
    backbone.to(dev).eval()  # no drop path: the inverse sees the same F
    batches = load_batches(cfg, source, shape, batch_size, num_batches)
    rows = []
    for precision in precisions:
        dtype = PRECISIONS[precision]
        for keep in keep_every:
            worst: List[float] = []
            for batch in batches:
                with torch.no_grad(), torch.autocast(
                        dev.type, dtype=dtype or torch.bfloat16,
                        enabled=dtype is not None):
                    inputs = model.data_preprocessor(batch, False)['inputs']
                    errors = reconstruction_errors(
                        backbone.stages(), backbone.embed(inputs),
                        keep_every=keep)
                worst = errors if not worst else [
                    max(a, b) for a, b in zip(worst, errors)]
            rows.append(ReconstructionRow(precision, keep, worst))
    return rows, source_note


def format_reconstruction(rows: Sequence[ReconstructionRow]) -> str:
    """A table: precision, keep, worst error, then the per-column errors."""
    lines = [f'{"precision":<10}{"keep":>6}{"worst":>10}  per column '
             '(first ... second to last)']
    for r in rows:
        keep = 'None' if r.keep_every is None else str(r.keep_every)
        lines.append(f'{r.precision:<10}{keep:>6}{r.worst:>10.2e}  ' +
                     ' '.join(f'{e:.1e}' for e in r.errors))
    return '\n'.join(lines)
