"""Convert RevCol (V1) checkpoints to :class:`mmrevcol.models.RevCol`.

Reads official RevCol checkpoints (classification, with or without EMA, and
official downstream checkpoints whose backbone sits under ``backbone.``) and
mmrevcol checkpoints, maps the backbone keys onto the mmrevcol module tree,
drops the heads, optionally pads the depthwise kernels (RevCol, arXiv
2212.11696, App. D.3.1) and writes a file that
``torch.load(weights_only=True)`` reads.

Official layout (keys after the ``module.`` / ``backbone.`` prefixes) and
where each key goes::

    stem.{0,1}.*                                   -> stem.{0,1}.*
    subnet{j}.alpha{l}              (j >= 1)       -> columns.{j}.gamma{l}
    subnet0.alpha{l}                               dropped: they multiply
                                                   the zero state of the
                                                   first column
    subnet{j}.level{l}.fusion.down.{0,1}.*         -> columns.{j}.levels.{l}
                                                      .down.{0,1}.*
    subnet{j}.level{l}.fusion.up.channel_reschedule.{0,1}.*
                                                   -> ....levels.{l}.up.
                                                      {proj,norm}.*
    subnet{j}.level0.fusion.up2.channel_reschedule.{0,1}.*   (RevCol-H)
                                                   -> ....levels.0.up2.
                                                      {proj,norm}.*
    subnet{j}.level{l}.blocks.{k}.dwconv.*         -> ....blocks.{k}.
                                                      depthwise_conv.*
    ....blocks.{k}.norm.*                          -> ....blocks.{k}.norm.*
    ....blocks.{k}.pwconv1.* / pwconv2.*           -> ....blocks.{k}.mlp.
                                                      layers.0.0.* /
                                                      layers.1.*
    ....blocks.{k}.gamma                           -> ....blocks.{k}.
                                                      layer_scale.weight

mmrevcol checkpoints saved before state-dict version 2 (``mlp.fc1``,
``blocks.{k}.gamma``) get today's names through the backbones' key map
(:func:`mmrevcol.models.columns.upgrade_key`).
    cls.*, cls_blocks.*, decoder_blocks.*          dropped (heads)

Reading never runs code from the file: ``torch.load(weights_only=True)``
first; if the file holds other objects (a training ``config`` object, numpy
values ...) it is read again with an unpickler that only resolves torch's
weights-only allow-list and turns every other class into an inert
placeholder (reported, never used).
"""
import math
import os.path as osp
import pickle
import re
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ..utils.compat import (meta_device, pickle_global_name,
                            weights_only_globals)

#: Top-level keys that may hold the state dict, in the order they are tried.
STATE_DICT_KEYS = ('state_dict', 'model', 'state_dict_ema')

#: Prefixes stripped from every key (``module.`` repeatedly, then
#: ``backbone.``; with ``backbone.`` present, other keys are outside the
#: backbone and dropped).
WRAPPER_PREFIX = 'module.'
BACKBONE_PREFIX = 'backbone.'

#: Dropped head groups of official checkpoints: (key prefix, description).
HEAD_GROUPS = (
    ('cls.', 'classification head (cls.*)'),
    ('cls_blocks.', 'intermediate-supervision classifiers (cls_blocks.*)'),
    ('decoder_blocks.',
     'intermediate-supervision decoders (decoder_blocks.*)'),
)
GROUP_FIRST_ALPHA = ('first-column shortcut scales (subnet0.alpha*: they '
                     'multiply the zero state of the first column)')
GROUP_FIRST_UP = ('first-column up branches (subnet0.*.fusion.up*: the first '
                  'column has no previous column)')
GROUP_OUTSIDE = 'outside the backbone (keys without the backbone. prefix)'
GROUP_NON_TENSOR = 'non-tensor entries of the state dict'
GROUP_UNKNOWN = 'unknown keys (--allow-unknown)'

_BLOCK_PARTS = {'dwconv': 'depthwise_conv', 'norm': 'norm',
                'pwconv1': 'mlp.layers.0.0', 'pwconv2': 'mlp.layers.1'}
