"""Layer-wise learning-rate decay for any model whose backbone knows depths.

The constructor never guesses layer depths from parameter names. It asks the
backbone: every mmrevcol backbone implements
``get_layer_depth(param_name, prefix) -> (layer_depth, num_layers)`` with the
semantics of mmpretrain's ``VisionTransformer.get_layer_depth``. The same
constructor therefore serves mmseg segmentors, mmdet detectors and mmpretrain
classifiers (all keep their backbone at ``model.backbone``).

A trainable parameter at depth ``d`` gets the learning rate
``base_lr * lr_mult * layer_decay_rate ** (num_layers - 1 - d)``; parameters
outside the backbone (necks, heads) get ``base_lr * lr_mult``. ``lr_mult`` and
the weight decay come from the usual mmengine paramwise options, see
:class:`RevColLayerDecayOptimWrapperConstructor`.
"""
import logging
import math
import numbers
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Set, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.utils.dl_utils import mmcv_full_available
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm, _InstanceNorm

from mmrevcol.registry import register_everywhere

#: Normalization layers whose parameters ``norm_decay_mult`` applies to.
NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)

#: paramwise_cfg keys this constructor understands; anything else is an error
#: so that options of other constructors (e.g. mmseg's ``decay_rate``) are not
#: silently ignored.
SUPPORTED_KEYS = ('layer_decay_rate', 'backbone_prefix', 'custom_keys',
                  'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
                  'dwconv_decay_mult', 'flat_decay_mult',
                  'dcn_offset_lr_mult', 'bypass_duplicate')

#: Multipliers that must be non-negative numbers when given.
_MULT_KEYS = ('bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
              'dwconv_decay_mult', 'flat_decay_mult', 'dcn_offset_lr_mult')

#: Keys of a ``custom_keys`` entry that are consumed by the constructor;
#: every other key of the entry is copied into the parameter group.
_CUSTOM_MULT_KEYS = ('lr_mult', 'decay_mult')


