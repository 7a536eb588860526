"""``tools/dist_train.sh`` with 2 CPU processes (gloo) trains the model one
process trains with the same total batch and the same samples (issue 13,
item 4), reversible backbone included.

``configs/toy/upernet_revcolv2_toy_ade20k_ddp-check.py`` is the toy UperNet
made deterministic (fixed resize, no augmentation, drop path and dropout 0,
GroupNorm heads). 2 processes x batch 1 and 1 process x batch 2 see the
same two samples at every step (the InfiniteSampler deals one shuffled
stream to the ranks in turn), so after N iterations the weights agree up to
float32 rounding (DDP sums the two gradients in another order).
"""
import argparse
import gc
import itertools
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import types
import weakref

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mmrevcol import apis
from mmrevcol.datasets.toy import make_toy_data
from mmrevcol.engine.checkpoint_compat import load_mmengine_checkpoint
from tests.helpers import ROOT, data_root_options

CONFIG = osp.join(ROOT, 'configs', 'toy',
                  'upernet_revcolv2_toy_ade20k_ddp-check.py')
TIMEOUT = 600


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _start(cmd, log, env):
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **env)
    full_env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, full_env.get('PYTHONPATH')) if p)
    with open(log, 'w') as f:
        return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=f,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait(proc, log):
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with open(log) as f:
        text = f.read()
    assert proc.returncode == 0, text[-3000:]
    return text


def _weights(path):
    return load_mmengine_checkpoint(str(path), map_location='cpu')[
        'state_dict']


def test_two_cpu_processes_equal_one_process(tmp_path):
    data = make_toy_data('ade20k', str(tmp_path / 'ade'), num_train=8,
                         num_val=2)
    opts = data_root_options(data) + [
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=4'
    ]
    one = _start([
        sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG,
        '--work-dir', str(tmp_path / 'one'), '--cfg-options'
    ] + opts + ['train_dataloader.batch_size=2'], tmp_path / 'one.log', {})
    two = _start([
        'bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
        '--work-dir', str(tmp_path / 'two'), '--cfg-options'
    ] + opts + ['train_dataloader.batch_size=1'], tmp_path / 'two.log',
                 dict(PYTHON=sys.executable, PORT=str(_free_port())))
    _wait(one, tmp_path / 'one.log')
    two_log = _wait(two, tmp_path / 'two.log')
    assert 'Distributed training: True' in two_log
    first = _weights(tmp_path / 'one' / 'iter_1.pth')
    one_w = _weights(tmp_path / 'one' / 'iter_4.pth')
    two_w = _weights(tmp_path / 'two' / 'iter_4.pth')
    assert one_w.keys() == two_w.keys()
    assert any('columns' in k for k in one_w)  # the reversible backbone
    worst_ratio = 0.
    for key, value in one_w.items():
        if not value.is_floating_point():
            assert torch.equal(value, two_w[key]), key
            continue
        diff = (value - two_w[key]).abs().max().item()
        moved = (value - first[key]).abs().max().item()
        # float32 rounding only: far below both the weights and how much
        # they moved in iterations 2-4
        assert torch.allclose(value, two_w[key], rtol=1e-4, atol=1e-5), \
            (key, diff, moved)
        if moved > 0:
            worst_ratio = max(worst_ratio, diff / moved)
    assert worst_ratio < 1e-2, worst_ratio


@pytest.fixture
def one_rank_group(tmp_path):
    """Calls initialise a one-process gloo group, as a launcher would; a
    group the test leaves initialised is destroyed after it."""
    stores = itertools.count()

    def init():
        dist.init_process_group(
            'gloo', init_method=f'file://{tmp_path}/store{next(stores)}',
            rank=0, world_size=1)

    yield init
    if dist.is_initialized():
        dist.destroy_process_group()


def test_tool_step_destroys_the_process_group(one_rank_group):
    """tools/train.py and tools/test.py destroy the process group their
    launcher made before the interpreter exits (left to shutdown, gloo's
    threads can abort a rank that finished: exit code -6)."""
    one_rank_group()
    assert apis.run_tool_step(argparse.ArgumentParser(),
                              lambda x: x + 1, 41) == 42
    assert not dist.is_initialized()
    # and a failing step still destroys it
    one_rank_group()

    def fail():
        raise RuntimeError('step failed')

    with pytest.raises(RuntimeError, match='step failed'):
        apis.run_tool_step(argparse.ArgumentParser(), fail)
    assert not dist.is_initialized()


def test_tool_step_frees_the_finished_run_before_exit(one_rank_group):
    """What a distributed step leaves in reference cycles (the runner, the
    DDP wrapper, its reducer and last gloo works) is freed when the tool
    step ends, not at interpreter shutdown, where its destructors could
    abort the rank (exit code -6)."""
    refs = []

    def step():
        holder = types.SimpleNamespace()
        holder.cycle = holder  # freed only by the cycle collector
        holder.ddp = DistributedDataParallel(torch.nn.Linear(3, 2))
        holder.ddp(torch.ones(4, 3)).sum().backward()
        refs.append(weakref.ref(holder.ddp))
        return 'done'

    one_rank_group()
    enabled = gc.isenabled()
    gc.disable()  # only the step's own collection may free the cycle
    try:
        assert apis.run_tool_step(argparse.ArgumentParser(), step) == 'done'
        assert not dist.is_initialized()
        assert refs[0]() is None
    finally:
        if enabled:
            gc.enable()
