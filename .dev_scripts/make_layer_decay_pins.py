"""Pin the (lr, weight decay) of every parameter of every shipped config.

For every config under ``configs/`` (``configs/_base_`` excluded) whose
``optim_wrapper`` uses the layer-decay constructor or sets a
``paramwise_cfg``, the full-size model is built on the meta device (nothing
allocated, nothing initialised), the configured optimizer-wrapper
constructor builds the optimizer, and each parameter's ``lr`` and
``weight_decay`` (plus ``lr_mult`` / ``decay_mult`` where a group carries
them) are recorded. The file groups parameter names by their distinct
values, so it stays small.

Written once from the code before the constructor rewrite (issue 11);
``tests/test_engine/test_optimizers/test_layer_decay_pins.py`` recomputes
every entry and compares. Re-run only on purpose (a deliberate change of a
recipe), from the repository root::

    python .dev_scripts/make_layer_decay_pins.py [--out PATH] [--check]

``--check`` compares against the existing file instead of writing it.
"""
import argparse
import glob
import gzip
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PIN_FILE = osp.join(ROOT, 'tests', 'data', 'layer_decay_pins.json.gz')
CONSTRUCTOR = 'RevColLayerDecayOptimWrapperConstructor'
#: Group entries recorded besides ``lr`` and ``weight_decay``.
EXTRA_KEYS = ('lr_mult', 'decay_mult')


def pinned_configs(root: str = ROOT) -> List[str]:
    """Config paths (relative to ``root``) whose optimizer is paramwise."""
    from mmengine.config import Config
    _cache_metafile_reads()
    out = []
    for path in sorted(glob.glob(osp.join(root, 'configs', '**', '*.py'),
                                 recursive=True)):
        rel = osp.relpath(path, root)
        if rel.split(os.sep)[1] == '_base_':
            continue
        cfg = Config.fromfile(path)
        ow = cfg.get('optim_wrapper') or {}
        if ow.get('constructor') == CONSTRUCTOR or ow.get('paramwise_cfg'):
            out.append(rel.replace(os.sep, '/'))
    return out


def _cache_metafile_reads() -> None:
    """Read each ``metafile.yml`` of the downstream packages once per
    process: mmengine parses all of them again for every ``mmseg::`` /
    ``mmdet::`` base config (seconds per config)."""
    from mmengine.config import utils
    if getattr(utils.load, 'cached_metafiles', False):
        return
    original, cache = utils.load, {}

    def load(path, *args, **kwargs):
        if args or kwargs or not str(path).endswith('.yml'):
            return original(path, *args, **kwargs)
        if path not in cache:
            cache[path] = original(path)
        return cache[path]

    load.cached_metafiles = True
    utils.load = load


def param_settings(config: str, root: str = ROOT) -> Dict[str, dict]:
    """``{param name: {'lr': .., 'weight_decay': .., ...}}`` of one config.

    Args:
        config (str): Config path relative to ``root``.
        root (str): Repository root.
    """
    from mmengine.config import Config
    from mmengine.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS,
                                   DefaultScope)

    import mmrevcol  # noqa: F401  (registers everything)
    from mmrevcol.apis import build_model

    _cache_metafile_reads()
    cfg = Config.fromfile(osp.join(root, config))
    model = build_model(cfg, device='meta')
    ow = cfg.optim_wrapper.to_dict()
    constructor_type = ow.pop('constructor', 'DefaultOptimWrapperConstructor')
    paramwise_cfg = ow.pop('paramwise_cfg', None)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
            dict(type=constructor_type, optim_wrapper_cfg=ow,
                 paramwise_cfg=paramwise_cfg))
        # what DefaultOptimWrapperConstructor.__call__ does, minus the
        # wrapper (AMP wrappers refuse to build without a GPU)
        optimizer_cfg = dict(constructor.optimizer_cfg)
        if constructor.paramwise_cfg:
            params: list = []
            constructor.add_params(params, model)
            optimizer_cfg['params'] = params
        else:
            optimizer_cfg['params'] = model.parameters()
        optimizer = OPTIMIZERS.build(optimizer_cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in optimizer.param_groups:
        entry = dict(lr=float(group['lr']),
                     weight_decay=float(group.get('weight_decay', 0.)))
        for key in EXTRA_KEYS:
            if key in group:
                entry[key] = float(group[key])
        for p in group['params']:
            out[names[id(p)]] = entry
    return out


def compact(settings: Dict[str, dict]) -> List[dict]:
    """Group parameter names by identical settings (sorted, stable)."""
    by_value: Dict[tuple, List[str]] = {}
    for name, entry in settings.items():
        by_value.setdefault(tuple(sorted(entry.items())), []).append(name)
    return [dict(settings=dict(key), names=sorted(names))
            for key, names in sorted(by_value.items())]


def expand(groups: List[dict]) -> Dict[str, dict]:
    """Inverse of :func:`compact`."""
    return {n: g['settings'] for g in groups for n in g['names']}


def load_pins(path: str = PIN_FILE) -> Dict[str, List[dict]]:
    with gzip.open(path, 'rt') as f:
        return json.load(f)['configs']


def compare(expected: Dict[str, dict], actual: Dict[str, dict],
            rel: float = 1e-12) -> List[str]:
    """Differences between two ``param_settings`` results (empty: equal)."""
    problems = []
    for name in sorted(set(expected) - set(actual)):
        problems.append(f'{name}: pinned but no longer optimized')
    for name in sorted(set(actual) - set(expected)):
        problems.append(f'{name}: optimized but not pinned')
    for name in sorted(set(expected) & set(actual)):
        exp, act = expected[name], actual[name]
        if set(exp) != set(act):
            problems.append(f'{name}: keys {sorted(act)} != pinned '
                            f'{sorted(exp)}')
            continue
        for key, value in exp.items():
            if abs(act[key] - value) > rel * max(abs(value), abs(act[key])):
                problems.append(f'{name}: {key} {act[key]!r} != pinned '
                                f'{value!r}')
    return problems


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=PIN_FILE)
    parser.add_argument('--check', action='store_true',
                        help='compare with --out instead of writing it')
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    configs = pinned_configs()
    if args.check:
        pins = load_pins(args.out)
        bad = 0
        for config, groups in pins.items():
            problems = compare(expand(groups), param_settings(config))
            print(f'{config}: {"ok" if not problems else problems[:5]}')
            bad += bool(problems)
        return 1 if bad else 0
    result = {}
    for config in configs:
        result[config] = compact(param_settings(config))
        print(f'{config}: {sum(len(g["names"]) for g in result[config])} '
              f'parameters, {len(result[config])} distinct settings')
    from mmrevcol.utils.io import atomic_write
    payload = json.dumps(dict(configs=result), sort_keys=True,
                         separators=(',', ':')).encode()
    atomic_write(args.out, lambda f: f.write(gzip.compress(payload, mtime=0)))
    print(f'wrote {args.out} ({osp.getsize(args.out)} bytes)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
