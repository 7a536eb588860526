"""Make a resumed run the run the user started: save the random state that
training consumes in every checkpoint and put it back on resume.

What decides the rest of a run after checkpoint ``K``, and who restores it:

* weights, optimizer, parameter schedulers, message hub, EMA weights:
  mmengine's ``Runner.resume`` (and the hooks' own checkpoint keys);
* the sample order and the data workers' random streams: mmengine replays
  the data stream on resume (``IterBasedTrainLoop`` draws the ``K`` finished
  batches again; ``EpochBasedTrainLoop`` re-seeds each epoch's sampler with
  ``seed + epoch``). Both depend on the run's seed, which the sampler and the
  worker init function receive when the train loop is built, *before*
  mmengine reads the checkpoint: :func:`use_resumed_seed` gives the resumed
  run the checkpoint's seed from the start (``tools/train.py`` calls it);
* the random state of each training process (Python ``random``, numpy's
  global generator, torch's CPU generator and the current CUDA device's
  generator), consumed by drop path, mixup/cutmix, MIM masking, the
  DataLoader's per-iterator base seed and, with ``num_workers=0``, the data
  pipeline itself: :class:`RngStateHook`, which stores it under
  ``checkpoint['rng_states']`` and restores it right before the first batch
  of the resumed run is drawn (after mmengine's replay, which with
  ``num_workers=0`` consumes the main process's random state again).

Validation runs between a checkpoint and the next batch in the uninterrupted
run but not in the resumed one, so :class:`RngStateHook` also runs every
validation on a copy of the random state (it is put back afterwards):
validating never changes the training stream.
"""
import random
import time
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from ...registry import register_everywhere

#: Top-level checkpoint key under which :class:`RngStateHook` stores the
#: per-rank random states.
CHECKPOINT_KEY = 'rng_states'

#: Version of the stored format.
FORMAT_VERSION = 1


def get_rng_state() -> Dict[str, Any]:
    """Return this process's random state as plain values.

    Everything is a tensor, a tuple/list of Python ints, a float, a string or
    ``None``, so that ``torch.load(weights_only=True)`` (and
    :func:`mmrevcol.engine.enable_safe_checkpoint_loading`) reads it.

    Returns:
        dict: ``python`` (``random.getstate()``), ``numpy``
        (``np.random.get_state()`` with the key as a list), ``torch``
        (``torch.get_rng_state()``) and ``cuda`` (the current CUDA device's
        generator state, ``None`` when CUDA is not initialised).
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state()
    return dict(
        python=random.getstate(),
        numpy=(str(name), [int(k) for k in keys], int(pos), int(has_gauss),
               float(cached)),
        torch=torch.get_rng_state(),
        cuda=cuda)


def set_rng_state(state: Dict[str, Any]) -> None:
    """Put back a state returned by :func:`get_rng_state`.

    Args:
        state (dict): As returned by :func:`get_rng_state` (tensors may have
            been loaded onto another device; lists may stand for tuples).
    """
    missing = {'python', 'numpy', 'torch'} - set(state)
    if missing:
        raise ValueError(f'state must hold the keys python, numpy, torch '
                         f'(and cuda), but {sorted(missing)} are missing')
    version, internal, gauss = state['python']
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos),
                         int(has_gauss), float(cached)))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda.cpu())


def _checkpoint_path_to_resume(cfg: Config) -> Optional[str]:
    """The local checkpoint mmengine's ``load_or_resume`` will resume from,
    or ``None``."""
    import os.path as osp

    from mmengine.runner import find_latest_checkpoint
    if not cfg.get('resume', False):
        return None
    path = cfg.get('load_from', None)
    if path is None:
        work_dir = cfg.get('work_dir', None)
        if work_dir is None or not osp.isdir(work_dir):
            return None
        path = find_latest_checkpoint(work_dir)
    if path is None or '://' in path or not osp.isfile(path):
        return None
    return path


def use_resumed_seed(cfg: Config) -> Config:
    """Give a resumed run the seed of the run it continues, from the start.

    mmengine builds the train dataloader (sampler seed, worker seeds) with
    the runner's seed before it reads the checkpoint, and only afterwards
    switches the runner to the checkpoint's seed. A config without
    ``randomness.seed`` draws a new seed in every process start, so the
    resumed run would see another sample order. This reads ``meta.seed``
    from the checkpoint mmengine will resume from (``load_from``, or the
    latest one in ``work_dir`` for ``resume='auto'``; read weights-only, see
    :func:`mmrevcol.engine.checkpoint_compat.load_mmengine_checkpoint`) and
    sets ``cfg.randomness.seed`` to it. A config seed that differs from the
    checkpoint's is replaced too (mmengine would switch to the checkpoint's
    seed anyway, after building the sampler), with a warning.

    Args:
        cfg (Config): A train config (``resume``, ``load_from``,
            ``work_dir`` as :func:`mmrevcol.apis.build_train_config` sets
            them). Not changed.

    Returns:
        Config: ``cfg`` itself when there is nothing to change, else a copy
        with ``randomness.seed`` set.
    """
    import copy

    from ..checkpoint_compat import load_mmengine_checkpoint
    path = _checkpoint_path_to_resume(cfg)
    if path is None:
        return cfg
    checkpoint = load_mmengine_checkpoint(path, map_location='cpu')
    seed = checkpoint.get('meta', {}).get('seed', None)
    del checkpoint
    if seed is None:
        return cfg
    randomness = dict(cfg.get('randomness', None) or {})
    current = randomness.get('seed', None)
    if current == seed:
        return cfg
    if current is not None:
        print_log(
            f'randomness.seed={current} of the config differs from the seed '
            f'{seed} of the resumed checkpoint {path}; the resumed run uses '
            f'{seed}, the seed the run was started with',
            logger='current', level=30)
    cfg = copy.deepcopy(cfg)
    randomness['seed'] = seed
    cfg.randomness = randomness
    return cfg


def _checkpoint_due(runner, hook: CheckpointHook, by_epoch: bool) -> bool:
    """Whether ``hook`` saves a checkpoint at the current
    ``after_train_iter`` (``by_epoch=False``) or ``after_train_epoch``
    (``by_epoch=True``); the conditions of mmengine's ``CheckpointHook``."""
    if hook.by_epoch != by_epoch:
        return False
    if by_epoch:
        return bool(
            hook.every_n_epochs(runner, hook.interval, hook.save_begin)
            or (hook.save_last and hook.is_last_train_epoch(runner)))
    return bool(
        hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
        or (hook.save_last and hook.is_last_train_iter(runner)))


