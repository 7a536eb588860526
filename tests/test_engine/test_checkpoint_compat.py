"""Weights-only loading of mmengine Runner checkpoints on torch >= 2.6.

A real :class:`mmengine.runner.Runner` trains a tiny model for 2 iterations
(AdamW + OneCycleLR, a validation metric returning numpy scalars and
``save_best``), so its checkpoint holds everything mmengine writes: a message
hub with ``HistoryBuffer`` objects, numpy arrays and scalars, optimizer and
scheduler states. A second Runner resumes from it.

These tests use torch's own allow-list (``add_safe_globals`` with
``(object, 'module.name')`` pairs, torch >= 2.6) and are skipped on older
torch; tests/test_safe_loading.py checks the explicit
``enable_safe_checkpoint_loading`` call on every torch version.
"""
import copy
import io
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmrevcol.engine import allow_mmengine_checkpoint_types
from mmrevcol.engine.checkpoint_compat import (
    mmengine_checkpoint_safe_globals, restricted_getattr)
from mmrevcol.utils import compat

#: torch's allow-list takes the pairs and ``torch.load`` is weights-only by
#: default (torch >= 2.6).
needs_torch_allow_list = pytest.mark.skipif(
    not compat.NAMED_SAFE_GLOBALS,
    reason=f'torch {torch.__version__} has no allow-list for (object, name) '
    f'pairs; see test_safe_loading.py')
#: pickles name ``numpy._core`` (numpy >= 2).
needs_numpy2 = pytest.mark.skipif(
    not hasattr(np, '_core'), reason='numpy < 2 pickles numpy.core')


class _ToyRegressor(BaseModel):
    """y = BN(Wx + b), squared error."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.norm = nn.BatchNorm1d(1)

    def forward(self, inputs, target=None, mode='tensor'):
        pred = self.norm(self.linear(inputs)).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((pred - target)**2).mean())
        if mode == 'predict':
            return [dict(pred=p, target=t) for p, t in zip(pred, target)]
        return pred


class _ToyData(Dataset):
    """Eight fixed samples, in memory."""
    metainfo = dict(classes=('low', 'high'), palette=[(0, 0, 0), (9, 9, 9)])

    def __len__(self):
        return 8

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(
            inputs=torch.randn(3, generator=gen),
            target=torch.tensor(float(index % 3)))


class _ToyMAE(BaseMetric):
    """Mean absolute error, returned as numpy scalars like mmseg does."""

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append(
                float((sample['pred'] - sample['target']).abs()))

    def compute_metrics(self, results):
        return dict(
            mae=np.float64(np.mean(results)),
            mae32=np.float32(np.mean(results)),
            count=np.int64(len(results)))


class _RecordResumedState(Hook):
    """Copy what the runner holds right after resuming (before training)."""

    def before_train(self, runner):
        self.iter = runner.iter
        self.optimizer = copy.deepcopy(runner.optim_wrapper.state_dict())
        self.model = {
            k: v.clone()
            for k, v in runner.model.state_dict().items()
        }
        self.loss_history = runner.message_hub.get_scalar(
            'train/loss').data[0].copy()
        self.schedulers = copy.deepcopy(
            [s.state_dict() for s in runner.param_schedulers])
        self.best_score = runner.message_hub.get_info('best_score')


def _build_runner(work_dir,
                  max_iters,
                  name,
                  resume=False,
                  load_from=None,
                  val_interval=2,
                  hooks=()):
    loader = dict(
        dataset=_ToyData(),
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_size=4,
        collate_fn=dict(type='default_collate'))
    return Runner(
        model=_ToyRegressor(),
        work_dir=work_dir,
        experiment_name=name,
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=[_ToyMAE()],
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        param_scheduler=[
            dict(
                type='OneCycleLR', eta_max=1e-2, total_steps=8, by_epoch=False)
        ],
        train_cfg=dict(
            by_epoch=False, max_iters=max_iters, val_interval=val_interval),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook',
                interval=1,
                by_epoch=False,
                save_best='mae',
                rule='less'),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(hooks),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from)


@pytest.fixture
def clean_safe_globals():
    """Run a test with torch's user allow-list empty, restore it after."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Work dir of a 2-iteration run; returns (work_dir, checkpoint)."""
    work_dir = str(tmp_path_factory.mktemp('compat_run'))
    _build_runner(work_dir, 2, 'compat_first').train()
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    return work_dir, ckpt


