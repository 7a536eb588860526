"""Train and test entry points shared by ``tools/train.py``/``tools/test.py``.

Every function works for mmdet, mmseg, mmpretrain and plain mmengine configs:
the config's ``default_scope`` picks the registries and
:class:`mmengine.runner.Runner` (or the config's ``runner_type``) runs it.
The ``build_*_config`` functions only edit a copy of the config, so they can
be checked without training anything.
"""
import argparse
import copy
import json
import os
import os.path as osp
from numbers import Number
from typing import Any, Dict, Optional, Sequence, Union

from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.fileio import dump
from mmengine.logging import print_log

#: Launchers accepted by :class:`mmengine.runner.Runner`.
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def error_message(err: BaseException) -> str:
    """The message of ``err`` (a ``KeyError``'s without the quotes)."""
    if isinstance(err, KeyError) and len(err.args) == 1:
        return str(err.args[0])
    return str(err)


def run_tool_step(parser, step, *args, **kwargs):
    """Run ``step(*args, **kwargs)`` for tools/train.py and tools/test.py:
    a checkpoint the run loads once the runner is built (``load_from``,
    ``--resume``, ``init_cfg=dict(type='Pretrained')``) that cannot be used
    ends the tool with its one-line error (exit status 2, as a usage error)
    instead of a traceback; everything else propagates. A process group the
    launched tool initialised is destroyed when the step ends."""
    from mmrevcol.engine.checkpoint_compat import CheckpointFileError
    from mmrevcol.models.checkpoint import CheckpointKeyError
    try:
        return step(*args, **kwargs)
    except (CheckpointFileError, CheckpointKeyError) as err:
        parser.exit(2, f'{parser.prog}: error: {error_message(err)}\n')
    finally:
        _destroy_process_group()


def _destroy_process_group() -> None:
    """Destroy the default process group a launched tool initialised, then
    free what the finished step left in reference cycles (the runner, its
    DDP wrapper, the reducer and its last gloo work objects) while the
    interpreter is still alive.

    Left to interpreter shutdown, their C++ destructors drop Python
    references while the GIL is being torn down and can abort a rank that
    finished its work (``terminate called without an active exception``,
    exit code -6: pytorch/pytorch#190489, #179291), which torchrun then
    reports as a failed run. Destroying the group alone was not enough:
    3 of 6 two-process toy runs (tools/dist_train.sh, gloo) still aborted;
    with the collection, 0 of 34 (half of them two loops side by side)."""
    import gc

    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        gc.collect()


def add_launcher_args(parser) -> None:
    """``--launcher`` and ``--local_rank``/``--local-rank`` (what
    ``torch.distributed.launch`` passes; torchrun sets ``LOCAL_RANK``), for
    tools/train.py and tools/test.py."""
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def int_at_least(minimum: int):
    """An argparse ``type``: an int ``>= minimum``; anything else fails with
    the option's name, the value and the allowed range.

    Args:
        minimum (int): The smallest allowed value.
    """

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise argparse.ArgumentTypeError(
                f'must be an int >= {minimum}, got {value!r}')
        return number

    parse.__name__ = f'int >= {minimum}'
    return parse


def float_in(low: float, high: float, high_inclusive: bool = False):
    """An argparse ``type``: a float in ``[low, high)`` (``[low, high]``
    with ``high_inclusive``).

    Args:
        low (float): The smallest allowed value.
        high (float): The upper bound.
        high_inclusive (bool): Whether ``high`` itself is allowed.
    """
    bracket = ']' if high_inclusive else ')'

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or not (low <= number and (
                number <= high if high_inclusive else number < high)):
            raise argparse.ArgumentTypeError(
                f'must be a number in [{low:g}, {high:g}{bracket}, got '
                f'{value!r}')
        return number

    parse.__name__ = f'number in [{low:g}, {high:g}{bracket}'
    return parse


