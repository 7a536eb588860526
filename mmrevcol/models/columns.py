"""The column/level machinery shared by RevCol (V1) and RevColV2.

A RevCol network is a sequence of *columns*, each holding four *levels*.
Level ``i`` of column ``l`` computes (RevColV2, arXiv 2309.01005,
eq. 1/2; RevCol, arXiv 2212.11696, eq. 4)::

    x_i^l = F_i^l(same, prev) + gamma_i^l * x_i^{l-1}

``same`` is the level computed just before it in the same column (the
column input for the first level in the column's order) and ``prev`` is the
state of the previous column, from which ``F_i`` reads the levels listed in
its ``prev_levels`` attribute. Because every level that ``F_i`` reads from
the previous column comes *later* in the column's order, the previous state
can be rebuilt level by level in reverse order with
``x_i^{l-1} = (x_i^l - F_i^l(same, prev)) / gamma_i^l`` (:func:`invert_level`).

What differs between the models is only ``F`` and the order: V1 and the V2
bottom-up columns run levels ``0 -> 3``, the V2 top-down columns ``3 -> 0``.
Levels that a network never needs (e.g. the lower levels of the last
top-down columns in classification) are simply not built (``None``); built
levels always form a prefix of the column order.
"""
import re
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

#: Level orders by column direction.
ORDERS = {'up': (0, 1, 2, 3), 'down': (3, 2, 1, 0)}
NUM_LEVELS = 4


def invert_level(y: torch.Tensor, f: torch.Tensor, gamma: torch.Tensor,
                 project=None) -> torch.Tensor:
    """Rebuild ``x^{l-1}`` from ``x^l = f + gamma * x^{l-1}`` (the one place
    the inverse is written). ``project`` restores what is known exactly of
    ``x^{l-1}`` (a token bridge's zero fill): without it, rounding noise at
    filled positions would be blown up by the LayerNorm that reads them."""
    x = torch.sub(y, f).div_(gamma)
    return x if project is None else project(x)