_RE_STEM = re.compile(r'^stem\.[01]\.(?:weight|bias)$')
_RE_ALPHA = re.compile(r'^subnet(\d+)\.alpha([0-3])$')
_RE_DOWN = re.compile(
    r'^subnet(\d+)\.level([0-3])\.fusion\.down\.([01])\.(weight|bias)$')
_RE_UP = re.compile(r'^subnet(\d+)\.level([0-3])\.fusion\.(up2?)\.'
                    r'channel_reschedule\.([01])\.(weight|bias)$')
_RE_BLOCK = re.compile(r'^subnet(\d+)\.level([0-3])\.blocks\.(\d+)\.'
                       r'(dwconv|norm|pwconv1|pwconv2)\.(weight|bias)$')
_RE_BLOCK_GAMMA = re.compile(
    r'^subnet(\d+)\.level([0-3])\.blocks\.(\d+)\.gamma$')
_RE_MMREVCOL = re.compile(r'^(?:stem\.|columns\.\d+\.|out_norm[0-3]\.)')
_RE_DWCONV = re.compile(
    r'^columns\.(\d+)\.levels\.([0-3])\.blocks\.(\d+)\.'
    r'depthwise_conv\.weight$')
_RE_OUT_NORM = re.compile(r'^out_norm([0-3])\.')


class ConversionError(ValueError):
    """A checkpoint or an option the converter cannot accept."""


# --------------------------------------------------------------- reading
class _Placeholder:
    """Inert stand-in for a class the restricted unpickler does not load.

    It accepts any construction arguments and pickle state and keeps them;
    nothing of the original class runs.
    """
    origin = '?'

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args = args
        obj.state = None
        obj.items = {}
        obj.values = []
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.values.append(value)

    def extend(self, values):
        self.values.extend(values)

    def __repr__(self):
        return f'<not loaded: {self.origin}>'


def _restricted_pickle_module(replaced: List[str]) -> types.ModuleType:
    """A ``pickle_module`` for :func:`torch.load` whose unpickler resolves
    only torch's allow-list; other globals become :class:`_Placeholder`
    subclasses, whose names are appended to ``replaced``."""
    allowed = weights_only_globals()
    placeholders: Dict[str, type] = {}

    class RestrictedUnpickler(pickle.Unpickler):

        def find_class(self, module, name):
            full = pickle_global_name(module, name)
            if full in allowed:
                return allowed[full]
            if full not in placeholders:
                placeholders[full] = type(f'Placeholder[{full}]',
                                          (_Placeholder, ), {'origin': full})
                replaced.append(full)
            return placeholders[full]

    module = types.ModuleType('mmrevcol_restricted_pickle')
    module.Unpickler = RestrictedUnpickler
    module.load = lambda f, **kw: RestrictedUnpickler(f, **kw).load()
    module.loads = pickle.loads  # unused by torch.load; kept for the API
    module.__name__ = 'mmrevcol_restricted_pickle'
    return module


def read_checkpoint(path: str) -> Tuple[Any, List[str]]:
    """Load a checkpoint on the CPU without running code from it.

    Args:
        path (str): The checkpoint file.

    Returns:
        tuple: The loaded object and the ``module.name`` of every class
        that was replaced by an inert placeholder (empty when the file is
        weights-only loadable).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ConversionError: the file cannot be read (truncated, not a PyTorch
            checkpoint).
    """
    from ..engine.checkpoint_compat import (CheckpointFileError,
                                            check_checkpoint_file)
    try:  # missing, empty, truncated or text files: one clear error
        check_checkpoint_file(path)
    except CheckpointFileError as err:
        raise ConversionError(f'cannot read checkpoint {path!r}: {err} '
                              f'(truncated or not a PyTorch checkpoint?)') \
            from err
    try:
        return torch.load(path, map_location='cpu', weights_only=True), []
    except pickle.UnpicklingError:
        pass  # other objects than tensors: retry with placeholders
    except Exception as err:
        raise ConversionError(
            f'cannot read checkpoint {path!r}: {type(err).__name__}: {err} '
            f'(truncated or not a PyTorch checkpoint?)') from err
    replaced: List[str] = []
    try:
        obj = torch.load(path, map_location='cpu', weights_only=False,
                         pickle_module=_restricted_pickle_module(replaced))
    except Exception as err:
        raise ConversionError(
            f'cannot read checkpoint {path!r}: {type(err).__name__}: {err} '
            f'(truncated or not a PyTorch checkpoint?)') from err
    return obj, replaced