def parse_tool_args(parser, argv=None):
    """Parse, exporting ``LOCAL_RANK`` from ``--local_rank`` when the
    launcher did not set it (as the OpenMMLab tools do).

    Returns:
        tuple: ``(parser, args)``.
    """
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return parser, args


#: Extensions :class:`mmengine.evaluator.DumpResults` accepts for ``out``.
PICKLE_EXTENSIONS = ('.pkl', '.pickle')

#: How ``show_dir`` switches each library's visualization hook on:
#: ``hook type -> (flag to set True, hook key for the directory or None)``.
#: ``SegVisualizationHook`` has no directory argument; its images go to the
#: visualizer's ``save_dir`` instead.
VISUALIZATION_HOOKS = {
    'DetVisualizationHook': ('draw', 'test_out_dir'),  # mmdet
    'SegVisualizationHook': ('draw', None),  # mmseg
    'VisualizationHook': ('enable', 'out_dir'),  # mmpretrain
}

ConfigLike = Union[str, Config]

#: Runners :func:`build_runner` built in this process.
_RUNNERS_BUILT = 0


def _is_local(path: str) -> bool:
    """Whether ``path`` names a local file (not ``s3://``, ``http://`` ...)."""
    return '://' not in path


def load_config(config: ConfigLike) -> Config:
    """Read a config file, or copy a :class:`Config` object.

    Args:
        config (str | Config): Path of a config file, or a config object,
            which is deep-copied so the caller's object is never changed.

    Returns:
        Config: a config the caller may edit.
    """
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if not isinstance(config, (str, os.PathLike)):
        raise TypeError(f'config must be a path or an mmengine Config, but '
                        f'got {type(config).__name__}: {config!r}')
    config = os.fspath(config)
    if not osp.isfile(config):
        raise FileNotFoundError(
            f'config file {config!r} does not exist (argument: config)')
    return Config.fromfile(config)


def default_work_dir(cfg: Config) -> str:
    """Return ``./work_dirs/<config file stem>``.

    Args:
        cfg (Config): A config read from a file.
    """
    if not cfg.filename:
        raise ValueError(
            'the config was not read from a file, so no default work dir '
            '(./work_dirs/<config stem>) can be derived: pass work_dir or set '
            'work_dir in the config')
    stem = osp.splitext(osp.basename(cfg.filename))[0]
    return osp.join('./work_dirs', stem)


def _apply_common(cfg: Config, work_dir: Optional[str],
                  cfg_options: Optional[Dict[str,
                                             Any]], launcher: str) -> Config:
    """Apply the options both tools share, in the order the tools document:
    ``cfg_options`` first, then the command-line ``work_dir``, which wins
    over ``work_dir`` in the config, which wins over the default."""
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {", ".join(LAUNCHERS)}, '
                         f'but got {launcher!r}')
    if cfg_options is not None:
        if not isinstance(cfg_options, dict):
            raise TypeError(f'cfg_options must be a dict of dotted keys to '
                            f'values, but got {type(cfg_options).__name__}: '
                            f'{cfg_options!r}')
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(cfg)
    return cfg