class _RestoreBeforeDraw:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` on resume:
    passes the ``replay`` draws mmengine makes to skip the finished batches
    through, then restores ``state`` right before the first new batch is
    drawn, and puts the loop's own iterator back."""

    def __init__(self, loop, replay: int, state: Dict[str, Any]) -> None:
        self._loop = loop
        self._iterator = loop.dataloader_iterator
        self._remaining = replay
        self._replay = replay
        self._state = state
        self._start: Optional[float] = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._remaining > 0:
            if self._start is None:
                self._start = time.perf_counter()
            self._remaining -= 1
            return next(self._iterator)
        if self._start is not None:
            print_log(
                f'replayed {self._replay} batches in '
                f'{time.perf_counter() - self._start:.1f} s to restore the '
                f'data stream', logger='current')
        set_rng_state(self._state)
        self._loop.dataloader_iterator = self._iterator
        print_log('restored the random state of the resumed checkpoint',
                  logger='current')
        return next(self._iterator)


@register_everywhere('HOOKS')
class RngStateHook(Hook):
    """Save the training processes' random state in every checkpoint and
    restore it on resume, so that a killed-and-resumed run continues with
    the random numbers of the uninterrupted one (see the module docstring for
    the rest of what a resume restores).

    * ``before_save_checkpoint``: stores ``checkpoint['rng_states'] =
      dict(version=1, world_size=W, states=[state of rank 0, ..., rank
      W-1])`` (:func:`get_rng_state`; plain values, read by the safe
      loader). Only rank 0 writes checkpoints, so with ``W > 1`` the states
      of all ranks are gathered (``all_gather_object``) at the
      ``after_train_iter``/``after_train_epoch`` where a
      :class:`~mmengine.hooks.CheckpointHook` is due; this hook's priority
      (``LOW``) puts that before the ``CheckpointHook`` (``VERY_LOW``).
    * ``after_load_checkpoint`` keeps the states of the loaded checkpoint;
      ``before_train`` decides: a run that starts at iteration 0 (fresh, or
      ``load_from`` without resume) ignores them. A resumed iteration-based
      run restores them right before its first new batch is drawn, after
      mmengine's replay of the finished batches; an epoch-based run restores
      them in ``before_train_epoch``. Each rank restores its own state.
    * ``before_val``/``after_val``: validation runs on a copy of the random
      state, which is put back afterwards.

    A resume that cannot be exact is logged as a warning: a checkpoint
    without ``rng_states`` (written before this hook existed), another world
    size than the checkpoint's, an epoch-based checkpoint saved in the middle
    of an epoch (mmengine's ``EpochBasedTrainLoop`` starts the epoch again
    from its first batch), and an epoch-based loop with persistent data
    workers (their random streams restart from their seeds).
    ``tools/train.py`` adds this hook to every run.
    """
    priority = 'LOW'

    def __init__(self) -> None:
        self._gathered = None  # ((epoch, iter) of the checkpoint, states)
        self._loaded = None  # ((epoch, iter), stored dict or None)
        self._val_stash: Optional[Dict[str, Any]] = None
        self._epoch_state: Optional[Dict[str, Any]] = None

    # ----------------------------------------------------------- saving
    def _gather(self, runner, step: tuple, by_epoch: bool) -> None:
        """All ranks: gather the states when a checkpoint that records
        ``step`` (its ``(epoch, iter)``) is due now."""
        _, world_size = get_dist_info()
        if world_size == 1:
            return
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        if any(_checkpoint_due(runner, h, by_epoch) for h in hooks):
            self._gathered = (step, all_gather_object(get_rng_state()))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """With several ranks, gather their states when a checkpoint is
        due now."""
        # the (epoch, iter) an iteration-based checkpoint records
        self._gather(runner, (runner.epoch, runner.iter + 1), by_epoch=False)

    def after_train_epoch(self, runner) -> None:
        """With several ranks, gather their states when a checkpoint is
        due now."""
        # the (epoch, iter) an epoch-based checkpoint records
        self._gather(runner, (runner.epoch + 1, runner.iter), by_epoch=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the states of all ranks in ``checkpoint['rng_states']``."""
        rank, world_size = get_dist_info()
        own = self._val_stash if self._val_stash is not None \
            else get_rng_state()
        meta = checkpoint.get('meta', {})
        step = (meta.get('epoch'), meta.get('iter'))
        if world_size == 1:
            states = [own]
        elif self._gathered is not None and self._gathered[0] == step:
            states = list(self._gathered[1])
        else:
            # a checkpoint outside the CheckpointHook schedule (e.g. a best
            # checkpoint between regular ones): only this rank's state
            runner.logger.warning(
                f'the random states of the other {world_size - 1} ranks '
                f'were not gathered for this checkpoint; resuming from it '
                f'is not bit-identical')
            states = [own]
        checkpoint[CHECKPOINT_KEY] = dict(
            version=FORMAT_VERSION, world_size=world_size, states=states)

    # ---------------------------------------------------------- restoring
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the loaded checkpoint's states until ``before_train``."""
        meta = checkpoint.get('meta', {}) or {}
        self._loaded = ((meta.get('epoch'), meta.get('iter')),
                        checkpoint.get(CHECKPOINT_KEY))

    def _usable_state(self, runner) -> Optional[Dict[str, Any]]:
        """This rank's stored state for the resumed step, or ``None`` with
        a warning saying why the rest of the run is not bit-identical."""
        not_exact = 'the rest of the run is not bit-identical to an ' \
            'uninterrupted one'
        loaded = self._loaded
        if loaded is None or loaded[0][1] != runner.iter:
            runner.logger.warning(
                f'resumed at iteration {runner.iter} without a checkpoint '
                f'read by RngStateHook: the random state is not restored; '
                f'{not_exact}')
            return None
        stored = loaded[1]
        if not stored:
            runner.logger.warning(
                f'the resumed checkpoint has no {CHECKPOINT_KEY!r} (written '
                f'without RngStateHook, e.g. by an older mmrevcol): the '
                f'random state is not restored; {not_exact}')
            return None
        rank, world_size = get_dist_info()
        states = stored.get('states') or []
        if len(states) != world_size:
            runner.logger.warning(
                f'the resumed checkpoint holds the random states of '
                f'{len(states)} process(es) (world size '
                f'{stored.get("world_size")}), this run has {world_size}: '
                f'the random state is not restored; {not_exact}')
            return None
        return states[rank]

    def before_train(self, runner) -> None:
        """On resume, arrange for this rank's state to be restored right
        before the first new batch is drawn."""
        loaded, self._loaded = self._loaded, None
        if runner.iter == 0 and runner.epoch == 0:
            return  # a fresh start, or load_from without resume
        self._loaded = loaded
        state = self._usable_state(runner)
        self._loaded = None
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # iteration-based
            if state is not None:
                loop.dataloader_iterator = _RestoreBeforeDraw(
                    loop, runner.iter, state)
            return
        dataloader = getattr(loop, 'dataloader', None)
        if dataloader is not None:
            if runner.iter % len(dataloader) != 0:
                runner.logger.warning(
                    f'resumed in the middle of an epoch (iteration '
                    f'{runner.iter}, {len(dataloader)} per epoch): the '
                    f'epoch-based loop starts epoch {runner.epoch + 1} '
                    f'again from its first batch, so the rest of the run '
                    f'is not bit-identical; save epoch-based checkpoints at '
                    f'the end of epochs (CheckpointHook(by_epoch=True))')
            if getattr(dataloader, 'persistent_workers', False) and \
                    getattr(dataloader, 'num_workers', 0) > 0:
                runner.logger.warning(
                    'epoch-based loop with persistent_workers=True: the '
                    'resumed data workers start their random streams from '
                    'their seeds again, so the augmentations of the rest of '
                    'the run are not bit-identical (persistent_workers=False '
                    'restarts the workers with the same seeds every epoch '
                    'and is exact)')
        self._epoch_state = state

    def before_train_epoch(self, runner) -> None:
        """Epoch-based resume: restore this rank's state."""
        if self._epoch_state is not None:
            set_rng_state(self._epoch_state)
            self._epoch_state = None
            runner.logger.info(
                'restored the random state of the resumed checkpoint')

    # --------------------------------------------------------- validation
    def before_val(self, runner) -> None:
        """Validation runs on a copy of the random state."""
        self._val_stash = get_rng_state()

    def after_val(self, runner) -> None:
        """Put back the random state of before validation."""
        if self._val_stash is not None:
            set_rng_state(self._val_stash)
            self._val_stash = None