def find_state_dict(checkpoint: Any, key: Optional[str] = None
                    ) -> Tuple[Dict[str, Any], Optional[str], List[str]]:
    """Find the state dict in a loaded checkpoint.

    Args:
        checkpoint: The loaded object: a raw state dict, or a dict holding
            it under one of :data:`STATE_DICT_KEYS` (the first present is
            used) next to other entries (``config``, ``optimizer`` ...).
        key (str, optional): Use this top-level key instead.

    Returns:
        tuple: The state dict, the top-level key it came from (None for a
        raw state dict) and the other top-level keys (ignored).
    """
    if not isinstance(checkpoint, dict):
        raise ConversionError(f'the checkpoint is a '
                              f'{type(checkpoint).__name__}, not a dict '
                              f'(state dict or a dict holding one)')
    if key is not None:
        if key not in checkpoint:
            raise ConversionError(
                f'checkpoint key {key!r} not found; the checkpoint has '
                f'{sorted(map(str, checkpoint))}')
        if not isinstance(checkpoint[key], dict):
            raise ConversionError(f'checkpoint[{key!r}] is a '
                                  f'{type(checkpoint[key]).__name__}, not a '
                                  f'state dict')
        return (checkpoint[key], key,
                sorted(str(k) for k in checkpoint if k != key))
    for candidate in STATE_DICT_KEYS:
        if isinstance(checkpoint.get(candidate), dict):
            return (checkpoint[candidate], candidate,
                    sorted(str(k) for k in checkpoint if k != candidate))
    if any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint, None, []
    raise ConversionError(
        f'no state dict found: the checkpoint has neither tensors nor one of '
        f'the keys {list(STATE_DICT_KEYS)}; its keys are '
        f'{sorted(map(str, checkpoint))[:20]}')


# -------------------------------------------------------------- mapping
def map_official_key(key: str) -> Tuple[Optional[str], str]:
    """Map one official RevCol key (prefixes already stripped).

    Returns:
        tuple: ``(new_key, group)``: ``new_key`` is None when the key is
        dropped (``group`` then says why) or unknown (``group`` is
        :data:`GROUP_UNKNOWN`); otherwise ``group`` is ``'kept'`` or
        ``'renamed'``.
    """
    if _RE_STEM.match(key):
        return key, 'kept'
    for prefix, group in HEAD_GROUPS:
        if key.startswith(prefix):
            return None, group
    m = _RE_ALPHA.match(key)
    if m:
        j, lvl = int(m[1]), m[2]
        if j == 0:
            return None, GROUP_FIRST_ALPHA
        return f'columns.{j}.gamma{lvl}', 'renamed'
    m = _RE_DOWN.match(key)
    if m:
        return (f'columns.{int(m[1])}.levels.{m[2]}.down.{m[3]}.{m[4]}',
                'renamed')
    m = _RE_UP.match(key)
    if m:
        if int(m[1]) == 0:
            return None, GROUP_FIRST_UP
        part = 'proj' if m[4] == '0' else 'norm'
        return (f'columns.{int(m[1])}.levels.{m[2]}.{m[3]}.{part}.{m[5]}',
                'renamed')
    m = _RE_BLOCK.match(key)
    if m:
        return (f'columns.{int(m[1])}.levels.{m[2]}.blocks.{int(m[3])}.'
                f'{_BLOCK_PARTS[m[4]]}.{m[5]}', 'renamed')
    m = _RE_BLOCK_GAMMA.match(key)
    if m:
        return (f'columns.{int(m[1])}.levels.{m[2]}.blocks.{int(m[3])}.'
                f'layer_scale.weight', 'renamed')
    return None, GROUP_UNKNOWN