def build_train_config(config: ConfigLike,
                       work_dir: Optional[str] = None,
                       resume: Optional[str] = None,
                       amp: bool = False,
                       cfg_options: Optional[Dict[str, Any]] = None,
                       launcher: str = 'none') -> Config:
    """Return the config :func:`train` runs, with the options applied.

    Args:
        config (str | Config): Config file path or config object (copied).
        work_dir (str, optional): Directory for logs and checkpoints; wins
            over ``work_dir`` in the config. Defaults to the config's
            ``work_dir``, else ``./work_dirs/<config stem>``.
        resume (str, optional): ``None`` to start fresh, ``'auto'`` to resume
            from the latest checkpoint in the work dir (a fresh start when
            there is none), or a checkpoint path to resume from. Defaults to
            None.
        amp (bool): Train with automatic mixed precision
            (``AmpOptimWrapper``, dynamic loss scale). Defaults to False.
        cfg_options (dict, optional): ``{'dotted.key': value}`` merged into
            the config before everything else. Defaults to None.
        launcher (str): One of :data:`LAUNCHERS`. Defaults to ``'none'``.

    Returns:
        Config: the edited copy.
    """
    cfg = load_config(config)
    cfg = _apply_common(cfg, work_dir, cfg_options, launcher)

    if amp:
        optim_wrapper = cfg.get('optim_wrapper', None)
        if optim_wrapper is None:
            raise ValueError('amp=True needs an optim_wrapper in the config, '
                             'but the config has none')
        if optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print_log(
                'AMP is already enabled by the config '
                '(optim_wrapper.type=AmpOptimWrapper); amp=True changes '
                'nothing',
                logger='current')
        else:
            optim_wrapper.type = 'AmpOptimWrapper'
            optim_wrapper.loss_scale = 'dynamic'

    if resume is not None:
        if not isinstance(resume, str) or not resume:
            raise ValueError(f"resume must be None, 'auto' or a checkpoint "
                             f'path, but got {resume!r}')
        cfg.resume = True
        if resume == 'auto':
            # mmengine looks for the latest checkpoint in work_dir when
            # resume is True and load_from is None.
            cfg.load_from = None
        else:
            if _is_local(resume) and not osp.exists(resume):
                raise FileNotFoundError(
                    f"resume checkpoint {resume!r} does not exist (argument: "
                    f"resume; use 'auto' for the latest checkpoint in the "
                    f'work dir)')
            cfg.load_from = resume
    _check_checkpoint_arg(cfg.get('load_from', None),
                          'resume checkpoint (--resume)' if resume else
                          'load_from checkpoint')
    return cfg


def _check_checkpoint_arg(path: Optional[str], what: str) -> None:
    """Refuse a local checkpoint that is missing, empty, truncated or not a
    PyTorch file before the runner is built (see
    :func:`mmrevcol.engine.checkpoint_compat.check_checkpoint_file`)."""
    if isinstance(path, str) and path and _is_local(path):
        from mmrevcol.engine.checkpoint_compat import check_checkpoint_file
        check_checkpoint_file(path, what)


def enable_visualization(cfg: Config, show_dir: str) -> Config:
    """Switch the config's visualization hook on and point it at a directory.

    Args:
        cfg (Config): Config with ``default_hooks.visualization`` of a type
            in :data:`VISUALIZATION_HOOKS`; edited in place.
        show_dir (str): Directory for the drawn images. mmdet and mmpretrain
            hooks join a relative path onto ``<work_dir>/<timestamp>``
            (mmdet) or use it as given (mmpretrain); mmseg images go to the
            visualizer's ``save_dir``.

    Returns:
        Config: ``cfg``.
    """
    hook = cfg.get('default_hooks', {}).get('visualization', None)
    if hook is None:
        raise ValueError('show_dir needs default_hooks.visualization in the '
                         'config (a ' + ', '.join(VISUALIZATION_HOOKS) +
                         '), but the config has none')
    hook_type = hook.get('type', None)
    if isinstance(hook_type, type):
        hook_type = hook_type.__name__
    elif isinstance(hook_type, str):
        hook_type = hook_type.split('.')[-1]  # 'mmdet.DetVisualizationHook'
    if hook_type not in VISUALIZATION_HOOKS:
        raise ValueError(
            f'show_dir supports default_hooks.visualization of type '
            f'{", ".join(VISUALIZATION_HOOKS)}, but the config has '
            f'{hook_type!r}')
    flag, dir_key = VISUALIZATION_HOOKS[hook_type]
    hook[flag] = True
    if dir_key is not None:
        hook[dir_key] = show_dir
    else:
        visualizer = cfg.get('visualizer', None)
        if visualizer is None:
            raise ValueError(f'show_dir with {hook_type} needs a visualizer '
                             f'in the config to receive save_dir, but the '
                             f'config has none')
        visualizer['save_dir'] = show_dir
    return cfg