class RevColumn(nn.Module):
    """One reversible column: four levels and their shortcut scales.

    Args:
        levels (Sequence[nn.Module | None]): ``F_0 .. F_3``, indexed by level.
            ``None`` marks a level that is not built. Each module is called as
            ``F(same, prev)`` and has a ``prev_levels`` tuple naming the
            previous-column levels it reads.
        channels (Sequence[int]): Channels of each level (shortcut scale size).
        direction (str): ``'up'`` (levels 0 -> 3) or ``'down'`` (3 -> 0).
        first (bool): The column has no previous column: no shortcut scales
            and ``prev`` is ``None``.
        channels_last (bool): States are ``(B, H, W, C)`` (True, V2) or
            ``(B, C, H, W)`` (False, V1); sets the shape of the scales.
        scale_init (float): Initial shortcut scale. Defaults to 0.5 (RevCol).
        min_scale (float): ``|gamma|`` is clamped to at least this value (sign
            kept) before every use, so the inverse exists. Defaults to 1e-3.
    """

    def __init__(self,
                 levels: Sequence[Optional[nn.Module]],
                 channels: Sequence[int],
                 direction: str = 'up',
                 first: bool = False,
                 channels_last: bool = True,
                 scale_init: float = 0.5,
                 min_scale: float = 1e-3):
        super().__init__()
        if direction not in ORDERS:
            raise ValueError(f'direction must be one of {sorted(ORDERS)}, '
                             f'got {direction!r}')
        if len(levels) != NUM_LEVELS or len(channels) != NUM_LEVELS:
            raise ValueError(f'a column has {NUM_LEVELS} levels, got '
                             f'{len(levels)} level modules and '
                             f'{len(channels)} channel entries')
        if min_scale <= 0:
            raise ValueError(f'min_scale must be > 0, got {min_scale}')
        self.direction = direction
        self.first = first
        self.min_scale = min_scale
        order = ORDERS[direction]
        built = [i for i in order if levels[i] is not None]
        if not built or tuple(built) != order[:len(built)]:
            raise ValueError(
                f'built levels {built} must be a non-empty prefix of the '
                f'{direction!r} order {order}')
        #: Built levels in computation order.
        self.order: Tuple[int, ...] = tuple(built)
        for pos, i in enumerate(self.order):
            later = set(order[pos + 1:])
            reads = tuple(getattr(levels[i], 'prev_levels', ()))
            if first and reads:
                raise ValueError(f'level {i} of a first column reads previous'
                                 f' levels {reads}')
            if not set(reads) <= later:
                raise ValueError(
                    f'level {i} reads previous-column levels {reads}; only '
                    f'levels after it in the order ({sorted(later)}) keep the '
                    f'column invertible')
        self.levels = nn.ModuleList(levels)
        for i in self.order:
            if not first:
                shape = (channels[i], ) if channels_last else (1, channels[i],
                                                               1, 1)
                self.register_parameter(
                    f'gamma{i}',
                    nn.Parameter(torch.full(shape, float(scale_init))))

    def gamma(self, i: int) -> torch.Tensor:
        """Shortcut scale of level ``i``."""
        return getattr(self, f'gamma{i}')

    @torch.no_grad()
    def clamp_scales_(self) -> None:
        """Keep every ``|gamma| >= min_scale`` (sign kept), in place."""
        if self.first:
            return
        for i in self.order:
            g = self.gamma(i)
            sign = torch.where(g < 0, -1.0, 1.0).to(g.dtype)
            g.copy_(sign * g.abs().clamp(min=self.min_scale))

    def same_source(self, i: int) -> Optional[int]:
        """Level whose new state is ``same`` for level ``i`` (None: the column
        input)."""
        pos = self.order.index(i)
        return None if pos == 0 else self.order[pos - 1]

    def forward(self, x: torch.Tensor,
                prev: Optional[Sequence[Optional[torch.Tensor]]] = None,
                before_level=None) -> List[Optional[torch.Tensor]]:
        """Compute the column's states.

        Args:
            x (Tensor): The column input (fed to the first level in order).
            prev (list[Tensor | None] | None): Previous column states by
                level; ``None`` for a first column.
            before_level (callable, optional): Called as ``before_level(i)``
                before level ``i`` runs (the reversible engine records RNG
                states there).

        Returns:
            list[Tensor | None]: The new states by level (``None`` where the
            level is not built).
        """
        if (prev is None) != self.first:
            raise ValueError('a first column takes no previous states and '
                             'every other column needs them')
        self.clamp_scales_()
        states: List[Optional[torch.Tensor]] = [None] * NUM_LEVELS
        same = x
        for i in self.order:
            if before_level is not None:
                before_level(i)
            y = self.levels[i](same, prev)
            if not self.first:  # y + gamma * prev in one pass
                y = torch.addcmul(y, self.gamma(i), prev[i])
            states[i] = y
            same = y
        return states

    @torch.no_grad()
    def inverse(self, x: torch.Tensor,
                states: Sequence[Optional[torch.Tensor]],
                known_prev: Optional[Sequence[Optional[torch.Tensor]]] = None,
                project=None) -> List[Optional[torch.Tensor]]:
        """Rebuild the previous column's states from this column's states.

        Args:
            x (Tensor): The column input.
            states (list[Tensor | None]): This column's states.
            known_prev (list[Tensor | None], optional): Previous states that
                cannot be rebuilt because this column does not build their
                level (they must be given).
            project (callable, optional): See :func:`invert_level`.

        Returns:
            list[Tensor | None]: The previous column's states.
        """
        if self.first:
            raise ValueError('a first column has no previous column')
        prev: List[Optional[torch.Tensor]] = list(known_prev or
                                                  [None] * NUM_LEVELS)
        for i in reversed(self.order):
            src = self.same_source(i)
            same = x if src is None else states[src]
            f = self.levels[i](same, prev)
            prev[i] = invert_level(states[i], f, self.gamma(i), project)
        return prev


#: State-dict version of both backbones (torch's ``Module._version``,
#: recorded by ``state_dict()``; a state dict without one is version 1).
STATE_DICT_VERSION = 2

