"""A killed-and-resumed run is the run the user started (issue 13, item 1).

Each case trains a toy config through ``tools/train.py`` (or
``tools/dist_train.sh``), kills it from inside with SIGKILL right after a
checkpoint (``MMREVCOL_KILL_AFTER_CHECKPOINT``, see
:mod:`mmrevcol.engine.hooks.kill`), resumes it, and compares the final
checkpoint with an uninterrupted run's: every weight, EMA weight, optimizer
tensor and the stored random state must be *equal* (CPU). Checkpoints are
read with the project's safe loader. The matrix:

* segmentation, iteration-based, ``--resume`` (auto), no seed in the config
  (the seed comes from the checkpoint), data pipeline in the main process
  (``num_workers=0``: mmengine's replay consumes the main random state),
  validation right after the checkpoint the run was killed at;
* classification, epoch-based, ``--resume CKPT``, two non-persistent data
  workers, Mixup/CutMix, RandAugment, drop path, EMA, validation every epoch;
* MIM pre-training, epoch-based, ``--resume`` (random masking in the model);
* 2-process DDP (gloo, ``tools/dist_train.sh``), iteration-based: rank 0
  kills the whole process group.

Unit tests of the hook's decisions (warnings, safe loading, seed) run
in-process.
"""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import types

import pytest
import torch
from mmengine.config import Config

from mmrevcol.datasets.toy import make_toy_data
from mmrevcol.engine.checkpoint_compat import load_mmengine_checkpoint
from mmrevcol.engine.hooks.kill import KILL_ENV, KillAfterCheckpointHook
from mmrevcol.engine.hooks.rng_state import (CHECKPOINT_KEY, RngStateHook,
                                             get_rng_state, set_rng_state,
                                             use_resumed_seed)
from tests.helpers import ROOT, data_root_options

TRAIN = osp.join(ROOT, 'tools', 'train.py')
DIST_TRAIN = osp.join(ROOT, 'tools', 'dist_train.sh')
SEG = osp.join(ROOT, 'configs', 'toy', 'upernet_revcolv2_toy_ade20k.py')
CLS = osp.join(ROOT, 'configs', 'toy', 'revcolv2_toy_imagenet.py')
MIM = osp.join(ROOT, 'configs', 'toy', 'revcolv2_toy_mim_imagenet.py')
TIMEOUT = 600