def build_test_config(config: ConfigLike,
                      checkpoint: str,
                      work_dir: Optional[str] = None,
                      out: Optional[str] = None,
                      show_dir: Optional[str] = None,
                      cfg_options: Optional[Dict[str, Any]] = None,
                      launcher: str = 'none',
                      tta: bool = False) -> Config:
    """Return the config :func:`test` runs, with the options applied.

    Args:
        config (str | Config): Config file path or config object (copied).
        checkpoint (str): Checkpoint whose weights are tested.
        work_dir (str, optional): Directory for logs; wins over ``work_dir``
            in the config. Defaults to the config's ``work_dir``, else
            ``./work_dirs/<config stem>``.
        out (str, optional): Only checked here (extension ``.pkl``/``.pickle``
            and not the config or checkpoint file); :func:`test` dumps the
            predictions there. Defaults to None.
        show_dir (str, optional): Draw predictions into this directory, see
            :func:`enable_visualization`. Defaults to None.
        cfg_options (dict, optional): ``{'dotted.key': value}`` merged into
            the config before everything else. Defaults to None.
        launcher (str): One of :data:`LAUNCHERS`. Defaults to ``'none'``.
        tta (bool): Test-time augmentation, the stock OpenMMLab switch (the
            multi-scale + flip "ms" results of the papers with the mmseg
            bases): the test dataset runs ``cfg.tta_pipeline`` and the model
            becomes ``cfg.tta_model`` wrapping ``cfg.model`` (mmseg's
            ``SegTTAModel`` from its ``default_runtime``). Both must be in
            the config. Defaults to False.

    Returns:
        Config: the edited copy.
    """
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ValueError(f'checkpoint must be a path, but got {checkpoint!r}')
    if _is_local(checkpoint) and not osp.exists(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist '
                                f'(argument: checkpoint)')
    _check_checkpoint_arg(checkpoint, 'checkpoint (argument: checkpoint)')
    cfg = load_config(config)
    cfg = _apply_common(cfg, work_dir, cfg_options, launcher)
    missing = [
        key for key in ('test_dataloader', 'test_evaluator', 'test_cfg')
        if cfg.get(key, None) is None
    ]
    if missing:
        raise ValueError(f'testing needs {", ".join(missing)} in the config, '
                         f'but {cfg.filename or "the config"} has none')
    if out is not None:
        check_out_path(out, protected=[checkpoint, cfg.filename])
    cfg.load_from = checkpoint
    if show_dir is not None:
        enable_visualization(cfg, show_dir)
    if tta:
        enable_tta(cfg)
    return cfg


def enable_tta(cfg: Config) -> Config:
    """Switch a test config to test-time augmentation, in place.

    What the OpenMMLab ``tools/test.py --tta`` do: the innermost test dataset
    (below any dataset wrappers) gets ``cfg.tta_pipeline``, and
    ``cfg.model`` becomes ``cfg.tta_model`` with the original model as its
    ``module``.

    Args:
        cfg (Config): Config with ``tta_model`` and ``tta_pipeline``.

    Returns:
        Config: ``cfg``.
    """
    missing = [
        key for key in ('tta_model', 'tta_pipeline')
        if cfg.get(key, None) is None
    ]
    if missing:
        raise ValueError(
            f'tta needs {" and ".join(missing)} in the config, but '
            f'{cfg.filename or "the config"} has none (the mmseg bases define '
            f'them: tta_model in mmseg::_base_/default_runtime.py, '
            f'tta_pipeline in the mmseg::_base_/datasets/ configs)')
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # wrappers such as RepeatDataset
        dataset = dataset['dataset']
    dataset.pipeline = copy.deepcopy(cfg.tta_pipeline)
    tta_model = copy.deepcopy(cfg.tta_model)
    tta_model.module = cfg.model
    cfg.model = tta_model
    return cfg