def strip_prefixes(state_dict: Dict[str, Any]
                    ) -> Tuple[Dict[str, Any], Dict[str, int], List[str]]:
    """Strip ``module.`` then ``backbone.``; return the backbone keys, the
    number of keys each prefix was stripped from and the keys outside the
    backbone."""
    stripped: Dict[str, int] = {}
    keys = {}
    for k, v in state_dict.items():
        k = str(k)
        while k.startswith(WRAPPER_PREFIX):
            k = k[len(WRAPPER_PREFIX):]
            stripped[WRAPPER_PREFIX] = stripped.get(WRAPPER_PREFIX, 0) + 1
        if k in keys:
            raise ConversionError(f'two keys map to {k!r} once the '
                                  f'{WRAPPER_PREFIX!r} prefix is stripped')
        keys[k] = v
    outside: List[str] = []
    if any(k.startswith(BACKBONE_PREFIX) for k in keys):
        inside = {}
        for k, v in keys.items():
            if k.startswith(BACKBONE_PREFIX):
                inside[k[len(BACKBONE_PREFIX):]] = v
            else:
                outside.append(k)
        stripped[BACKBONE_PREFIX] = len(inside)
        keys = inside
    return keys, stripped, outside


def detect_layout(keys) -> str:
    """``'official'`` (``subnet*`` keys) or ``'mmrevcol'`` (``columns.*``)."""
    keys = list(keys)
    official = any(k.startswith('subnet') for k in keys)
    ours = any(k.startswith('columns.') for k in keys)
    if official and ours:
        raise ConversionError('the checkpoint mixes official (subnet*) and '
                              'mmrevcol (columns.*) keys')
    if not official and not ours:
        raise ConversionError(
            'no RevCol backbone keys found (neither official subnet{j}.* nor '
            f'mmrevcol columns.{{j}}.*); first keys: {keys[:10]}')
    return 'official' if official else 'mmrevcol'


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict, int]:
    """Infer the RevCol settings and kernel size from mmrevcol-named keys.

    Args:
        state_dict (dict): Backbone state dict with mmrevcol names.

    Returns:
        tuple: ``(settings, kernel_size)``; ``settings`` has the keys
        ``channels``, ``depths``, ``num_columns``, ``fuse_top``.
    """
    columns, blocks, kernels = set(), {}, set()
    channels: Dict[int, int] = {}
    for k, v in state_dict.items():
        m = re.match(r'^columns\.(\d+)\.', k)
        if m:
            columns.add(int(m[1]))
        m = _RE_DWCONV.match(k)
        if m:
            if v.dim() != 4 or v.shape[1] != 1 or v.shape[2] != v.shape[3]:
                raise ConversionError(
                    f'{k} has shape {tuple(v.shape)}; a depthwise kernel '
                    f'is (C, 1, k, k)')
            kernels.add(int(v.shape[-1]))
            if m[1] == '0':
                lvl = int(m[2])
                blocks.setdefault(lvl, set()).add(int(m[3]))
                channels[lvl] = int(v.shape[0])
    if not columns or sorted(blocks) != [0, 1, 2, 3]:
        raise ConversionError(
            'cannot infer the arch: the first column needs depthwise kernels '
            f'in all four levels, found levels {sorted(blocks)}; pass --arch '
            'or check that the checkpoint is complete')
    if len(kernels) != 1:
        raise ConversionError(f'depthwise kernels of different sizes '
                              f'{sorted(kernels)} in one checkpoint')
    num_columns = max(columns) + 1
    settings = dict(
        channels=tuple(channels[i] for i in range(4)),
        depths=tuple(max(blocks[i]) + 1 for i in range(4)),
        num_columns=num_columns,
        fuse_top=any(re.match(r'^columns\.\d+\.levels\.0\.up2\.', k)
                     for k in state_dict))
    return settings, kernels.pop()