def _is_number(value) -> bool:
    """Whether ``value`` is a real number (bools excluded) that is not NaN."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and not math.isnan(float(value)))


def _dcn_types() -> tuple:
    """Return the mmcv deformable convolution classes, or ``()``."""
    if not mmcv_full_available():
        return ()
    try:
        from mmcv.ops import DeformConv2d, ModulatedDeformConv2d
    except ImportError:  # pragma: no cover - mmcv without compiled ops
        return ()
    return (DeformConv2d, ModulatedDeformConv2d)


def _matches(name: str, entries: Iterable[str]) -> bool:
    """Whether a parameter name is covered by a ``no_weight_decay`` entry.

    An entry covers ``name`` when it equals it, names a module containing it
    (``entry + '.'`` is a prefix of it) or is a dotted suffix of it
    (``'pos_embed'`` covers ``'patch_embed.pos_embed'``).
    """
    for entry in entries:
        if (name == entry or name.startswith(entry + '.')
                or name.endswith('.' + entry)):
            return True
    return False


@register_everywhere('OPTIM_WRAPPER_CONSTRUCTORS',
                     name='RevColLayerDecayOptimWrapperConstructor')
class RevColLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper constructor with layer-wise learning-rate decay.

    Depths come from ``backbone.get_layer_depth(param_name, prefix)``, which
    must return ``(layer_depth, num_layers)`` with
    ``0 <= layer_depth <= num_layers - 1`` and a constant ``num_layers``.
    A parameter at depth ``d`` has its learning rate scaled by
    ``layer_decay_rate ** (num_layers - 1 - d)``. Parameters whose name does
    not start with ``backbone_prefix`` are treated as the head: depth
    ``num_layers - 1``, scale 1. Frozen parameters (``requires_grad=False``)
    are left out. A wrapped model (DDP, ``MMDistributedDataParallel``) is
    unwrapped through ``model.module``.

    ``paramwise_cfg`` keys:

    - ``layer_decay_rate`` (float): required, in ``(0, 1]``; ``1`` disables
      the decay.
    - ``backbone_prefix`` (str): dotted path of the backbone inside the model
      followed by ``'.'``. Defaults to ``'backbone.'``; ``''`` means the model
      itself is the backbone.
    - ``custom_keys`` (dict): as in mmengine, the longest key (then the
      alphabetically first) that is a substring of the full parameter name
      wins; its ``lr_mult`` multiplies the learning rate on top of the layer
      scale, its ``decay_mult`` sets the weight decay and takes precedence
      over every automatic rule below, and its other items are copied into
      the parameter group. A matching key without ``decay_mult`` leaves the
      weight decay to the automatic rules (mmengine would reset it to the
      full decay).
    - ``bias_lr_mult``, ``dcn_offset_lr_mult``: as in mmengine.
    - ``norm_decay_mult``, ``bias_decay_mult``, ``dwconv_decay_mult``,
      ``flat_decay_mult``: as in mmengine, same precedence (norm, bias,
      depth-wise conv, flat). ``bias_decay_mult`` skips the biases of norm
      layers and deformable convolutions, as mmengine documents it.
      ``flat_decay_mult`` defaults to ``0`` here and covers parameters with
      ``ndim <= 1``, so norm weights, biases and per-channel scales get no
      weight decay unless a more specific multiplier says otherwise.
    - ``bypass_duplicate`` (bool): accepted for compatibility; a parameter
      shared by several modules is always added once (under its first name).

    Names returned by the backbone's optional ``no_weight_decay()`` (relative
    to the backbone, e.g. ``'pos_embed'``, or module names) get no weight
    decay; only a ``custom_keys`` entry with ``decay_mult`` overrides that.

    Parameter groups are ordered by depth (ascending); at each depth the
    backbone's groups come before the head's and decayed groups before
    non-decayed ones. Each group carries the extra keys ``group_name``,
    ``layer_depth`` and ``lr_scale`` (the layer-decay factor alone).

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config; its
            ``optimizer`` must set ``lr``.
        paramwise_cfg (dict): Parameter-wise options, see above.

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     constructor='RevColLayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(layer_decay_rate=0.9))
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.layer_decay_rate = float(self.paramwise_cfg['layer_decay_rate'])
        prefix = self.paramwise_cfg.get('backbone_prefix', 'backbone.')
        if prefix and not prefix.endswith('.'):
            prefix += '.'
        self.backbone_prefix = prefix
        #: Rows of the last built table, one per group (for inspection).
        self.group_summary: List[dict] = []

    # ------------------------------------------------------------------ #
    # validation
    # ------------------------------------------------------------------ #
    def _validate_cfg(self) -> None:
        """Check ``paramwise_cfg`` and the optimizer config."""
        if self.paramwise_cfg is None or not isinstance(
                self.paramwise_cfg, dict):
            raise TypeError(
                'RevColLayerDecayOptimWrapperConstructor: paramwise_cfg must '
                "be a dict with at least 'layer_decay_rate', got "
                f'{self.paramwise_cfg!r}')
        unknown = sorted(set(self.paramwise_cfg) - set(SUPPORTED_KEYS))
        if unknown:
            raise ValueError(
                'RevColLayerDecayOptimWrapperConstructor: unsupported '
                f'paramwise_cfg key(s) {unknown}; allowed keys are '
                f'{list(SUPPORTED_KEYS)}')

        if 'layer_decay_rate' not in self.paramwise_cfg:
            raise ValueError(
                "paramwise_cfg['layer_decay_rate'] is required by "
                'RevColLayerDecayOptimWrapperConstructor: a number in (0, 1] '
                '(1 disables layer-wise decay)')
        rate = self.paramwise_cfg['layer_decay_rate']
        if not _is_number(rate) or not 0 < rate <= 1:
            raise ValueError(
                "paramwise_cfg['layer_decay_rate'] must be a number in "
                f'(0, 1], got {rate!r} ({type(rate).__name__})')

        prefix = self.paramwise_cfg.get('backbone_prefix', 'backbone.')
        if not isinstance(prefix, str):
            raise TypeError(
                "paramwise_cfg['backbone_prefix'] must be a str such as "
                f"'backbone.' (or '' for a bare backbone), got {prefix!r} "
                f'({type(prefix).__name__})')

        for key in _MULT_KEYS:
            if key in self.paramwise_cfg:
                value = self.paramwise_cfg[key]
                if not _is_number(value) or value < 0:
                    raise ValueError(
                        f'paramwise_cfg[{key!r}] must be a non-negative '
                        f'number, got {value!r} ({type(value).__name__})')
        bypass = self.paramwise_cfg.get('bypass_duplicate', False)
        if not isinstance(bypass, bool):
            raise TypeError("paramwise_cfg['bypass_duplicate'] must be a "
                            f'bool, got {bypass!r}')

        custom_keys = self.paramwise_cfg.get('custom_keys', {})
        if not isinstance(custom_keys, dict):
            raise TypeError("paramwise_cfg['custom_keys'] must be a dict "
                            'mapping a name substring to a dict, got '
                            f'{custom_keys!r}')
        for key, entry in custom_keys.items():
            if not isinstance(entry, dict):
                raise TypeError(
                    f"paramwise_cfg['custom_keys'][{key!r}] must be a dict "
                    f'such as dict(lr_mult=0.1, decay_mult=0.), got {entry!r}')
            for mult in _CUSTOM_MULT_KEYS:
                if mult in entry and (not _is_number(entry[mult])
                                      or entry[mult] < 0):
                    raise ValueError(
                        f"paramwise_cfg['custom_keys'][{key!r}][{mult!r}] "
                        'must be a non-negative number, got '
                        f'{entry[mult]!r}')

        if self.base_lr is None:
            raise ValueError(
                'RevColLayerDecayOptimWrapperConstructor needs the base '
                "learning rate: set optim_wrapper.optimizer['lr']")
        if not _is_number(self.base_lr):
            raise ValueError("optim_wrapper.optimizer['lr'] must be a number, "
                             f'got {self.base_lr!r}')
        if self.base_wd is not None and not _is_number(self.base_wd):
            raise ValueError("optim_wrapper.optimizer['weight_decay'] must be "
                             f'a number, got {self.base_wd!r}')

    # ------------------------------------------------------------------ #
    # backbone queries
    # ------------------------------------------------------------------ #
    def get_backbone(self, model: nn.Module) -> nn.Module:
        """Return the module at ``backbone_prefix`` and check its interface.

        Args:
            model (nn.Module): The unwrapped model.

        Returns:
            nn.Module: The backbone.
        """
        path = self.backbone_prefix[:-1]
        if path:
            try:
                backbone = model.get_submodule(path)
            except AttributeError as err:
                raise ValueError(
                    f'{type(model).__name__} has no submodule {path!r} '
                    f"(paramwise_cfg['backbone_prefix']="
                    f'{self.backbone_prefix!r}): {err}') from None
        else:
            backbone = model
        if not callable(getattr(backbone, 'get_layer_depth', None)):
            raise TypeError(
                'RevColLayerDecayOptimWrapperConstructor needs the backbone '
                f'{type(backbone).__module__}.{type(backbone).__qualname__} '
                "(at backbone_prefix "
                f'{self.backbone_prefix!r}) to implement '
                'get_layer_depth(param_name, prefix) -> (layer_depth, '
                'num_layers); it does not')
        return backbone

    @staticmethod
    def get_no_weight_decay(backbone: nn.Module) -> Set[str]:
        """Names from the backbone's optional ``no_weight_decay()``.

        Args:
            backbone (nn.Module): The backbone.

        Returns:
            set[str]: Parameter or module names relative to the backbone.
        """
        method = getattr(backbone, 'no_weight_decay', None)
        if method is None:
            return set()
        names = method() if callable(method) else method
        if isinstance(names, str) or not all(
                isinstance(n, str) for n in names):
            raise TypeError(
                f'{type(backbone).__name__}.no_weight_decay() must return '
                f'an iterable of str, got {names!r}')
        return set(names)

    def _query_depth(self, backbone: nn.Module, name: str,
                     expected_layers: Optional[int]) -> Tuple[int, int]:
        """Call ``get_layer_depth`` and check what it returns."""
        result = backbone.get_layer_depth(name, self.backbone_prefix)
        cls_name = type(backbone).__name__
        if (not isinstance(result, (tuple, list)) or len(result) != 2
                or not all(
                    isinstance(v, numbers.Integral)
                    and not isinstance(v, bool) for v in result)):
            raise TypeError(
                f'{cls_name}.get_layer_depth({name!r}, '
                f'{self.backbone_prefix!r}) must return a tuple of two ints '
                f'(layer_depth, num_layers), got {result!r}')
        depth, num_layers = int(result[0]), int(result[1])
        if num_layers < 1 or not 0 <= depth <= num_layers - 1:
            raise ValueError(
                f'{cls_name}.get_layer_depth({name!r}) returned depth '
                f'{depth} with num_layers {num_layers}; need num_layers >= 1 '
                'and 0 <= depth <= num_layers - 1')
        if expected_layers is not None and num_layers != expected_layers:
            raise ValueError(
                f'{cls_name}.get_layer_depth returned num_layers '
                f'{num_layers} for {name!r} but {expected_layers} before; '
                'num_layers must be the same for every parameter')
        return depth, num_layers

    # ------------------------------------------------------------------ #
    # parameter groups
    # ------------------------------------------------------------------ #
    def _collect(self, module: nn.Module, prefix: str, parent_is_dcn: bool,
                 dcn_types: tuple, seen: Set[int], out: List[dict]) -> None:
        """Depth-first walk recording each parameter with its owner."""
        is_norm = isinstance(module, NORM_TYPES)
        is_dwconv = (isinstance(module, nn.Conv2d)
                     and module.in_channels == module.groups)
        for name, param in module.named_parameters(recurse=False):
            full_name = f'{prefix}.{name}' if prefix else name
            if id(param) in seen:
                print_log(
                    f'{full_name} shares its tensor with a parameter added '
                    'before; it is added once', logger='current',
                    level=logging.DEBUG)
                continue
            seen.add(id(param))
            out.append(
                dict(
                    name=full_name,
                    param=param,
                    is_bias=name == 'bias',
                    is_norm=is_norm,
                    is_dwconv=is_dwconv,
                    is_dcn_child=parent_is_dcn,
                    is_dcn_offset=(parent_is_dcn
                                   and isinstance(module, nn.Conv2d)
                                   and 'conv_offset' in prefix)))
        module_is_dcn = bool(dcn_types) and isinstance(module, dcn_types)
        for child_name, child in module.named_children():
            child_prefix = f'{prefix}.{child_name}' if prefix else child_name
            self._collect(child, child_prefix, module_is_dcn, dcn_types, seen,
                          out)

    def _multipliers(self, info: dict, relative_name: Optional[str],
                     no_decay_names: Set[str],
                     sorted_custom: List[str]) -> Tuple[float, float, dict]:
        """Return ``(lr_mult, decay_mult, extra_group_items)``."""
        cfg = self.paramwise_cfg
        custom_keys = cfg.get('custom_keys', {})
        name = info['name']
        custom = None
        for key in sorted_custom:
            if key in name:
                custom = custom_keys[key]
                break

        if custom is not None:
            lr_mult = float(custom.get('lr_mult', 1.))
        else:
            lr_mult = 1.
            if (info['is_bias'] and not (info['is_norm']
                                         or info['is_dcn_child'])
                    and 'bias_lr_mult' in cfg):
                lr_mult = float(cfg['bias_lr_mult'])
            if info['is_dcn_offset'] and 'dcn_offset_lr_mult' in cfg:
                lr_mult = float(cfg['dcn_offset_lr_mult'])

        param = info['param']
        if custom is not None and 'decay_mult' in custom:
            decay_mult = float(custom['decay_mult'])
        elif relative_name is not None and (
                _matches(relative_name, no_decay_names)
                or _matches(name, no_decay_names)):
            decay_mult = 0.
        elif info['is_norm'] and 'norm_decay_mult' in cfg:
            decay_mult = float(cfg['norm_decay_mult'])
        elif (info['is_bias'] and not info['is_norm']
              and not info['is_dcn_child'] and 'bias_decay_mult' in cfg):
            decay_mult = float(cfg['bias_decay_mult'])
        elif info['is_dwconv'] and 'dwconv_decay_mult' in cfg:
            decay_mult = float(cfg['dwconv_decay_mult'])
        elif param.ndim <= 1 and not info['is_dcn_child']:
            decay_mult = float(cfg.get('flat_decay_mult', 0.))
        else:
            decay_mult = 1.

        extra = {}
        if custom is not None:
            extra = {
                k: v
                for k, v in custom.items() if k not in _CUSTOM_MULT_KEYS
            }
        return lr_mult, decay_mult, extra

    def build_param_groups(self, model: nn.Module) -> List[dict]:
        """Build the optimizer parameter groups for ``model``.

        Args:
            model (nn.Module): The model, possibly wrapped (``.module``).

        Returns:
            list[dict]: Parameter groups ordered by depth, each with
            ``params``, ``lr``, ``weight_decay`` (unless the optimizer
            default applies), ``group_name``, ``layer_depth`` and
            ``lr_scale``.
        """
        if hasattr(model, 'module'):
            model = model.module
        backbone = self.get_backbone(model)
        no_decay_names = self.get_no_weight_decay(backbone)
        custom_keys = self.paramwise_cfg.get('custom_keys', {})
        sorted_custom = sorted(sorted(custom_keys), key=len, reverse=True)

        records: List[dict] = []
        self._collect(model, '', False, _dcn_types(), set(), records)
        frozen = [r['name'] for r in records if not r['param'].requires_grad]
        records = [r for r in records if r['param'].requires_grad]
        if not records:
            raise ValueError(f'{type(model).__name__} has no trainable '
                             'parameter to optimize')

        num_layers = None
        for record in records:
            depth, num_layers = self._query_depth(backbone, record['name'],
                                                  num_layers)
            record['depth'] = depth
        rate = self.layer_decay_rate

        groups: Dict[tuple, dict] = OrderedDict()
        for order, record in enumerate(records):
            name = record['name']
            in_backbone = name.startswith(self.backbone_prefix)
            if in_backbone:
                depth = record['depth']
                relative = name[len(self.backbone_prefix):]
            else:
                depth, relative = num_layers - 1, None
            scale = rate**(num_layers - 1 - depth)
            lr_mult, decay_mult, extra = self._multipliers(
                record, relative, no_decay_names, sorted_custom)
            lr = self.base_lr * lr_mult * scale
            if decay_mult == 0:
                weight_decay = 0.
            elif self.base_wd is not None:
                weight_decay = self.base_wd * decay_mult
            elif decay_mult == 1:
                weight_decay = None  # the optimizer's own default applies
            else:
                raise ValueError(
                    f'{name} needs weight decay multiplier {decay_mult}, but '
                    "optim_wrapper.optimizer sets no 'weight_decay' to "
                    'multiply')
            decay = weight_decay is None or weight_decay > 0
            key = (depth, not in_backbone, not decay, lr, weight_decay,
                   repr(sorted(extra.items(), key=lambda kv: str(kv[0]))))
            if key not in groups:
                part = 'backbone' if in_backbone else 'others'
                group = dict(params=[], lr=lr)
                if weight_decay is not None:
                    group['weight_decay'] = weight_decay
                group.update(extra)
                group.update(
                    group_name=(f'{part}.layer_{depth}.'
                                f"{'decay' if decay else 'no_decay'}"),
                    layer_depth=depth,
                    lr_scale=scale)
                groups[key] = dict(group=group, order=order, numel=0)
            groups[key]['group']['params'].append(record['param'])
            groups[key]['numel'] += record['param'].numel()

        ordered = sorted(groups.items(), key=lambda kv: (kv[0][:3],
                                                         kv[1]['order']))
        # Disambiguate names of groups that differ only by custom options.
        counts: Dict[str, int] = {}
        result = []
        self.group_summary = []
        for _, entry in ordered:
            group = entry['group']
            base = group['group_name']
            counts[base] = counts.get(base, 0) + 1
            if counts[base] > 1:
                group['group_name'] = f'{base}.{counts[base] - 1}'
            result.append(group)
            self.group_summary.append(
                dict(
                    group_name=group['group_name'],
                    layer_depth=group['layer_depth'],
                    lr_scale=group['lr_scale'],
                    lr=group['lr'],
                    weight_decay=group.get('weight_decay'),
                    num_tensors=len(group['params']),
                    numel=entry['numel']))
        self._log_table(type(backbone).__name__, num_layers, frozen)
        return result

    def _log_table(self, backbone_name: str, num_layers: int,
                   frozen: List[str]) -> None:
        """Log the groups as a compact table."""
        header = ('group', 'depth', 'lr_scale', 'lr', 'weight_decay',
                  '#tensors', '#params')
        rows = [header]
        for row in self.group_summary:
            wd = row['weight_decay']
            rows.append((row['group_name'], str(row['layer_depth']),
                         f"{row['lr_scale']:.4g}", f"{row['lr']:.4g}",
                         'default' if wd is None else f'{wd:.4g}',
                         str(row['num_tensors']), str(row['numel'])))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            '  '.join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
            for r in rows
        ]
        title = (f'Layer-wise lr decay: backbone {backbone_name}, '
                 f'num_layers={num_layers}, '
                 f'layer_decay_rate={self.layer_decay_rate}, '
                 f'{len(self.group_summary)} groups')
        if frozen:
            title += f', {len(frozen)} frozen parameter(s) skipped'
        MMLogger.get_current_instance().info('\n'.join([title] + lines))

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module=None) -> None:
        """Append the layer-decay parameter groups of ``module`` to params.

        Called once by :meth:`DefaultOptimWrapperConstructor.__call__` with
        the unwrapped model; unlike the parent it is not recursive.

        Args:
            params (list[dict]): Parameter groups, extended in place.
            module (nn.Module): The (whole) model.
            prefix (str): Must be ``''``: depths need full parameter names.
            is_dcn_module: Unused, kept for signature compatibility.
        """
        if prefix:
            raise ValueError(
                'RevColLayerDecayOptimWrapperConstructor.add_params builds '
                'groups for a whole model and needs prefix=\'\', got '
                f'{prefix!r}')
        params.extend(self.build_param_groups(module))