#: The one key map, applied when a state dict older than the version of a
#: rule is loaded: ``(version, old name pattern, new name)``, on keys
#: relative to the backbone. Version 2 (issue 11): the ConvNeXt layer scale
#: of RevCol blocks is mmcv's ``LayerScale`` (``gamma`` stays the name of
#: the column shortcut scales, as in both papers) and the block MLPs of
#: both backbones are mmcv's ``FFN``.
KEY_MAP: Tuple[Tuple[int, 're.Pattern', str], ...] = (
    (2, re.compile(r'((?:^|\.)blocks\.\d+)\.gamma$'),
     r'\1.layer_scale.weight'),
    (2, re.compile(r'((?:^|\.)blocks\.\d+\.mlp)\.fc1\.'), r'\1.layers.0.0.'),
    (2, re.compile(r'((?:^|\.)blocks\.\d+\.mlp)\.fc2\.'), r'\1.layers.1.'),
)


def upgrade_key(key: str, version: Optional[int] = None) -> str:
    """Today's name of a backbone state-dict key saved at ``version``.

    Args:
        key (str): A key relative to the backbone (``columns.0....``).
        version (int, optional): The state-dict version the key was saved
            with; None (unknown) means 1. The old patterns match no current
            name, so upgrading a current key returns it unchanged.

    Returns:
        str: The key under :data:`STATE_DICT_VERSION`.
    """
    version = 1 if version is None else version
    for since, pattern, new in KEY_MAP:
        if version < since:
            key = pattern.sub(new, key)
    return key