# ------------------------------------------------------------ helpers
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _start(args, log, kill_after=None, nproc=0):
    """Start ``tools/train.py args`` (or ``tools/dist_train.sh`` with
    ``nproc`` processes) in a session of its own, output to ``log``."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    env.pop(KILL_ENV, None)
    if kill_after is not None:
        env[KILL_ENV] = kill_after
    if nproc:
        env.update(PYTHON=sys.executable, PORT=str(_free_port()))
        cmd = ['bash', DIST_TRAIN, args[0], str(nproc)] + list(args[1:])
    else:
        cmd = [sys.executable, TRAIN] + list(args)
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    proc.log = log
    return proc


def _finish(*procs):
    """Wait for ``procs``; return their logs (killing the sessions of any
    still running after :data:`TIMEOUT`)."""
    logs = []
    for proc in procs:
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f'{proc.args} ran past {TIMEOUT} s')
        with open(proc.log) as f:
            logs.append(f.read())
    return logs


def _load(path):
    return load_mmengine_checkpoint(str(path), map_location='cpu')


def _tensors(obj, prefix=''):
    """Every tensor in a nested dict/list, by path."""
    if torch.is_tensor(obj):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else \
        enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    out = {}
    for key, value in items:
        out.update(_tensors(value, f'{prefix}/{key}'))
    return out


def assert_same_run(path_a, path_b):
    """Weights, EMA weights, optimizer state and stored random state of two
    checkpoints are equal (not close: equal)."""
    a, b = _load(path_a), _load(path_b)
    assert (a['meta']['epoch'], a['meta']['iter']) == \
        (b['meta']['epoch'], b['meta']['iter'])
    for key in ('state_dict', 'ema_state_dict', 'optimizer', CHECKPOINT_KEY):
        assert (key in a) == (key in b), key
        if key not in a:
            continue
        ta, tb = _tensors(a[key]), _tensors(b[key])
        assert ta.keys() == tb.keys(), key
        differing = [k for k in ta if not torch.equal(ta[k], tb[k])]
        assert not differing, (key, differing[:5], len(differing))
    # the stored Python/numpy states too
    assert [s['python'] for s in a[CHECKPOINT_KEY]['states']] == \
        [s['python'] for s in b[CHECKPOINT_KEY]['states']]
    assert [s['numpy'] for s in a[CHECKPOINT_KEY]['states']] == \
        [s['numpy'] for s in b[CHECKPOINT_KEY]['states']]


# ------------------------------------------------------------ data
@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('resume_data') / 'ade')
    return make_toy_data('ade20k', root, num_train=16, num_val=2)


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('resume_data') / 'imagenet')
    return make_toy_data('imagenet', root, num_train=16, num_val=4)


# ------------------------------------------------------------ runs
#: Training processes run at the same time (a DDP job counts its ranks).
MAX_PROCESSES = 4

SEG_OPTIONS = [
    'train_cfg.max_iters=6', 'train_cfg.val_interval=3',
    'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=3'
]
CLS_OPTIONS = [
    'train_cfg.max_epochs=3', 'train_cfg.val_interval=1',
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=2',
    'train_dataloader.persistent_workers=False', 'val_dataloader.batch_size=4',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
    'default_hooks.checkpoint.max_keep_ckpts=3', 'randomness.seed=0'
]
MIM_OPTIONS = [
    'train_cfg.max_epochs=2', 'train_dataloader.batch_size=4',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
    'default_hooks.checkpoint.max_keep_ckpts=2'
]
DDP_OPTIONS = [
    'train_cfg.max_iters=4', 'train_cfg.val_interval=100',
    'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=2', 'randomness.seed=0',
    'env_cfg.dist_cfg.backend=gloo', 'env_cfg.dist_cfg.timeout=60'
]


class _Job:
    """One training command; ``args()`` is called when it starts (after
    the jobs in ``after`` have finished)."""

    def __init__(self, args, after=(), kill_after=None, nproc=0):
        self.args, self.after = args, tuple(after)
        self.kill_after, self.nproc = kill_after, nproc
        self.proc = self.log = None


def _run_jobs(jobs, root):
    """Run ``{name: _Job}`` in dependency order, at most
    :data:`MAX_PROCESSES` training processes at a time; return
    ``{name: (returncode, log text)}``."""
    done, running = {}, {}
    while len(done) < len(jobs):
        for name, job in jobs.items():
            busy = sum(max(j.nproc, 1) for j in running.values())
            if name in done or name in running or \
                    any(dep not in done for dep in job.after) or \
                    (running and busy + max(job.nproc, 1) > MAX_PROCESSES):
                continue
            job.proc = _start(job.args(), root / f'{name}.log',
                              job.kill_after, job.nproc)
            running[name] = job
        finished = [n for n, j in running.items() if j.proc.poll() is not None]
        for name in finished:
            job = running.pop(name)
            done[name] = (job.proc.returncode, _finish(job.proc)[0])
        if not finished:
            try:
                next(iter(running.values())).proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    return done


@pytest.fixture(scope='module')
def runs(tmp_path_factory, ade_root, imagenet_root):
    """Every training run of the matrix, scheduled together.

    * ``seg``: iteration-based, killed after iter_3.pth (no seed in the
      config: the run draws one), resumed with ``--resume``; the
      uninterrupted reference runs with the killed run's seed. Validation
      at iteration 3 follows the checkpoint in the reference, not in the
      resumed run.
    * ``cls``: epoch-based with data workers, killed after epoch_1.pth,
      resumed with ``--resume <that checkpoint>``.
    * ``mim``: MIM pre-training (random masks), killed after epoch_1.pth,
      resumed with ``--resume``.
    * ``ddp``: 2 processes through tools/dist_train.sh; rank 0 kills the
      process group after iter_2.pth; resumed with ``--resume``.

    Returns:
        tuple: the folder (``<case>/{killed,ref}`` work dirs) and
        ``{job name: (returncode, log)}``.
    """
    root = tmp_path_factory.mktemp('resume')
    seg = ['--cfg-options'] + data_root_options(ade_root) + SEG_OPTIONS
    cls = ['--cfg-options'] + data_root_options(imagenet_root) + CLS_OPTIONS
    mim = ['--cfg-options', f'train_dataloader.dataset.data_root='
           f'{imagenet_root}'] + MIM_OPTIONS
    ddp = ['--cfg-options'] + data_root_options(ade_root) + DDP_OPTIONS

    def wd(case, kind):
        return ['--work-dir', str(root / case / kind)]

    def seg_ref():
        seed = _load(root / 'seg' / 'killed' / 'iter_3.pth')['meta']['seed']
        return [SEG] + wd('seg', 'ref') + seg + [f'randomness.seed={seed}']

    jobs = dict(
        ddp_killed=_Job(lambda: [SEG] + wd('ddp', 'killed') + ddp,
                        kill_after='iter_2.pth', nproc=2),
        ddp_ref=_Job(lambda: [SEG] + wd('ddp', 'ref') + ddp, nproc=2),
        seg_killed=_Job(lambda: [SEG] + wd('seg', 'killed') + seg,
                        kill_after='iter_3.pth'),
        cls_killed=_Job(lambda: [CLS] + wd('cls', 'killed') + cls,
                        kill_after='epoch_1.pth'),
        cls_ref=_Job(lambda: [CLS] + wd('cls', 'ref') + cls),
        mim_killed=_Job(lambda: [MIM] + wd('mim', 'killed') + mim,
                        kill_after='epoch_1.pth'),
        mim_ref=_Job(lambda: [MIM] + wd('mim', 'ref') + mim),
        seg_ref=_Job(seg_ref, after=['seg_killed']),
        seg_resumed=_Job(
            lambda: [SEG] + wd('seg', 'killed') + ['--resume'] + seg,
            after=['seg_killed']),
        cls_resumed=_Job(
            lambda: [CLS] + wd('cls', 'killed') +
            ['--resume', str(root / 'cls' / 'killed' / 'epoch_1.pth')] + cls,
            after=['cls_killed']),
        mim_resumed=_Job(
            lambda: [MIM] + wd('mim', 'killed') + ['--resume'] + mim,
            after=['mim_killed']),
        ddp_resumed=_Job(
            lambda: [SEG] + wd('ddp', 'killed') + ['--resume'] + ddp,
            after=['ddp_killed'], nproc=2),
    )
    return root, _run_jobs(jobs, root)


def _check_case(runs, case, ckpt):
    """The killed run died right after ``ckpt``; the reference and the
    resumed run succeeded. Returns the folder and the resumed run's log."""
    root, results = runs
    for kind in ('ref', 'resumed'):
        rc, log = results[f'{case}_{kind}']
        assert rc == 0, log[-3000:]
    rc, log = results[f'{case}_killed']
    assert f'{KILL_ENV}={ckpt}: killing the run' in log, log[-3000:]
    # torchrun dies with its process group the same way
    assert rc == -signal.SIGKILL, (rc, log[-3000:])
    assert osp.isfile(root / case / 'killed' / ckpt)
    return root / case, results[f'{case}_resumed'][1]


