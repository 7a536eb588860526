"""Loading weights into a column backbone: the one key policy.

Every mmrevcol loader of backbone weights (``init_cfg=dict(type='Pretrained',
...)`` of both backbones, ``tools/analysis_tools/check_reversible.py``) goes
through :func:`load_backbone_checkpoint`, which applies one policy:

- the *backbone keys* are the keys a pre-trained backbone has: every
  parameter and buffer the backbone builds, except the keys that only exist
  after fine-tuning (``backbone.finetune_only_pattern``: per-level output
  norms). A missing backbone key is an error;
- missing fine-tune-only keys are reported as *new* (they keep the
  initialisation they were built with);
- checkpoint keys of levels this backbone does not build
  (``backbone.unbuilt_key_prefixes()``: a classification RevColV2 builds no
  level that cannot reach the pooled top level) and fine-tune-only keys
  this backbone lacks are reported as *not used*;
- any other missing or unexpected key fails with one summary naming them,
  unless ``strict=False`` (then the summary is a warning).

A dense RevColV2 initialised from a classification checkpoint lacks the
top-down levels the classifier did not build; ``fill_from`` names a second
checkpoint (the pre-trained one the classifier started from) that supplies
exactly the keys the first lacks. The log says which keys came from where.
"""
import os
import re
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

_WRAPPER_PREFIX = 'module.'
_GROUP = re.compile(r'^(columns\.\d+\.(?:levels\.\d+|gamma\d+)|[^.]+)')