def upgrade_state_dict(state_dict: dict, prefix: str = '',
                       version: Optional[int] = None) -> None:
    """Rename the keys under ``prefix`` of ``state_dict`` in place with
    :func:`upgrade_key` (``version``: see there)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        new = prefix + upgrade_key(key[len(prefix):], version)
        if new != key:
            if new in state_dict:
                raise KeyError(f'state dict has both {key!r} (version '
                               f'{version or 1} name) and {new!r}')
            state_dict[new] = state_dict.pop(key)


_COLUMN_PARAM = re.compile(r'^columns\.(\d+)\.(.*)$')
_LEVEL_PARAM = re.compile(r'^levels\.(\d+)\.blocks\.(\d+)\.')
_LEVEL_ANY = re.compile(r'^(?:levels|gamma)\.?(\d+)')


class ColumnBackboneMixin:
    """Shared by the column backbones: argument checks, freezing,
    ``no_weight_decay``, checkpoint loading and ``get_layer_depth``.

    ``get_layer_depth`` works for any backbone whose columns live in
    ``self.columns`` and whose level modules keep their blocks in
    ``levels.{i}.blocks``. The depth of block ``k`` (counted in the column's
    order) of column ``c`` is ``column_base(c) + k + 1``: the length of the
    path from the input along the data flow. For RevCol V1 (and the RevColV2
    bottom-up columns) ``column_base(c) = c``, the official RevCol rule;
    RevColV2 continues the top-down columns after the deepest bottom-up block
    (see :meth:`RevColV2.get_layer_depth`). A level's fusion layers and
    shortcut scale take the depth of the level's first block (RevCol V1:
    shortcut scales of column ``c`` take ``c + 1``, as the official code),
    embeddings/stem (``layer_depth_zero`` prefixes) 0, and everything else of
    the backbone (output norms) ``num_layers - 1``, like parameters outside
    the backbone.
    """

    #: Attribute names of the stem/embeddings (depth 0, frozen first).
    layer_depth_zero: Tuple[str, ...] = ()
    #: Extra parameter names without weight decay.
    no_weight_decay_extra: Tuple[str, ...] = ()

    # ------------------------------------------------------------ arguments
    def _check_images(self, x, min_size: int, why: str) -> None:
        """Refuse what :meth:`forward` cannot take, naming what it got: a
        non-tensor, a non-float tensor, another layout than ``(B,
        in_channels, H, W)``, or images smaller than ``min_size`` pixels
        (``why`` says where that minimum comes from)."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'{name} takes a torch.Tensor of images, got '
                            f'{type(x).__name__}')
        if not x.is_floating_point():
            raise TypeError(
                f'{name} takes float images, got a {x.dtype} tensor: '
                f'normalise them first (the data_preprocessor of the '
                f'OpenMMLab models does; by hand: x.float())')
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{name} expects (B, {self.in_channels}, H, W) '
                             f'inputs (in_channels={self.in_channels}), got '
                             f'shape {tuple(x.shape)}')
        if min(x.shape[-2:]) < min_size:
            raise ValueError(f'{name} needs inputs of at least {min_size}x'
                             f'{min_size} pixels ({why}), got '
                             f'{x.shape[-2]}x{x.shape[-1]}')

    @staticmethod
    def _check_int(name, value, minimum):
        if (not isinstance(value, int) or isinstance(value, bool)
                or value < minimum):
            raise ValueError(f'{name} must be an int >= {minimum}, got '
                             f'{value!r}')
        return value

    @staticmethod
    def _check_bool(name, value) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f'{name} must be a bool (True or False), got '
                            f'{value!r} ({type(value).__name__})')
        return value

    @staticmethod
    def _check_rate(name, value, meaning) -> float:
        """A number in ``[0, 1)`` (``meaning`` says what it is)."""
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0 <= value < 1):
            raise ValueError(f'{name} must be a float in [0, 1) '
                             f'({meaning}), got {value!r}')
        return float(value)

    @staticmethod
    def _check_positive_ints(name, values, length=None) -> Tuple[int, ...]:
        """A sequence of ints > 0 (of ``length`` entries when given)."""
        ok = isinstance(values, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in values)
        if not ok or (length is not None and len(values) != length):
            count = '' if length is None else f'{length} '
            raise ValueError(f'{name} must be {count}positive ints'
                             + (', one per level' if length else '')
                             + f', got {values!r}')
        return tuple(values)

    @staticmethod
    def _check_out_indices(out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        out = []
        for i in out_indices:
            if (not isinstance(i, int) or isinstance(i, bool)
                    or not -NUM_LEVELS <= i < NUM_LEVELS):
                raise ValueError(f'out_indices must hold level indices in '
                                 f'[0, {NUM_LEVELS - 1}] (negatives count '
                                 f'from the top), got {tuple(out_indices)!r}')
            out.append(i % NUM_LEVELS)
        if not out or len(set(out)) != len(out):
            raise ValueError(f'out_indices must be non-empty and unique, got '
                             f'{tuple(out_indices)!r}')
        return tuple(out)

    # ------------------------------------------------------- train / freeze
    def _freeze_stages(self):
        """``frozen_stages``: -1 nothing, 0 the stem/embeddings
        (``layer_depth_zero``), ``k > 0`` those and the first ``k``
        columns (eval mode, no grad)."""
        if self.frozen_stages < 0:
            return
        parts = [getattr(self, name) for name in self.layer_depth_zero]
        parts += self._frozen_stage_inputs()
        for part in parts + list(self.columns[:self.frozen_stages]):
            if isinstance(part, nn.Parameter):
                part.requires_grad = False
                continue
            part.eval()
            for p in part.parameters():
                p.requires_grad = False

    def _frozen_stage_inputs(self) -> list:
        """Modules/parameters of later stage inputs that ``frozen_stages``
        freezes (none by default)."""
        return []

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    def no_weight_decay(self):
        """Parameter names without weight decay: the shortcut scales and
        ``no_weight_decay_extra`` (e.g. position embeddings)."""
        names = {f'columns.{c}.gamma{i}' for c, col in enumerate(self.columns)
                 if not col.first for i in col.order}
        return names | set(self.no_weight_decay_extra)

    #: Keys that only exist after fine-tuning (per-level output norms):
    #: reported as new when a checkpoint lacks them, as unused when this
    #: backbone lacks them (:mod:`mmrevcol.models.checkpoint`).
    finetune_only_pattern = r'^out_norm\d\.'
    #: ``init_cfg`` keys of ``type='Pretrained'``.
    PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'fill_from',
                       'fill_prefix', 'strict')

    def unbuilt_key_prefixes(self) -> Tuple[str, ...]:
        """Key prefixes of the levels this backbone does not build (a
        full-model checkpoint has them)."""
        out = []
        for c, column in enumerate(self.columns):
            for i in ORDERS[column.direction]:
                if i not in column.order:
                    out += [f'columns.{c}.levels.{i}', f'columns.{c}.gamma{i}']
        return tuple(out)

    def init_weights(self):
        """Initialise, or load ``init_cfg=dict(type='Pretrained', ...)``.

        ``Pretrained`` is loaded by
        :func:`~mmrevcol.models.checkpoint.load_backbone_checkpoint` (one key
        policy: missing or unexpected backbone keys fail, fine-tune-only keys
        are reported as new) with the extra keys ``fill_from`` /
        ``fill_prefix`` (a second checkpoint for the keys the first lacks)
        and ``strict`` (default True).

        ``checkpoint=None`` means "weights still to come": the paper configs
        ship it so that ``--cfg-options model.backbone.init_cfg.checkpoint=
        PATH`` works. The random initialisation is kept, and training stops
        before its first step (:meth:`check_weights_loaded`) unless
        ``load_from`` or a resumed checkpoint brought backbone weights.
        Training from scratch is explicit: ``init_cfg=None``.
        """
        cfg = getattr(self, 'init_cfg', None)
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        unknown = sorted(set(cfg) - set(self.PRETRAINED_KEYS))
        if unknown:
            raise ValueError(f'{type(self).__name__}: init_cfg keys '
                             f'{unknown} are not understood; Pretrained takes '
                             f'{list(self.PRETRAINED_KEYS)}')
        from mmengine.logging import print_log
        if not cfg.get('checkpoint'):
            self._weights_pending = True
            print_log(
                f'{type(self).__name__}: init_cfg is Pretrained without a '
                'checkpoint; training will refuse to start unless load_from '
                'or --resume brings the weights. Set '
                'model.backbone.init_cfg.checkpoint to fine-tune.',
                'current', level=30)
            return
        from .checkpoint import load_backbone_checkpoint
        #: what the last Pretrained load took from where
        self.load_report = load_backbone_checkpoint(
            self, cfg['checkpoint'], prefix=cfg.get('prefix', 'backbone.'),
            fill_from=cfg.get('fill_from'),
            fill_prefix=cfg.get('fill_prefix'),
            strict=cfg.get('strict', True))
        self._is_init = True

    #: State-dict version (:data:`STATE_DICT_VERSION`).
    _version = STATE_DICT_VERSION

    def upgrade_state_dict(self, state_dict: dict,
                           version: Optional[int] = None) -> dict:
        """A copy of a backbone state dict (keys without prefix) with the
        key names of :data:`STATE_DICT_VERSION` (see :data:`KEY_MAP`)."""
        out = dict(state_dict)
        upgrade_state_dict(out, '', version)
        return out

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              *args, **kwargs):
        # a checkpoint with backbone weights (load_from, resume, our loader)
        if any(k.startswith(prefix) for k in state_dict):
            self._weights_pending = False
        # older names; torch loads the children after this call, so the
        # renamed keys reach them
        upgrade_state_dict(state_dict, prefix, local_metadata.get('version'))
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    def check_weights_loaded(self) -> None:
        """Raise if ``init_cfg`` asked for pre-trained weights
        (``Pretrained`` with ``checkpoint=None``) and none arrived (neither
        ``load_from`` nor a resumed checkpoint).

        Called by the training forward and, before the first iteration, by
        :class:`~mmrevcol.engine.hooks.PretrainedWeightsCheckHook`.
        """
        if getattr(self, '_weights_pending', False):
            raise RuntimeError(
                f'{type(self).__name__}: init_cfg is '
                "dict(type='Pretrained', checkpoint=None) and neither "
                'load_from nor --resume brought backbone weights, so this '
                'run would train from random weights. Pass the checkpoint '
                'of the previous training step with --cfg-options '
                'model.backbone.init_cfg.checkpoint=PATH (a classification '
                'checkpoint also needs '
                'model.backbone.init_cfg.fill_from=PRETRAINED.pth), or '
                'load_from=PATH / --resume. To train from scratch on '
                'purpose, set model.backbone.init_cfg=None.')

    #: Shortcut scales of column ``c`` sit at depth ``c + 1`` on every level
    #: (RevCol V1's official rule) instead of their level's first block.
    gamma_at_column_depth: bool = False

    def blocks_in_level(self, c: int, level: int) -> int:
        """Number of blocks of ``level`` in column ``c``. Backbones that
        leave levels unbuilt override it with the full arch's count, so the
        depths do not depend on what is built."""
        module = self.columns[c].levels[level]
        return 0 if module is None else len(module.blocks)

    def _level_block_offsets(self, c: int) -> dict:
        offsets, total = {}, 0
        for i in ORDERS[self.columns[c].direction]:
            offsets[i] = total
            total += self.blocks_in_level(c, i)
        offsets['total'] = total
        return offsets

    def column_base(self, c: int) -> int:
        """Depth of the input of column ``c`` (its first block is at
        ``column_base(c) + 1``)."""
        return c

    @property
    def num_layers(self) -> int:
        """Number of layer depths: embeddings, blocks, head side (fixed by
        the arch, computed once)."""
        cached = self.__dict__.get('_num_layers')
        if cached is None:
            deepest = 0
            for c in range(len(self.columns)):
                deepest = max(deepest, self.column_base(c) +
                              self._level_block_offsets(c)['total'])
            cached = self.__dict__['_num_layers'] = deepest + 2
        return cached

    def _extra_layer_depth(self, name: str) -> Optional[int]:
        """Depth of backbone parameters outside the columns and embeddings
        (None: the head side, ``num_layers - 1``)."""
        return None

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Get the layer-wise depth of a parameter.

        Args:
            param_name (str): The name of the parameter.
            prefix (str): The prefix of the backbone in ``param_name``
                (e.g. ``'backbone.'``). Defaults to ''.

        Returns:
            tuple[int, int]: The layer depth and the number of layers.
        """
        num_layers = self.num_layers
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith(self.layer_depth_zero):
            return 0, num_layers
        match = _COLUMN_PARAM.match(name)
        if match is None:
            extra = self._extra_layer_depth(name)
            return (num_layers - 1 if extra is None else extra), num_layers
        c, rest = int(match.group(1)), match.group(2)
        base = self.column_base(c)
        offsets = self._level_block_offsets(c)
        block = _LEVEL_PARAM.match(rest)
        if block is not None:
            level, k = int(block.group(1)), int(block.group(2))
            return base + offsets[level] + k + 1, num_layers
        if self.gamma_at_column_depth and rest.startswith('gamma'):
            return base + 1, num_layers
        level = _LEVEL_ANY.match(rest)
        if level is not None:
            return base + offsets[int(level.group(1))] + 1, num_layers
        return base + 1, num_layers


def reachable_levels(directions: Sequence[str],
                     prev_levels_of,
                     out_levels: Sequence[int],
                     stage_inputs: Sequence[Tuple[int, int]] = ()
                     ) -> List[Tuple[int, ...]]:
    """Which levels each column must build so that ``out_levels`` of the last
    column can be computed.

    Args:
        directions (list[str]): Direction of each column (``'up'``/``'down'``).
        prev_levels_of (callable): ``(column, level) -> tuple`` of the
            previous-column levels that level reads.
        out_levels (list[int]): Levels wanted from the last column.
        stage_inputs (list[tuple[int, int]]): ``(column, level)`` pairs whose
            state is read by a later stage's input (always needed).

    Returns:
        list[tuple[int]]: The levels to build, per column.
    """
    needed: List[set] = [set() for _ in directions]
    for c, i in stage_inputs:
        needed[c].add(i)
    wanted = set(out_levels)
    for c in range(len(directions) - 1, -1, -1):
        wanted |= needed[c]
        order = ORDERS[directions[c]]
        last = max(order.index(i) for i in wanted)
        built = order[:last + 1]
        needed[c] = set(built)
        wanted = set(built)
        for i in built:  # the shortcut reads level i, F_i its prev_levels
            wanted |= set(prev_levels_of(c, i))
    return [tuple(i for i in ORDERS[d] if i in needed[c])
            for c, d in enumerate(directions)]