def pad_depthwise_kernel(weight: torch.Tensor, kernel_size: int,
                         std: float = 1e-7,
                         generator: Optional[torch.Generator] = None
                         ) -> torch.Tensor:
    """Pad a ``(C, 1, k, k)`` kernel to ``kernel_size`` (RevCol App. D.3.1).

    The trained kernel stays centred; new taps are drawn from
    ``N(0, std^2)`` (``std=0``: zeros, so the padded conv with padding
    ``(K - 1) / 2`` computes the same outputs).

    Args:
        weight (Tensor): The kernel, ``(C, 1, k, k)`` with odd ``k``.
        kernel_size (int): Target size ``K``, odd and ``>= k``.
        std (float): Standard deviation of the new taps. Defaults to 1e-7.
        generator (torch.Generator, optional): RNG of the new taps.

    Returns:
        Tensor: ``(C, 1, K, K)`` in the dtype of ``weight``.
    """
    k = weight.shape[-1]
    if kernel_size < k or (kernel_size - k) % 2:
        raise ConversionError(f'cannot pad a {k}x{k} kernel to '
                              f'{kernel_size}x{kernel_size}: the size must '
                              f'be odd and >= {k}')
    if kernel_size == k:
        return weight
    shape = tuple(weight.shape[:-2]) + (kernel_size, kernel_size)
    if std > 0:
        new = torch.randn(shape, generator=generator,
                          dtype=torch.float32) * std
        new = new.to(weight.dtype)
    else:
        new = weight.new_zeros(shape)
    p = (kernel_size - k) // 2
    new[..., p:p + k, p:p + k] = weight
    return new


# --------------------------------------------------------------- report
@dataclass
class ConversionReport:
    """What a conversion did (see :meth:`summary`)."""
    source_layout: str = ''
    source_key: Optional[str] = None
    stripped_prefixes: Dict[str, int] = field(default_factory=dict)
    ignored_entries: List[str] = field(default_factory=list)
    placeholders: List[str] = field(default_factory=list)
    arch: Union[str, Dict, None] = None
    arch_settings: Dict = field(default_factory=dict)
    arch_inferred: bool = False
    source_kernel_size: int = 0
    kernel_size: int = 0
    std: float = 0.
    seed: int = 0
    kept: List[str] = field(default_factory=list)
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    padded: List[str] = field(default_factory=list)
    dropped: Dict[str, List[str]] = field(default_factory=dict)
    source: Optional[str] = None
    destination: Optional[str] = None

    def summary(self) -> str:
        """A human-readable multi-line report."""
        s = self.arch_settings
        arch = self.arch if isinstance(self.arch, str) else 'custom'
        how = 'inferred from the weight shapes' if self.arch_inferred else \
            'given, checked against the weight shapes'
        lines = []
        if self.source:
            lines.append(f'source: {self.source}')
        where = (f"under '{self.source_key}'" if self.source_key else
                 'raw state dict')
        lines.append(f'layout: {self.source_layout} ({where})')
        if self.stripped_prefixes:
            lines.append('prefixes stripped: ' + ', '.join(
                f'{p!r} from {n} keys'
                for p, n in self.stripped_prefixes.items()))
        if self.ignored_entries:
            lines.append('top-level entries ignored: ' +
                         ', '.join(self.ignored_entries))
        if self.placeholders:
            lines.append('objects not loaded (inert placeholders, outside '
                         'the weights): ' + ', '.join(self.placeholders))
        lines.append(
            f'arch: {arch} ({how}): channels {tuple(s["channels"])}, depths '
            f'{tuple(s["depths"])}, {s["num_columns"]} columns'
            + (', level 0 reads level 3 (huge)' if s['fuse_top'] else ''))
        lines.append(f'kept: {len(self.kept)} keys')
        example = (f' (e.g. {self.renamed[0][0]} -> {self.renamed[0][1]})'
                   if self.renamed else '')
        lines.append(f'renamed: {len(self.renamed)} keys{example}')
        if self.padded:
            noise = (f'N(0, {self.std:g}^2), seed {self.seed}'
                     if self.std > 0 else 'zeros')
            lines.append(
                f'padded: {len(self.padded)} depthwise kernels '
                f'{self.source_kernel_size}x{self.source_kernel_size} -> '
                f'{self.kernel_size}x{self.kernel_size} (new taps: {noise})')
        else:
            lines.append(f'padded: 0 (kernel size {self.kernel_size})')
        total = sum(len(v) for v in self.dropped.values())
        lines.append(f'dropped: {total} keys')
        for group, keys in self.dropped.items():
            lines.append(f'  {group}: {len(keys)}')
        if self.destination:
            lines.append(f'wrote: {self.destination}')
        return '\n'.join(lines)