def test_seg_iter_based_resume_is_bit_identical(runs):
    root, log = _check_case(runs, 'seg', 'iter_3.pth')
    assert 'Auto resumed from the latest checkpoint' in log
    assert 'replayed 3 batches' in log
    assert 'restored the random state of the resumed checkpoint' in log
    # the checkpoint the killed run wrote is the reference's ...
    assert_same_run(root / 'ref' / 'iter_3.pth',
                    root / 'killed' / 'iter_3.pth')
    # ... and the resumed run ends where the uninterrupted one does
    assert_same_run(root / 'ref' / 'iter_6.pth',
                    root / 'killed' / 'iter_6.pth')


def test_cls_epoch_based_resume_ckpt_is_bit_identical(runs):
    root, log = _check_case(runs, 'cls', 'epoch_1.pth')
    assert 'resumed epoch: 1, iter: 4' in log
    assert 'restored the random state of the resumed checkpoint' in log
    assert_same_run(root / 'ref' / 'epoch_1.pth',
                    root / 'killed' / 'epoch_1.pth')
    assert_same_run(root / 'ref' / 'epoch_3.pth',
                    root / 'killed' / 'epoch_3.pth')


def test_mim_resume_is_bit_identical(runs):
    root, log = _check_case(runs, 'mim', 'epoch_1.pth')
    assert 'restored the random state of the resumed checkpoint' in log
    assert_same_run(root / 'ref' / 'epoch_2.pth',
                    root / 'killed' / 'epoch_2.pth')


