"""Layer-wise learning-rate decay for any model whose backbone knows depths.

The constructor never guesses layer depths from parameter names: it asks the
backbone's ``get_layer_depth(param_name, prefix) -> (layer_depth,
num_layers)`` (the contract of mmpretrain's ``VisionTransformer``), and the
backbone's optional ``no_weight_decay()`` for the names without weight
decay. Everything else (``custom_keys``, ``norm_decay_mult``,
``flat_decay_mult``, frozen parameters) is mmengine's
:class:`~mmengine.optim.DefaultOptimWrapperConstructor`.
"""
import logging
import math
import numbers
from typing import List, Optional, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from mmrevcol.registry import register_everywhere

#: paramwise_cfg keys of the pre-issue-11 constructor that are gone, with
#: what to write instead.
REMOVED_KEYS = {
    'bias_lr_mult': "custom_keys={'.bias': dict(lr_mult=...)}",
    'bias_decay_mult': "custom_keys={'.bias': dict(decay_mult=...)} (1-D "
                       'parameters, biases included, already get no weight '
                       'decay: flat_decay_mult defaults to 0)',
    'dwconv_decay_mult': 'a custom_keys entry naming the depth-wise '
                         'convolutions',
    'dcn_offset_lr_mult': "custom_keys={'conv_offset': dict(lr_mult=...)}",
    'bypass_duplicate': 'nothing: a shared parameter is always added once',
}
#: paramwise_cfg keys this constructor understands.
SUPPORTED_KEYS = ('layer_decay_rate', 'backbone_prefix', 'custom_keys',
                  'norm_decay_mult', 'flat_decay_mult')
#: Group keys that only steer the constructor (not copied into a group).
_CONSUMED = ('lr_mult', 'decay_mult')


def _check_number(value, what: str, low: float, high: float,
                  allowed: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number in range."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or math.isnan(float(value)) or not low <= value <= high
            or (allowed.startswith('(') and value == low)):
        raise ValueError(f'{what} must be a number in {allowed}, got '
                         f'{value!r} ({type(value).__name__})')


def _matches(name: str, entries) -> bool:
    """Whether ``name`` is a ``no_weight_decay`` entry, lies in a module that
    is one, or ends with one (``'pos_embed'`` covers ``'x.pos_embed'``)."""
    return any(name == e or name.startswith(e + '.') or name.endswith('.' + e)
               for e in entries)