# ------------------------------------------------------------ conversion
def _check_options(kernel_size, std, seed):
    if kernel_size is not None and (
            not isinstance(kernel_size, int) or isinstance(kernel_size, bool)
            or kernel_size < 1 or kernel_size % 2 == 0):
        raise ConversionError(f'--kernel-size must be an odd int >= 1 (the '
                              f'trained kernel is kept centred), got '
                              f'{kernel_size!r}')
    if (isinstance(std, bool) or not isinstance(std, (int, float))
            or not math.isfinite(std) or std < 0):
        raise ConversionError(f'--std must be a finite number >= 0, got '
                              f'{std!r}')
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConversionError(f'--seed must be an int >= 0, got {seed!r}')


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    import sys

    from mmengine.utils import ProgressBar
    return ProgressBar(total, file=sys.stdout)


def convert_state_dict(state_dict: Dict[str, Any],
                       arch: Union[str, Dict, None] = None,
                       kernel_size: Optional[int] = None,
                       std: float = 1e-7,
                       seed: int = 0,
                       allow_unknown: bool = False,
                       progress: bool = False
                       ) -> Tuple['OrderedDict[str, torch.Tensor]',
                                  ConversionReport]:
    """Convert an official or mmrevcol RevCol state dict.

    Args:
        state_dict (dict): The state dict (prefixes ``module.`` /
            ``backbone.`` allowed).
        arch (str | dict, optional): The expected arch (as
            :class:`~mmrevcol.models.backbones.revcol.RevCol`); inferred
            from the shapes when None.
        kernel_size (int, optional): Pad the depthwise kernels to this odd
            size (>= the checkpoint's). None keeps them.
        std (float): Standard deviation of the padded taps (0: zeros).
            Defaults to 1e-7 (RevCol App. D.3.1).
        seed (int): Seed of the padded taps. Defaults to 0.
        allow_unknown (bool): Drop keys that are not part of the RevCol
            backbone instead of failing. Defaults to False.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        tuple: The backbone state dict with mmrevcol names (without prefix)
        and a :class:`ConversionReport`.
    """
    from ..models.backbones.revcol import RevCol
    from ..models.columns import upgrade_key
    _check_options(kernel_size, std, seed)
    report = ConversionReport(std=float(std), seed=seed)
    keys, report.stripped_prefixes, outside = strip_prefixes(state_dict)
    if outside:
        report.dropped[GROUP_OUTSIDE] = outside
    layout = detect_layout(keys)
    report.source_layout = layout

    def drop(group, key):
        report.dropped.setdefault(group, []).append(key)

    mapped: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    origin: Dict[str, str] = {}  # mapped name -> checkpoint name
    unknown: List[str] = []
    for key, value in keys.items():
        if layout == 'official':
            new, group = map_official_key(key)
        else:
            new, group = (key, 'kept') if _RE_MMREVCOL.match(key) else (
                None, GROUP_UNKNOWN)
            if new is not None and upgrade_key(new) != new:
                new, group = upgrade_key(new), 'renamed'
        if group == GROUP_UNKNOWN:
            unknown.append(key)
            continue
        if new is None:
            drop(group, key)
            continue
        if not isinstance(value, torch.Tensor):
            drop(GROUP_NON_TENSOR, key)
            continue
        if new in mapped:
            raise ConversionError(f'two checkpoint keys map to {new!r}')
        mapped[new] = value
        origin[new] = key
        if group == 'kept':
            report.kept.append(key)
        else:
            report.renamed.append((key, new))

    settings, src_k = infer_arch(mapped)
    if arch is None:
        report.arch_inferred = True
    else:
        try:
            given = RevCol.parse_arch(arch)
        except (TypeError, ValueError) as err:
            raise ConversionError(f'--arch: {err}') from err
        if given != settings:
            raise ConversionError(
                f'--arch {arch!r} does not match the checkpoint: it has '
                f'channels {settings["channels"]}, depths '
                f'{settings["depths"]}, {settings["num_columns"]} columns, '
                f'fuse_top={settings["fuse_top"]}')
    report.arch_settings = settings
    name = RevCol.arch_name(settings)
    report.arch = name if name is not None else dict(settings)
    k = src_k if kernel_size is None else kernel_size
    if k < src_k:
        raise ConversionError(f'--kernel-size {k} is smaller than the '
                              f'checkpoint kernels ({src_k}x{src_k}); '
                              f'kernels can only be padded')
    report.source_kernel_size, report.kernel_size = src_k, k

    # The target module tree: built on the meta device, only for names and
    # shapes.
    norms = sorted({int(m[1]) for m in map(_RE_OUT_NORM.match, mapped)
                    if m})
    with meta_device():
        target = RevCol(dict(settings), kernel_size=k,
                        out_norms=bool(norms), out_indices=norms or
                        (0, 1, 2, 3)).state_dict()
    not_in_model = [key for key in mapped if key not in target]
    unknown += [origin[key] for key in not_in_model]
    if unknown:
        if not allow_unknown:
            shown = ', '.join(unknown[:10])
            more = f' and {len(unknown) - 10} more' if len(unknown) > 10 \
                else ''
            raise ConversionError(
                f'{len(unknown)} keys are not part of a {layout} RevCol '
                f'backbone of this arch: {shown}{more}. Pass '
                f'--allow-unknown to drop them.')
        for key in not_in_model:
            mapped.pop(key)
            report.kept = [k for k in report.kept if k != origin[key]]
            report.renamed = [r for r in report.renamed if r[1] != key]
        for key in unknown:
            drop(GROUP_UNKNOWN, key)
    missing = [key for key in target if key not in mapped]
    if missing:
        shown = ', '.join(missing[:10])
        more = f' and {len(missing) - 10} more' if len(missing) > 10 else ''
        raise ConversionError(
            f'the checkpoint lacks {len(missing)} parameters of the '
            f'arch: {shown}{more} (truncated or incomplete checkpoint?)')

    generator = torch.Generator().manual_seed(seed)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    bar = _progress(len(target), progress)
    for key in target:  # module order, deterministic padding order
        value = mapped[key]
        if _RE_DWCONV.match(key) and value.shape[-1] != k:
            value = pad_depthwise_kernel(value, k, std, generator)
            report.padded.append(key)
        if tuple(value.shape) != tuple(target[key].shape):
            raise ConversionError(
                f'{key} has shape {tuple(value.shape)}, the model expects '
                f'{tuple(target[key].shape)}')
        out[key] = value
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.file.write('\n')
    return out, report