def test_ddp_resume_is_bit_identical(runs):
    root, log = _check_case(runs, 'ddp', 'iter_2.pth')
    # (only rank 0 logs; rank 1's state shows in the weights and in the
    # states stored at iteration 4)
    assert 'restored the random state of the resumed checkpoint' in log
    stored = _load(root / 'ref' / 'iter_2.pth')[CHECKPOINT_KEY]
    assert stored['world_size'] == 2 and len(stored['states']) == 2
    assert_same_run(root / 'ref' / 'iter_4.pth',
                    root / 'killed' / 'iter_4.pth')


# ------------------------------------------------------------ unit tests
def _draws():
    import random

    import numpy as np
    return (random.random(), float(np.random.rand()),
            torch.rand(3).tolist())


def test_rng_state_round_trip_through_the_safe_loader(tmp_path):
    """The stored state is plain values the weights-only loader reads, and
    restoring it repeats the random numbers."""
    state = get_rng_state()
    expected = _draws()
    path = tmp_path / 'c.pth'
    torch.save({'meta': {}, CHECKPOINT_KEY: dict(
        version=1, world_size=1, states=[state])}, path)
    loaded = _load(path)[CHECKPOINT_KEY]['states'][0]
    _draws()
    set_rng_state(loaded)
    assert _draws() == expected
    with pytest.raises(ValueError, match=r"\['numpy'\] are missing"):
        set_rng_state({'python': state['python'], 'torch': state['torch']})


class _Logger:
    """Records what the hook logs."""

    def __init__(self):
        self.warnings, self.infos = [], []

    def warning(self, msg):
        self.warnings.append(msg)

    def info(self, msg):
        self.infos.append(msg)


def _fake_runner(it, epoch=0, loop=None):
    return types.SimpleNamespace(iter=it, epoch=epoch, logger=_Logger(),
                                 train_loop=loop, hooks=[])


class _Loop:
    """Stands in for IterBasedTrainLoop: replays then draws."""

    def __init__(self):
        self.dataloader_iterator = iter(range(100))


class _Dataloader:
    """4 batches per epoch."""

    num_workers = 2

    def __init__(self, persistent_workers):
        self.persistent_workers = persistent_workers

    def __len__(self):
        return 4


class _EpochLoop:
    """Stands in for EpochBasedTrainLoop."""

    def __init__(self, persistent_workers=False):
        self.dataloader = _Dataloader(persistent_workers)


@pytest.mark.parametrize('checkpoint,message', [
    ({'meta': {'epoch': 0, 'iter': 3}},
     "has no 'rng_states' (written without RngStateHook"),
    ({'meta': {'epoch': 0, 'iter': 3}, CHECKPOINT_KEY: dict(
        version=1, world_size=2, states=[{}, {}])},
     'random states of 2 process(es) (world size 2), this run has 1'),
    (None, 'without a checkpoint read by RngStateHook'),
])
def test_resume_that_cannot_be_exact_warns(checkpoint, message):
    """Old checkpoints (no rng_states), another world size, no checkpoint
    seen: training goes on, with a warning, and nothing is restored."""
    hook = RngStateHook()
    loop = _Loop()
    inner = loop.dataloader_iterator
    runner = _fake_runner(3, loop=loop)
    if checkpoint is not None:
        hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert loop.dataloader_iterator is inner
    assert len(runner.logger.warnings) == 1
    assert message in runner.logger.warnings[0]
    assert runner.logger.warnings[0].endswith(
        'the rest of the run is not bit-identical to an uninterrupted one')


def test_resume_restores_right_before_the_first_new_batch():
    """The state is put back after the replayed draws, before the next
    one, and the loop gets its own iterator back."""
    hook = RngStateHook()
    loop = _Loop()
    inner = loop.dataloader_iterator
    runner = _fake_runner(2, loop=loop)
    state = get_rng_state()
    expected = _draws()
    hook.after_load_checkpoint(runner, {
        'meta': {'epoch': 0, 'iter': 2},
        CHECKPOINT_KEY: dict(version=1, world_size=1, states=[state])})
    hook.before_train(runner)
    assert next(loop.dataloader_iterator) == 0  # replayed
    _draws()  # the replay consumes random numbers (num_workers=0)
    assert next(loop.dataloader_iterator) == 1  # replayed
    assert next(loop.dataloader_iterator) == 2  # restored, then drawn
    assert loop.dataloader_iterator is inner
    assert _draws() == expected