class CheckpointKeyError(KeyError):
    """Missing or unexpected backbone keys (the message lists them)."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0])


class LoadReport(NamedTuple):
    """What :func:`load_backbone_checkpoint` did (all key lists sorted).

    Attributes:
        loaded (list[str]): Keys taken from ``checkpoint``.
        filled (list[str]): Keys taken from ``fill_from``.
        new (list[str]): Fine-tune-only keys missing from both files (kept as
            initialised).
        unused (list[str]): Checkpoint keys of levels or outputs this
            backbone does not build.
        missing (list[str]): Backbone keys in neither file (errors).
        unexpected (list[str]): Checkpoint keys the backbone does not know
            (errors).
        source (str): What was read from which file.
    """
    loaded: List[str]
    filled: List[str]
    new: List[str]
    unused: List[str]
    missing: List[str]
    unexpected: List[str]
    source: str = ''


def summarize_keys(keys: Iterable[str], limit: int = 12) -> str:
    """``'columns.5.levels.0 (14), out_norm0 (2)'``: keys grouped by level
    (or top-level module), at most ``limit`` groups."""
    groups: Dict[str, int] = {}
    for key in sorted(keys):
        match = _GROUP.match(key)
        name = match.group(1) if match else key
        groups[name] = groups.get(name, 0) + 1
    items = [f'{g} ({n})' for g, n in groups.items()]
    if len(items) > limit:
        items = items[:limit] + [f'... {len(items) - limit} more groups']
    return ', '.join(items) if items else 'none'


def read_backbone_state_dict(checkpoint: str, prefix: str = 'backbone.',
                             what: str = 'init_cfg.checkpoint'
                             ) -> Tuple[Dict[str, torch.Tensor], str]:
    """Read the backbone entries of a checkpoint file.

    The file is read without running code from it (the converter's
    reader, for local files; mmengine's loader for URLs). It may hold the
    whole model (keys under ``prefix``, other keys ignored) or the backbone
    alone (no key under ``prefix``); ``module.`` wrappers are stripped.

    Args:
        checkpoint (str): Path or URL.
        prefix (str): Prefix of the backbone keys. Defaults to
            ``'backbone.'``.
        what (str): How errors name the file. Defaults to
            ``'init_cfg.checkpoint'``.

    Returns:
        tuple: ``(state_dict, description)``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointFileError: empty, truncated, text or non-dict files
            (:mod:`mmrevcol.engine.checkpoint_compat`).
    """
    from ..converters.revcol import (ConversionError, find_state_dict,
                                     read_checkpoint)
    from ..engine.checkpoint_compat import (CheckpointFileError,
                                            check_checkpoint_dict,
                                            check_checkpoint_file,
                                            unreadable_checkpoint)
    if not isinstance(checkpoint, (str, os.PathLike)) or not checkpoint:
        raise TypeError(f'{what} must be a checkpoint path or URL, got '
                        f'{checkpoint!r}')
    checkpoint = os.fspath(checkpoint)
    if '://' in checkpoint:
        from mmengine.runner.checkpoint import CheckpointLoader
        obj = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    else:
        check_checkpoint_file(checkpoint, what)
        try:
            obj = read_checkpoint(checkpoint)[0]
        except ConversionError as err:  # the loader failed on the file
            raise unreadable_checkpoint(checkpoint, err.__cause__ or err,
                                        what) from err
    check_checkpoint_dict(obj, checkpoint, what)
    try:
        state, _, _ = find_state_dict(obj)
    except ConversionError as err:
        raise CheckpointFileError(f'{what} {checkpoint!r}: {err}') from err
    plain = {}
    for key, value in state.items():
        key = str(key)
        while key.startswith(_WRAPPER_PREFIX):
            key = key[len(_WRAPPER_PREFIX):]
        if isinstance(value, torch.Tensor):
            plain[key] = value
    if prefix and any(k.startswith(prefix) for k in plain):
        inner = {k[len(prefix):]: v for k, v in plain.items()
                 if k.startswith(prefix)}
        return inner, (f'{len(inner)} {prefix!r} entries of {checkpoint} '
                       f'({len(plain) - len(inner)} non-backbone entries '
                       f'ignored)')
    return plain, f'{len(plain)} backbone entries of {checkpoint}'


def _matches(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + '.') for p in prefixes)


def plan_backbone_load(backbone: nn.Module,
                       state: Dict[str, torch.Tensor],
                       fill: Optional[Dict[str, torch.Tensor]] = None
                       ) -> Tuple[Dict[str, torch.Tensor], LoadReport]:
    """Merge ``state`` (and ``fill`` for the keys ``state`` lacks) and sort
    every key under the policy of this module, without loading.

    Returns:
        tuple: The state dict to load and the :class:`LoadReport`.
    """
    upgrade = getattr(backbone, 'upgrade_state_dict', None)
    if upgrade is not None:  # names of older state-dict versions
        state = upgrade(state)
        fill = None if fill is None else upgrade(fill)
    own = set(backbone.state_dict().keys())
    unbuilt = tuple(getattr(backbone, 'unbuilt_key_prefixes', lambda: ())())
    pattern = getattr(backbone, 'finetune_only_pattern', None)

    def finetune_only(key):
        return pattern is not None and re.match(pattern, key) is not None

    merged = {k: v for k, v in state.items() if k in own}
    filled = []
    if fill is not None:
        for key in sorted(own - set(merged)):
            if key in fill:
                merged[key] = fill[key]
                filled.append(key)
    missing = sorted(own - set(merged))
    new = [k for k in missing if finetune_only(k)]
    missing = [k for k in missing if not finetune_only(k)]
    unused, unexpected = [], []
    for key in sorted(set(state) - own):
        if _matches(key, unbuilt) or finetune_only(key):
            unused.append(key)
        else:
            unexpected.append(key)
    loaded = sorted(k for k in merged if k not in set(filled))
    return merged, LoadReport(loaded, filled, new, unused, missing,
                              unexpected)


def shape_mismatches(backbone: nn.Module, state: Dict[str, torch.Tensor]
                     ) -> List[Tuple[str, tuple, tuple]]:
    """``(key, checkpoint shape, backbone shape)`` of every entry of
    ``state`` whose shape differs from the backbone's, in the backbone's
    key order. Keys the backbone resizes itself when it loads them
    (``KEYS_RESIZED_ON_LOAD``, e.g. RevColV2's position embeddings of another
    input size) are not mismatches."""
    out = []
    resized = set(getattr(backbone, 'KEYS_RESIZED_ON_LOAD', ()))
    for key, own in backbone.state_dict().items():
        if key in resized:
            continue
        if key in state and tuple(state[key].shape) != tuple(own.shape):
            out.append((key, tuple(state[key].shape), tuple(own.shape)))
    return out


def load_backbone_checkpoint(backbone: nn.Module,
                             checkpoint: str,
                             prefix: str = 'backbone.',
                             fill_from: Optional[str] = None,
                             fill_prefix: Optional[str] = None,
                             strict: bool = True,
                             logger='current',
                             what: str = 'init_cfg.checkpoint') -> LoadReport:
    """Load a checkpoint into a column backbone under the key policy of
    this module.

    Args:
        backbone (nn.Module): A RevCol / RevColV2 backbone.
        checkpoint (str): The checkpoint (whole model or backbone alone).
        prefix (str): Prefix of the backbone keys in a whole-model
            checkpoint. Defaults to ``'backbone.'``.
        fill_from (str, optional): A second checkpoint that supplies the
            backbone keys ``checkpoint`` lacks (e.g. the pre-trained weights
            behind a classification checkpoint).
        fill_prefix (str, optional): ``prefix`` of ``fill_from``; defaults
            to ``prefix``.
        strict (bool): Raise :class:`CheckpointKeyError` on missing or
            unexpected keys (True, default) or only warn.
        logger: mmengine logger for the report. Defaults to ``'current'``.
        what (str): How errors name ``checkpoint`` (the argument or config
            key it came from). Defaults to ``'init_cfg.checkpoint'``.

    Returns:
        LoadReport: Which keys came from where.
    """
    arg = what
    state, what = read_backbone_state_dict(checkpoint, prefix, arg)
    fill = None
    if fill_from:
        fill, fill_what = read_backbone_state_dict(
            fill_from, prefix if fill_prefix is None else fill_prefix,
            'init_cfg.fill_from')
    merged, report = plan_backbone_load(backbone, state, fill)
    report = report._replace(source=what + (f'; fill: {fill_what}'
                                            if fill_from else ''))
    name = type(backbone).__name__
    if not report.loaded and not report.filled and state:
        raise CheckpointKeyError(
            f'{name}: {arg} {checkpoint!r} holds no key of '
            f'this backbone (its first keys: '
            f'{", ".join(sorted(state)[:3])}): not a {name} checkpoint, or '
            f'its backbone keys sit under another prefix than {prefix!r} '
            f'(set init_cfg.prefix). Official RevCol (V1) checkpoints go '
            f'through tools/model_converters/revcol_converter.py first.')
    mismatched = shape_mismatches(backbone, merged)
    if mismatched:
        key, theirs, ours = mismatched[0]
        hint = (' (depthwise kernels: pad them with '
                'tools/model_converters/revcol_converter.py --kernel-size)'
                if 'depthwise' in key else '')
        raise CheckpointKeyError(
            f'{name}: {arg} {checkpoint!r} is for another arch '
            f'size: {len(mismatched)} keys have other shapes, the first is '
            f'{key}: {theirs} in the checkpoint, {ours} in this backbone'
            f'{hint}. Set model.backbone.arch to the checkpoint\'s arch, or '
            f'use the checkpoint of this arch.')
    if report.missing or report.unexpected:
        lines = [f'{name}: the checkpoint does not fit the backbone '
                 f'({checkpoint}'
                 + (f' + fill_from {fill_from}' if fill_from else '') + ').']
        if report.missing:
            hint = ('' if fill_from else
                    ' If this is a classification checkpoint, pass the '
                    'pre-trained checkpoint it started from as '
                    'init_cfg.fill_from to supply the levels it lacks.')
            lines.append(f'Missing backbone keys ({len(report.missing)}): '
                         f'{summarize_keys(report.missing)}; e.g. '
                         f'{", ".join(report.missing[:3])}.{hint}')
        if report.unexpected:
            lines.append(f'Unexpected keys ({len(report.unexpected)}): '
                         f'{summarize_keys(report.unexpected)}; e.g. '
                         f'{", ".join(report.unexpected[:3])}.')
        lines.append('Set init_cfg.strict=False to load anyway.')
        if strict:
            raise CheckpointKeyError(' '.join(lines))
        print_log(' '.join(lines), logger, level=30)
    backbone.load_state_dict(merged, strict=False)
    msg = [f'{name}: loaded {len(report.loaded)} keys from {what}']
    if fill_from:
        msg.append(f'filled {len(report.filled)} keys from {fill_what}: '
                   f'{summarize_keys(report.filled)}')
    if report.new:
        msg.append(f'new (fine-tuning only, initialised as built) '
                   f'{len(report.new)}: {summarize_keys(report.new)}')
    if report.unused:
        msg.append(f'not built by this backbone, ignored '
                   f'{len(report.unused)}: {summarize_keys(report.unused)}')
    print_log('; '.join(msg), logger)
    return report