class _DropPerParamLogs(logging.Filter):
    """Hide mmengine's per-parameter ``paramwise_options`` lines (the
    constructor logs one table instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith('paramwise_options -- ')


@register_everywhere('OPTIM_WRAPPER_CONSTRUCTORS',
                     name='RevColLayerDecayOptimWrapperConstructor')
class RevColLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor plus layer-wise learning-rate decay.

    A trainable backbone parameter at depth ``d`` gets the learning rate
    ``base_lr * lr_mult * layer_decay_rate ** (num_layers - 1 - d)``, where
    ``(d, num_layers) = backbone.get_layer_depth(name, backbone_prefix)``;
    parameters outside the backbone (necks, heads) get ``base_lr * lr_mult``.
    ``lr_mult`` and the weight decay come from mmengine's paramwise rules,
    with two defaults of this constructor: ``flat_decay_mult=0`` (1-D
    parameters, i.e. norm weights, biases and per-channel scales, get no
    weight decay) and the names of the backbone's ``no_weight_decay()``
    (e.g. ``'pos_embed'``, relative to the backbone; a module name covers
    its parameters) get none either, unless a ``custom_keys`` entry with
    ``decay_mult`` matches them. Frozen parameters are left out, a shared
    parameter is added once, a wrapped model (DDP) is unwrapped.

    Parameters with equal settings are merged into one group per
    ``(depth, backbone/others, decay/no decay)``, ordered by depth; each
    group carries ``group_name``, ``layer_depth`` and ``lr_scale`` (the
    decay factor alone), and the groups are logged as a table.

    ``paramwise_cfg`` keys: ``layer_decay_rate`` (required, in ``(0, 1]``;
    1 disables the decay), ``backbone_prefix`` (default ``'backbone.'``;
    ``''``: the model is the backbone), and mmengine's ``custom_keys``,
    ``norm_decay_mult`` and ``flat_decay_mult``.

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
        # a copy: the caller's config is not changed
        self.paramwise_cfg = dict(self.paramwise_cfg)
        self.paramwise_cfg.setdefault('flat_decay_mult', 0.)
        self.layer_decay_rate = float(self.paramwise_cfg['layer_decay_rate'])
        prefix = self.paramwise_cfg.get('backbone_prefix', 'backbone.')
        self.backbone_prefix = prefix + '.' if prefix and not prefix.endswith(
            '.') else prefix
        #: Rows of the last logged table, one per group.
        self.group_summary: List[dict] = []

    def _validate_cfg(self) -> None:
        """Check ``paramwise_cfg`` and the optimizer's ``lr``."""
        cfg = self.paramwise_cfg
        name = type(self).__name__
        if not isinstance(cfg, dict):
            raise TypeError(f'{name}: paramwise_cfg must be a dict with at '
                            f"least 'layer_decay_rate', got {cfg!r}")
        for key in sorted(set(cfg) & set(REMOVED_KEYS)):
            raise ValueError(f"{name}: paramwise_cfg[{key!r}] was removed; "
                             f'use {REMOVED_KEYS[key]}')
        unknown = sorted(set(cfg) - set(SUPPORTED_KEYS))
        if unknown:
            raise ValueError(f'{name}: unsupported paramwise_cfg key(s) '
                             f'{unknown}; allowed keys are '
                             f'{list(SUPPORTED_KEYS)}')
        if 'layer_decay_rate' not in cfg:
            raise ValueError(f"paramwise_cfg['layer_decay_rate'] is required "
                             f'by {name}: a number in (0, 1] (1 disables '
                             'layer-wise decay)')
        _check_number(cfg['layer_decay_rate'],
                      "paramwise_cfg['layer_decay_rate']", 0, 1, '(0, 1]')
        prefix = cfg.get('backbone_prefix', 'backbone.')
        if not isinstance(prefix, str):
            raise TypeError(
                "paramwise_cfg['backbone_prefix'] must be a str such as "
                f"'backbone.' (or '' for a bare backbone), got {prefix!r} "
                f'({type(prefix).__name__})')
        for key in ('norm_decay_mult', 'flat_decay_mult'):
            if key in cfg:
                _check_number(cfg[key], f'paramwise_cfg[{key!r}]', 0,
                              math.inf, '[0, inf) (non-negative)')
        for key, entry in cfg.get('custom_keys', {}).items():
            if not isinstance(entry, dict):
                raise TypeError(
                    f"paramwise_cfg['custom_keys'][{key!r}] must be a dict "
                    f'such as dict(lr_mult=0.1, decay_mult=0.), got {entry!r}')
            for mult in set(_CONSUMED) & set(entry):
                _check_number(entry[mult],
                              f"paramwise_cfg['custom_keys'][{key!r}]"
                              f'[{mult!r}]', 0, math.inf,
                              '[0, inf) (non-negative)')
        super()._validate_cfg()
        if self.base_lr is None:
            raise ValueError(f'{name} needs the base learning rate: set '
                             "optim_wrapper.optimizer['lr']")
        _check_number(self.base_lr, "optim_wrapper.optimizer['lr']", 0,
                      math.inf, '[0, inf)')

    # ------------------------------------------------------------------ #
    def get_backbone(self, model: nn.Module) -> nn.Module:
        """The module at ``backbone_prefix``; it must have
        ``get_layer_depth``."""
        path = self.backbone_prefix[:-1]
        try:
            backbone = model.get_submodule(path) if path else model
        except AttributeError as err:
            raise ValueError(
                f'{type(model).__name__} has no submodule {path!r} '
                f"(paramwise_cfg['backbone_prefix']="
                f'{self.backbone_prefix!r}): {err}') from None
        if not callable(getattr(backbone, 'get_layer_depth', None)):
            cls = type(backbone)
            raise TypeError(
                f'{type(self).__name__} needs the backbone '
                f'{cls.__module__}.{cls.__qualname__} (at backbone_prefix '
                f'{self.backbone_prefix!r}) to implement '
                'get_layer_depth(param_name, prefix) -> (layer_depth, '
                'num_layers); it does not')
        return backbone

    def _depth(self, backbone: nn.Module, name: str,
               num_layers: Optional[int]) -> Tuple[int, int]:
        """``backbone.get_layer_depth(name)``, checked."""
        result = backbone.get_layer_depth(name, self.backbone_prefix)
        cls = type(backbone).__name__
        if not (isinstance(result, (tuple, list)) and len(result) == 2
                and all(isinstance(v, numbers.Integral)
                        and not isinstance(v, bool) for v in result)):
            raise TypeError(f'{cls}.get_layer_depth({name!r}) must return a '
                            'tuple of two ints (layer_depth, num_layers), '
                            f'got {result!r}')
        depth, layers = int(result[0]), int(result[1])
        if not 0 <= depth <= layers - 1:
            raise ValueError(f'{cls}.get_layer_depth({name!r}) returned '
                             f'depth {depth} with num_layers {layers}; need '
                             '0 <= depth <= num_layers - 1')
        if num_layers is not None and layers != num_layers:
            raise ValueError(f'{cls}.get_layer_depth returned num_layers '
                             f'{layers} for {name!r} but {num_layers} '
                             'before; num_layers must be the same for every '
                             'parameter')
        return depth, layers

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', is_dcn_module=None) -> None:
        """Append the layer-decay parameter groups of the whole model
        ``module`` to ``params`` (called once by mmengine's ``__call__``).

        Args:
            params (list[dict]): Parameter groups, extended in place.
            module (nn.Module): The model (``.module`` of a wrapper is used).
            prefix (str): Must be ``''``: depths need full parameter names.
            is_dcn_module: Unused (mmengine's recursion argument).
        """
        if prefix:
            raise ValueError(f'{type(self).__name__}.add_params builds the '
                             "groups of a whole model and needs prefix='', "
                             f'got {prefix!r}')
        model = getattr(module, 'module', module)
        backbone = self.get_backbone(model)
        no_decay = getattr(backbone, 'no_weight_decay', None)
        no_decay = (no_decay() if callable(no_decay) else no_decay) or ()
        if isinstance(no_decay, str) or not all(
                isinstance(n, str) for n in no_decay):
            raise TypeError(f'{type(backbone).__name__}.no_weight_decay() '
                            'must return an iterable of str, got '
                            f'{no_decay!r}')

        # mmengine's rules, one group per parameter; with weight_decay=1
        # standing in when the optimizer sets none, a group's weight decay
        # is then the multiplier
        base_wd = self.base_wd
        rules = DefaultOptimWrapperConstructor.__new__(
            DefaultOptimWrapperConstructor)  # recurses into mmengine's own
        rules.__dict__.update(self.__dict__,
                              base_wd=1. if base_wd is None else base_wd)
        per_param: List[dict] = []
        logger = MMLogger.get_current_instance()
        quiet = _DropPerParamLogs()
        logger.addFilter(quiet)
        try:
            rules.add_params(per_param, model)
        finally:
            logger.removeFilter(quiet)
        if not per_param:
            raise ValueError(f'{type(model).__name__} has no trainable '
                             'parameter to optimize')

        names = {id(p): n for n, p in model.named_parameters()}
        num_layers, groups, seen = None, {}, set()
        for order, group in enumerate(per_param):
            param = group.pop('params')[0]
            if id(param) in seen:  # shared: added once, under its 1st name
                continue
            seen.add(id(param))
            name = names[id(param)]
            depth, num_layers = self._depth(backbone, name, num_layers)
            in_backbone = name.startswith(self.backbone_prefix)
            if not in_backbone:
                depth = num_layers - 1
            scale = self.layer_decay_rate**(num_layers - 1 - depth)
            lr = group.pop('lr', self.base_lr) * scale
            decay = group.pop('weight_decay',
                              1. if base_wd is None else base_wd)
            if (in_backbone and 'decay_mult' not in group and _matches(
                    name[len(self.backbone_prefix):], no_decay)):
                decay = 0.
            extra = {k: v for k, v in group.items() if k not in _CONSUMED}
            if decay == 0:
                wd = 0.
            elif base_wd is not None:
                wd = decay
            elif decay == 1:
                wd = None  # the optimizer's default applies
            else:
                raise ValueError(
                    f'{name} needs weight decay multiplier {decay}, but '
                    "optim_wrapper.optimizer sets no 'weight_decay' to "
                    'multiply')
            decays = wd is None or wd > 0
            key = (depth, not in_backbone, not decays, lr, wd,
                   repr(sorted(extra.items(), key=lambda kv: str(kv[0]))))
            if key not in groups:
                part = 'backbone' if in_backbone else 'others'
                new = dict(params=[], lr=lr)
                if wd is not None:
                    new['weight_decay'] = wd
                new.update(extra)
                new.update(group_name=f'{part}.layer_{depth}.'
                           f"{'decay' if decays else 'no_decay'}",
                           layer_depth=depth, lr_scale=scale)
                groups[key] = (order, new)
            groups[key][1]['params'].append(param)

        ordered = [g for _, (_, g) in sorted(groups.items(),
                                            key=lambda kv: (kv[0][:3],
                                                            kv[1][0]))]
        counts: dict = {}
        for group in ordered:  # names of groups differing by extras only
            base = group['group_name']
            counts[base] = counts.get(base, 0) + 1
            if counts[base] > 1:
                group['group_name'] = f'{base}.{counts[base] - 1}'
        frozen = sum(not p.requires_grad for p in model.parameters())
        self._log_table(type(backbone).__name__, num_layers, ordered, frozen)
        params.extend(ordered)

    def _log_table(self, backbone_name: str, num_layers: int,
                   groups: List[dict], frozen: int) -> None:
        """Log the groups as one table (also kept in ``group_summary``)."""
        self.group_summary = [
            dict(group_name=g['group_name'], layer_depth=g['layer_depth'],
                 lr_scale=g['lr_scale'], lr=g['lr'],
                 weight_decay=g.get('weight_decay'),
                 num_tensors=len(g['params']),
                 numel=sum(p.numel() for p in g['params'])) for g in groups
        ]
        header = ('group', 'depth', 'lr_scale', 'lr', 'weight_decay',
                  '#tensors', '#params')
        rows = [header] + [
            (r['group_name'], str(r['layer_depth']), f"{r['lr_scale']:.4g}",
             f"{r['lr']:.4g}", 'default' if r['weight_decay'] is None else
             f"{r['weight_decay']:.4g}", str(r['num_tensors']),
             str(r['numel'])) for r in self.group_summary
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        title = (f'Layer-wise lr decay: backbone {backbone_name}, '
                 f'num_layers={num_layers}, '
                 f'layer_decay_rate={self.layer_decay_rate}, '
                 f'{len(groups)} groups')
        if frozen:
            title += f', {frozen} frozen parameter(s) skipped'
        MMLogger.get_current_instance().info('\n'.join(
            [title] + ['  '.join(c.ljust(w) for c, w in zip(r, widths))
                       .rstrip() for r in rows]))