def check_out_path(out: str, protected: Sequence[Optional[str]] = ()) -> str:
    """Check the ``out`` argument of :func:`test`.

    Args:
        out (str): Pickle file for the predictions.
        protected (Sequence[str]): Input files ``out`` must not be (so a run
            never overwrites its own config or checkpoint).

    Returns:
        str: ``out``.
    """
    if not isinstance(out, str) or not out.endswith(PICKLE_EXTENSIONS):
        raise ValueError(f'out must be a file ending in '
                         f'{" or ".join(PICKLE_EXTENSIONS)}, but got {out!r}')
    for path in protected:
        if path and _is_local(path) and osp.exists(path) and osp.exists(out) \
                and osp.samefile(path, out):
            raise ValueError(f'out {out!r} is an input of this run ({path}); '
                             f'refusing to overwrite it')
    return out


#: Dataset type name part -> ``make_toy_data.py`` kind, for the hints of
#: :func:`check_data_roots`.
_TOY_KINDS = (('ade', 'ade20k'), ('coco', 'coco'), ('imagenet', 'imagenet'))


def _datasets_of(dataset: Any, key: str):
    """``(config key, dataset dict)`` of a dataset config and the datasets
    inside its wrappers (``dataset`` / ``datasets`` keys)."""
    if not isinstance(dataset, dict):
        return
    yield key, dataset
    if isinstance(dataset.get('dataset'), dict):
        yield from _datasets_of(dataset['dataset'], f'{key}.dataset')
    for k, inner in enumerate(dataset.get('datasets', None) or []):
        yield from _datasets_of(inner, f'{key}.datasets.{k}')


def check_data_roots(cfg: Config,
                     loaders: Sequence[str] = ('train_dataloader', )) -> None:
    """Fail before the runner builds a dataset whose folder or files are
    missing or empty, naming the config key, the path and how to get it.

    Checks ``data_root`` (must be a non-empty folder), and each path of
    ``data_prefix`` and ``ann_file`` (joined onto ``data_root`` when
    relative; folders must not be empty) of every dataset of ``loaders``,
    wrappers included. Remote paths (``s3://`` ...) and datasets given as
    objects are not checked.

    Args:
        cfg (Config): The complete config.
        loaders (Sequence[str]): Dataloader keys to check. Defaults to
            ``('train_dataloader', )``.

    Raises:
        FileNotFoundError: a path is missing or an empty folder.
    """
    for loader in loaders:
        loader_cfg = cfg.get(loader, None)
        if not isinstance(loader_cfg, dict):
            continue
        for key, ds in _datasets_of(loader_cfg.get('dataset'),
                                    f'{loader}.dataset'):
            root = ds.get('data_root', None)
            if not isinstance(root, str) or not root or not _is_local(root):
                root = None
            paths = []
            if root is not None:
                paths.append((f'{key}.data_root', root, True))
            prefix = ds.get('data_prefix', None)
            prefixes = (prefix.items() if isinstance(prefix, dict) else
                        [(None, prefix)])
            for name, value in prefixes:
                if isinstance(value, str) and value and _is_local(value):
                    sub = f'{key}.data_prefix' + (f'.{name}' if name else '')
                    paths.append((sub, osp.join(root or '', value), True))
            ann = ds.get('ann_file', None)
            if isinstance(ann, str) and ann and _is_local(ann):
                paths.append((f'{key}.ann_file', osp.join(root or '', ann),
                              False))
            for config_key, path, folder in paths:
                problem = None
                if not osp.exists(path):
                    problem = 'does not exist'
                elif folder and osp.isdir(path) and not os.listdir(path):
                    problem = 'is an empty folder'
                if problem is None:
                    continue
                kind = next((k for part, k in _TOY_KINDS
                             if part in str(ds.get('type', '')).lower()),
                            None)
                toy = (f'; for a toy dataset in that layout: python '
                       f'tools/dataset_converters/make_toy_data.py {kind} '
                       f'{root or path}' if kind else '')
                raise FileNotFoundError(
                    f'{config_key}: {path!r} {problem} (dataset '
                    f'{ds.get("type", "?")} of {cfg.filename or "the config"}'
                    f'). Put the dataset there in its real layout, or point '
                    f'the config at it with --cfg-options '
                    f'{key}.data_root=DIR{toy}')