def _unpickling_fails(path_or_buffer):
    with pytest.raises(pickle.UnpicklingError) as info:
        torch.load(path_or_buffer, weights_only=True)
    return str(info.value)


@needs_torch_allow_list
def test_default_torch_rejects_runner_checkpoint(trained, clean_safe_globals):
    # The problem this module solves: torch>=2.6 weights_only=True default.
    _, ckpt = trained
    message = _unpickling_fails(ckpt)
    assert 'HistoryBuffer' in message
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt)  # the default mmengine relies on


@needs_torch_allow_list
def test_allow_list_loads_every_checkpoint(trained, clean_safe_globals):
    work_dir, _ = trained
    allow_mmengine_checkpoint_types()
    names = sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))
    assert names == ['best_mae_iter_2.pth', 'iter_1.pth', 'iter_2.pth']
    for name in names:
        ckpt = torch.load(osp.join(work_dir, name), weights_only=True)
        buffer = ckpt['message_hub']['log_scalars']['train/loss']
        assert isinstance(buffer, HistoryBuffer)
        # the statistics methods were resolved by restricted_getattr
        assert buffer.statistics('mean') == pytest.approx(
            buffer.data[0].mean())
    ckpt = torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)
    best = ckpt['message_hub']['runtime_info']['best_score']
    assert type(best) is np.float64
    schedulers = ckpt['param_schedulers']
    assert schedulers[0]['anneal_func'] is \
        OneCycleParamScheduler._annealing_cos


@needs_torch_allow_list
def test_resume_continues_training(trained, tmp_path, clean_safe_globals):
    work_dir, ckpt_path = trained
    allow_mmengine_checkpoint_types()
    saved = torch.load(ckpt_path, weights_only=True)
    resumed_dir = str(tmp_path / 'resumed')
    os.makedirs(resumed_dir)
    record = _RecordResumedState()
    runner = _build_runner(
        resumed_dir,
        4,
        'compat_resumed',
        resume=True,
        load_from=ckpt_path,
        # no validation: a new best would delete the first run's best
        # checkpoint, whose path the resumed message hub carries
        val_interval=100,
        hooks=[record])
    runner.train()

    # the counters continue from the checkpoint ...
    assert record.iter == 2
    assert runner.iter == 4
    assert sorted(f for f in os.listdir(resumed_dir)
                  if f.startswith('iter_')) == ['iter_3.pth', 'iter_4.pth']
    # ... with the optimizer state of the checkpoint ...
    state, saved_state = record.optimizer['state'], saved['optimizer']['state']
    assert sorted(state) == sorted(saved_state) and len(state) == 4
    for key in state:
        assert int(state[key]['step']) == 2
        for name in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(state[key][name],
                                       saved_state[key][name])
    assert record.optimizer['param_groups'][0]['lr'] == pytest.approx(
        saved['optimizer']['param_groups'][0]['lr'])
    # ... the weights, the scheduler step and the message hub.
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(record.model[key], value)
    # (a freshly built scheduler is at last_step 0)
    assert saved['param_schedulers'][0]['last_step'] >= 1
    assert record.schedulers[0] == saved['param_schedulers'][0]
    np.testing.assert_allclose(
        record.loss_history,
        saved['message_hub']['log_scalars']['train/loss'].data[0])
    assert len(record.loss_history) == 2
    assert record.best_score == saved['message_hub']['runtime_info'][
        'best_score']