@pytest.mark.parametrize('it,persistent,message', [
    (8, False, None),
    (6, False, 'resumed in the middle of an epoch (iteration 6, 4 per '
     'epoch): the epoch-based loop starts epoch 2 again from its first '
     'batch'),
    (8, True, 'epoch-based loop with persistent_workers=True'),
])
def test_epoch_based_resume(it, persistent, message):
    """Restored in before_train_epoch; the cases mmengine cannot make exact
    are named."""
    hook = RngStateHook()
    runner = _fake_runner(it, epoch=it // 4, loop=_EpochLoop(persistent))
    state = get_rng_state()
    expected = _draws()
    hook.after_load_checkpoint(runner, {
        'meta': {'epoch': it // 4, 'iter': it},
        CHECKPOINT_KEY: dict(version=1, world_size=1, states=[state])})
    hook.before_train(runner)
    _draws()  # before_train hooks of the resumed run
    hook.before_train_epoch(runner)
    assert _draws() == expected
    if message is None:
        assert runner.logger.warnings == []
    else:
        assert len(runner.logger.warnings) == 1
        assert message in runner.logger.warnings[0]
        assert 'not bit-identical' in runner.logger.warnings[0]


def test_fresh_start_and_load_from_ignore_the_stored_state():
    hook = RngStateHook()
    loop = _Loop()
    inner = loop.dataloader_iterator
    runner = _fake_runner(0, loop=loop)
    hook.after_load_checkpoint(runner, {
        'meta': {'epoch': 0, 'iter': 40},
        CHECKPOINT_KEY: dict(version=1, world_size=1,
                             states=[get_rng_state()])})
    hook.before_train(runner)
    assert loop.dataloader_iterator is inner


def test_validation_does_not_consume_the_training_stream():
    hook = RngStateHook()
    runner = _fake_runner(5)
    state = get_rng_state()
    expected = _draws()
    set_rng_state(state)
    hook.before_val(runner)
    _draws()
    hook.after_val(runner)
    assert _draws() == expected


def _write_checkpoint(path, seed):
    torch.save({'meta': {'seed': seed, 'epoch': 0, 'iter': 3}}, path)
    return str(path)


def test_use_resumed_seed(tmp_path):
    ckpt = _write_checkpoint(tmp_path / 'iter_3.pth', 1234)
    # --resume CKPT, no seed in the config: the checkpoint's
    cfg = Config(dict(resume=True, load_from=ckpt, work_dir=str(tmp_path)))
    assert use_resumed_seed(cfg).randomness.seed == 1234
    assert 'randomness' not in cfg  # the input is not changed
    # --resume (auto): the latest checkpoint of the work dir
    (tmp_path / 'last_checkpoint').write_text(ckpt)
    cfg = Config(dict(resume=True, load_from=None, work_dir=str(tmp_path),
                      randomness=dict(seed=7, diff_rank_seed=True)))
    out = use_resumed_seed(cfg)
    assert out.randomness == dict(seed=1234, diff_rank_seed=True)
    # no resume, or nothing to resume from: unchanged
    cfg = Config(dict(resume=False, load_from=ckpt, work_dir=str(tmp_path)))
    assert use_resumed_seed(cfg) is cfg
    cfg = Config(dict(resume=True, load_from=None,
                      work_dir=str(tmp_path / 'empty')))
    assert use_resumed_seed(cfg) is cfg


def test_kill_hook_checks_its_setting(monkeypatch):
    monkeypatch.setenv(KILL_ENV, 'work_dirs/x/iter_4.pth')
    with pytest.raises(ValueError) as err:
        KillAfterCheckpointHook.from_env()
    assert str(err.value) == (
        f'{KILL_ENV} must be a checkpoint file name such as iter_40.pth or '
        f"epoch_2.pth, but got 'work_dirs/x/iter_4.pth'")
    monkeypatch.setenv(KILL_ENV, 'iter_4.pth')
    assert KillAfterCheckpointHook.from_env().checkpoint == 'iter_4.pth'