class AtomicDumpResults(DumpResults):
    """:class:`mmengine.evaluator.DumpResults` that writes atomically.

    The predictions are dumped to a temporary file in the target folder and
    moved onto ``out_file_path`` with :func:`os.replace`, so an interrupted
    run never leaves a truncated pickle behind.

    Args:
        out_file_path (str): Pickle file; ends with ``.pkl`` or ``.pickle``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results of all
            ranks are gathered. Defaults to ``'cpu'``.
        collect_dir (str, optional): Folder for gathering on ``'cpu'``.
            Defaults to None.
    """

    def compute_metrics(self, results: list) -> dict:
        """Dump ``results`` to :attr:`out_file_path`; no metrics."""
        from mmrevcol.utils.io import atomic_write
        atomic_write(self.out_file_path,
                     lambda f: dump(results, f, file_format='pkl'))
        print_log(
            f'{len(results)} predictions saved to {self.out_file_path}',
            logger='current')
        return {}


#: Model wrappers :func:`prepare_cpu_distributed` gives ``device_ids=None``.
DDP_WRAPPERS = ('MMDistributedDataParallel', 'DistributedDataParallel')


def prepare_cpu_distributed(cfg: Config) -> Config:
    """Let a ``launcher='pytorch'`` run train on a machine without CUDA.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` before it
    creates the process group, which fails without a GPU (a group that
    already exists is used as it is), and it wraps the model with
    ``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU model. So on
    CPU this creates the process group from the ``torchrun`` environment
    (``env://``) with the config's ``env_cfg.dist_cfg`` (``backend='gloo'``
    required; ``timeout`` in seconds) and returns a copy of ``cfg`` whose
    DDP ``model_wrapper_cfg`` has ``device_ids=None``. Anything else
    (another launcher, CUDA present, a group already initialised) is left
    to mmengine.

    Args:
        cfg (Config): The run's config; not changed.

    Returns:
        Config: ``cfg``, or the edited copy.
    """
    import datetime

    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') != 'pytorch' or \
            torch.cuda.is_available() or not dist.is_available() or \
            dist.is_initialized():
        return cfg
    dist_cfg = dict((cfg.get('env_cfg', None) or {}).get('dist_cfg', None)
                    or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        raise ValueError(
            f"launcher='pytorch' on a machine without CUDA needs "
            f"env_cfg.dist_cfg.backend='gloo', but the config has "
            f"{backend!r} (e.g. --cfg-options env_cfg.dist_cfg.backend=gloo)")
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(backend='gloo', **dist_cfg)
    cfg = copy.deepcopy(cfg)
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:  # what mmengine builds without one, minus device_ids
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
            device_ids=None)
    else:
        wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
        name = wrapper_type.__name__ if isinstance(wrapper_type, type) \
            else str(wrapper_type).split('.')[-1]
        if name in DDP_WRAPPERS:
            wrapper.setdefault('device_ids', None)
    return cfg