@needs_torch_allow_list
@needs_numpy2
def test_each_entry_is_needed(trained, clean_safe_globals):
    _, ckpt = trained
    needed = [
        HistoryBuffer,
        OneCycleParamScheduler,
        np.ndarray,
        np.dtype,
        (restricted_getattr, 'builtins.getattr'),
        (np._core.multiarray._reconstruct,
         'numpy._core.multiarray._reconstruct'),
        (np._core.multiarray.scalar, 'numpy._core.multiarray.scalar'),
        type(np.dtype('float64')),
        type(np.dtype('int64')),
    ]
    entries = mmengine_checkpoint_safe_globals()
    for entry in needed:
        assert entry in entries
    for entry in needed:
        rest = [e for e in entries if e != entry]
        with torch.serialization.safe_globals(rest):
            _unpickling_fails(ckpt)
    with torch.serialization.safe_globals(entries):
        torch.load(ckpt, weights_only=True)


@needs_torch_allow_list
def test_idempotent(clean_safe_globals):
    first = allow_mmengine_checkpoint_types()
    registered = torch.serialization.get_safe_globals()
    second = allow_mmengine_checkpoint_types()
    assert first == second
    assert len(torch.serialization.get_safe_globals()) == len(registered)
    assert set(first) == set(registered)
    # numeric dtypes only, no object/str/void dtypes
    assert type(np.dtype('float32')) in first
    assert type(np.dtype(object)) not in first
    assert type(np.dtype('U3')) not in first


@needs_torch_allow_list
@needs_numpy2
def test_numpy1_module_paths(clean_safe_globals):
    """Pickles written with numpy 1.x name ``numpy.core.multiarray``."""
    obj = dict(array=np.arange(4, dtype=np.float64), scalar=np.float32(2.5))
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    raw = buffer.getvalue()
    assert b'numpy._core.multiarray' in raw
    old = raw.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
    assert b'numpy._core' not in old
    _unpickling_fails(io.BytesIO(old))
    allow_mmengine_checkpoint_types()
    for data in (raw, old):
        loaded = torch.load(io.BytesIO(data), weights_only=True)
        np.testing.assert_array_equal(loaded['array'], obj['array'])
        assert type(loaded['scalar']) is np.float32
        assert loaded['scalar'] == 2.5


class _Arbitrary:
    """A class no allow-list knows."""

    def __init__(self):
        self.value = 3


class _RunsShell:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _GetAttr:
    """Pickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


def _saved(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


@needs_torch_allow_list
def test_other_pickles_still_rejected(tmp_path, clean_safe_globals):
    allow_mmengine_checkpoint_types()
    # an arbitrary class
    message = _unpickling_fails(_saved(dict(x=_Arbitrary())))
    assert '_Arbitrary' in message
    # os.system reduction
    marker = tmp_path / 'pwned'
    _unpickling_fails(_saved(dict(x=_RunsShell(str(marker)))))
    assert not marker.exists()
    # getattr is only resolved for the listed class attributes
    for payload in (
            _GetAttr(HistoryBuffer, '__init__'),
            _GetAttr(HistoryBuffer, '__class__'),
            _GetAttr(_GetAttr(HistoryBuffer, 'min'), '__globals__'),
            _GetAttr(OneCycleParamScheduler, 'step'),
            _GetAttr(torch.nn.Parameter, '__new__'),
    ):
        message = _unpickling_fails(_saved(dict(x=payload)))
        assert 'mmrevcol only resolves' in message
    # the allowed pair still loads
    loaded = torch.load(
        _saved(dict(x=_GetAttr(HistoryBuffer, 'mean'))), weights_only=True)
    assert loaded['x'] is HistoryBuffer.mean


def test_restricted_getattr_direct():
    assert restricted_getattr(HistoryBuffer, 'min') is HistoryBuffer.min
    assert restricted_getattr(OneCycleParamScheduler, '_annealing_linear') \
        is OneCycleParamScheduler._annealing_linear

    class _Sub(HistoryBuffer):
        pass

    for obj, name in ((_Sub, 'min'), (HistoryBuffer(), 'min'),
                      (HistoryBuffer, 'update'), (HistoryBuffer, 0)):
        with pytest.raises(pickle.UnpicklingError, match='only resolves'):
            restricted_getattr(obj, name)