def _same_file(a: str, b: str) -> bool:
    if osp.realpath(a) == osp.realpath(b):
        return True
    try:
        return osp.exists(b) and osp.samefile(a, b)
    except OSError:
        return False


def check_destination(src: str, dst: str, force: bool) -> None:
    """Refuse to write ``dst`` over the input ``src``, over an existing file
    (unless ``force``) or onto a directory."""
    if _same_file(src, dst):
        raise ConversionError(f'DST {dst!r} is the source checkpoint; '
                              f'refusing to overwrite it')
    if osp.exists(dst) and not force:
        raise ConversionError(f'DST {dst!r} already exists; pass --force to '
                              f'replace it')
    if osp.isdir(dst):
        raise ConversionError(f'DST {dst!r} is a directory')


def save_atomic(payload: Any, dst: str) -> None:
    """``torch.save`` to a temporary file next to ``dst``, then rename it
    onto ``dst``: an interrupted write never leaves a partial ``dst``."""
    from ..utils.io import atomic_write
    atomic_write(dst, lambda f: torch.save(payload, f))


def convert_checkpoint(src: str,
                       dst: str,
                       arch: Union[str, Dict, None] = None,
                       kernel_size: Optional[int] = None,
                       std: float = 1e-7,
                       seed: int = 0,
                       allow_unknown: bool = False,
                       force: bool = False,
                       checkpoint_key: Optional[str] = None,
                       prefix: str = BACKBONE_PREFIX,
                       progress: bool = False) -> ConversionReport:
    """Convert the checkpoint ``src`` and write it to ``dst`` atomically.

    The output is ``{'state_dict': {prefix + key: tensor}, 'meta': {...}}``
    (tensors and plain types only), ready for
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``.

    Args:
        src (str): The checkpoint to read (never modified).
        dst (str): The file to write; must not be ``src``.
        arch (str | dict, optional): Expected arch; inferred when None.
        kernel_size (int, optional): Pad depthwise kernels to this size.
        std (float): Std of the padded taps (0: zeros). Defaults to 1e-7.
        seed (int): Seed of the padded taps. Defaults to 0.
        allow_unknown (bool): Drop unknown keys instead of failing.
        force (bool): Replace an existing ``dst``. Defaults to False.
        checkpoint_key (str, optional): Top-level key of the state dict
            (default: the first of :data:`STATE_DICT_KEYS` present).
        prefix (str): Prefix of the written keys. Defaults to
            ``'backbone.'``.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        ConversionReport: What was done.
    """
    from .. import __version__
    from ..engine.checkpoint_compat import (CheckpointFileError,
                                            check_checkpoint_dict)
    _check_options(kernel_size, std, seed)
    check_destination(src, dst, force)
    checkpoint, placeholders = read_checkpoint(src)
    try:
        check_checkpoint_dict(checkpoint, src, 'SRC')
    except CheckpointFileError as err:
        raise ConversionError(str(err)) from err
    state_dict, key, ignored = find_state_dict(checkpoint, checkpoint_key)
    # a RevColV2 checkpoint (patch embedding, attention blocks) is not a V1
    # one: say so instead of failing on its keys or shapes
    v2_keys = [k for k in map(str, state_dict) if re.search(
        r'(^|\.)(patch_embed|pos_embed|td_pos_embed|td_norm|mask_token)'
        r'(\.|$)|\.attn\.', k)]
    if v2_keys:
        raise ConversionError(
            f'SRC {src!r} is a RevColV2 checkpoint (it has {v2_keys[0]!r}), '
            f'and this converter reads RevCol (V1) checkpoints only. '
            f'mmrevcol RevColV2 checkpoints need no conversion: load them '
            f"with init_cfg=dict(type='Pretrained', checkpoint=..., "
            f"prefix='backbone.'); a masked-image-modeling pre-training "
            f'checkpoint goes through '
            f'tools/model_converters/revcolv2_mim_export.py')
    out, report = convert_state_dict(state_dict, arch, kernel_size, std,
                                     seed, allow_unknown, progress)
    report.source_key, report.ignored_entries = key, ignored
    report.placeholders = placeholders
    report.source = src
    arch_meta = (report.arch if isinstance(report.arch, str) else
                 {k: (list(v) if isinstance(v, tuple) else v)
                  for k, v in report.arch.items()})
    meta = dict(
        converter='mmrevcol.converters.revcol',
        mmrevcol_version=__version__,
        source=osp.abspath(src),
        source_layout=report.source_layout,
        source_key=key,
        arch=arch_meta,
        arch_inferred=report.arch_inferred,
        kernel_size=report.kernel_size,
        source_kernel_size=report.source_kernel_size,
        pad_std=report.std,
        seed=seed,
        num_padded=len(report.padded),
        prefix=prefix)
    payload = dict(
        meta=meta,
        state_dict=OrderedDict((prefix + k, v.contiguous())
                               for k, v in out.items()))
    save_atomic(payload, dst)
    report.destination = dst
    return report