def build_runner(cfg: Config):
    """Build the runner a config asks for.

    :meth:`mmengine.runner.Runner.from_cfg`, or the registered
    ``cfg.runner_type``. From the second runner built in a process on,
    ``experiment_name`` gets a ``_run<N>`` suffix (on a copy of ``cfg``) so
    that runners built within one second do not share mmengine's named
    instances (default scope, logger, message hub, visualizer). Also
    calls :func:`mmrevcol.engine.enable_safe_checkpoint_loading`: mmengine
    reads local checkpoints (``resume``, ``load_from``) weights-only, with
    the types of mmengine checkpoints allowed, on every torch version.

    Args:
        cfg (Config): A complete config (e.g. from :func:`build_train_config`).

    Returns:
        mmengine.runner.Runner: the runner.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from mmrevcol.engine.checkpoint_compat import \
        enable_safe_checkpoint_loading
    enable_safe_checkpoint_loading()
    cfg = prepare_cpu_distributed(cfg)
    global _RUNNERS_BUILT
    _RUNNERS_BUILT += 1
    if _RUNNERS_BUILT > 1:
        # mmengine names the default scope, logger, message hub and
        # visualizer of a run '<experiment_name>_<timestamp in seconds>' and
        # reuses existing instances of that name, so a second runner built in
        # this process within the same second would inherit the first one's
        # scope, log file and message hub. Give it a name of its own (every
        # rank counts the same, so the names agree across ranks).
        cfg = copy.deepcopy(cfg)
        base = cfg.get('experiment_name', None)
        if base is None:
            base = (
                osp.splitext(osp.basename(cfg.filename))[0]
                if cfg.filename else 'run')
        cfg.experiment_name = f'{base}_run{_RUNNERS_BUILT}'
        if isinstance(cfg.get('visualizer'), dict):
            # the stock configs name their visualizer 'visualizer', and
            # mmengine returns an existing instance of that name (with the
            # first run's save_dir): give this run's its own name
            cfg.visualizer['name'] = cfg.experiment_name
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def run_train(cfg: Config):
    """Build the runner of a config and train.

    Args:
        cfg (Config): A config from :func:`build_train_config`.

    Returns:
        mmengine.runner.Runner: the runner after training.
    """
    from mmrevcol.engine.hooks import (NonFiniteGuardHook,
                                       PretrainedWeightsCheckHook,
                                       RngStateHook)
    from mmrevcol.engine.hooks.kill import KILL_ENV, KillAfterCheckpointHook
    from mmrevcol.engine.hooks.rng_state import use_resumed_seed

    # a resumed run builds its sampler and data workers with the seed of the
    # run it continues (mmengine switches seeds only after building them)
    cfg = use_resumed_seed(cfg)
    check_data_roots(cfg, ('train_dataloader', ) + (
        ('val_dataloader', ) if cfg.get('val_cfg', None) is not None else ()))
    runner = build_runner(cfg)
    # the random state of every rank in each checkpoint, restored on resume
    if not any(isinstance(h, RngStateHook) for h in runner.hooks):
        runner.register_hook(RngStateHook())
    if os.environ.get(KILL_ENV):  # pre-emption drill (tests, users)
        runner.register_hook(KillAfterCheckpointHook.from_env())
    # stop before the first iteration if a Pretrained init_cfg got no
    # checkpoint and neither load_from nor resume brought weights
    runner.register_hook(PretrainedWeightsCheckHook())
    # stop at the first NaN/Inf loss or gradient (unless the config has
    # its own NonFiniteGuardHook in custom_hooks)
    if not any(isinstance(h, NonFiniteGuardHook) for h in runner.hooks):
        runner.register_hook(NonFiniteGuardHook())
    runner.train()
    return runner


def run_test(cfg: Config, out: Optional[str] = None) -> Dict[str, Any]:
    """Build the runner of a config and test.

    Args:
        cfg (Config): A config from :func:`build_test_config`.
        out (str, optional): Pickle the predictions (a list, one entry per
            test sample) to this ``.pkl``/``.pickle`` file, atomically.
            Defaults to None.

    Returns:
        dict: the metrics of the test evaluator.
    """
    if out is not None:
        check_out_path(out, protected=[cfg.get('load_from'), cfg.filename])
    check_data_roots(cfg, ('test_dataloader', ))
    runner = build_runner(cfg)
    if out is not None:
        runner.test_evaluator.metrics.append(
            AtomicDumpResults(out_file_path=out))
    return runner.test()


def train(config: ConfigLike,
          work_dir: Optional[str] = None,
          resume: Optional[str] = None,
          amp: bool = False,
          cfg_options: Optional[Dict[str, Any]] = None,
          launcher: str = 'none'):
    """Train a model from a config.

    Args:
        config (str | Config): Config file path or config object (copied).
        work_dir (str, optional): See :func:`build_train_config`.
        resume (str, optional): ``None``, ``'auto'`` or a checkpoint path;
            see :func:`build_train_config`.
        amp (bool): Automatic mixed precision. Defaults to False.
        cfg_options (dict, optional): Dotted-key overrides. Defaults to None.
        launcher (str): One of :data:`LAUNCHERS`. Defaults to ``'none'``.

    Returns:
        mmengine.runner.Runner: the runner after training (``runner.iter``,
        ``runner.epoch``, ``runner.model``, ``runner.work_dir`` ...).
    """
    cfg = build_train_config(config, work_dir, resume, amp, cfg_options,
                             launcher)
    return run_train(cfg)


def test(config: ConfigLike,
         checkpoint: str,
         work_dir: Optional[str] = None,
         out: Optional[str] = None,
         show_dir: Optional[str] = None,
         cfg_options: Optional[Dict[str, Any]] = None,
         launcher: str = 'none') -> Dict[str, Any]:
    """Evaluate a checkpoint on the config's test set.

    Args:
        config (str | Config): Config file path or config object (copied).
        checkpoint (str): Checkpoint to test.
        work_dir (str, optional): See :func:`build_test_config`.
        out (str, optional): Pickle the predictions (a list, one entry per
            test sample) to this ``.pkl``/``.pickle`` file. Defaults to None.
        show_dir (str, optional): Draw predictions into this directory.
            Defaults to None.
        cfg_options (dict, optional): Dotted-key overrides. Defaults to None.
        launcher (str): One of :data:`LAUNCHERS`. Defaults to ``'none'``.

    Returns:
        dict: the metrics of the test evaluator.
    """
    cfg = build_test_config(config, checkpoint, work_dir, out, show_dir,
                            cfg_options, launcher)
    return run_test(cfg, out=out)


def metrics_to_json(metrics: Dict[str, Any]) -> str:
    """Return ``metrics`` as one JSON line (numpy/torch scalars as numbers).

    Args:
        metrics (dict): Metrics returned by :func:`test`.
    """

    def _plain(value):
        if hasattr(value, 'tolist'):  # numpy arrays/scalars, tensors
            return value.tolist()
        if isinstance(value, Number):
            return float(value)
        return str(value)

    return json.dumps(metrics, default=_plain, sort_keys=True)


def build_model(cfg: Config, device: str = 'cpu'):
    """Build ``cfg.model`` in the config's default scope.

    What the runner does with ``cfg.model`` (a top-level
    ``data_preprocessor`` included), without a runner.

    Args:
        cfg (mmengine.Config): A loaded config (see :func:`load_config`).
        device (str): ``'cpu'``, or ``'meta'`` to build without allocating
            or initialising weights (enough to count parameters).

    Returns:
        nn.Module: the model, in eval mode, weights not initialised from
        ``init_cfg``.
    """
    from mmengine.registry import MODELS, DefaultScope

    import mmrevcol  # noqa: F401  (registers the mmrevcol modules)
    from mmrevcol.utils.compat import default_device
    if device not in ('cpu', 'meta'):
        raise ValueError(f"device must be 'cpu' or 'meta', got {device!r}")
    model_cfg = copy.deepcopy(cfg.model)
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        # what mmengine's Runner does with a top-level data_preprocessor
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        with default_device(device):
            model = MODELS.build(model_cfg)
    return model.eval()


def count_parameters(model) -> int:
    """Number of (unique) parameters of a model."""
    return sum(p.numel() for p in model.parameters())
