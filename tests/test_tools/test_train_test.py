"""tools/train.py, tools/test.py, tools/dist_*.sh and :mod:`mmrevcol.apis`.

The tools run in subprocesses on a toy mmengine config written to a temporary
folder; its model, dataset and metric come from a ``custom_imports`` module
written next to it, so these tests do not depend on the backbones.
"""
import hashlib
import importlib.util
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmrevcol import apis
from mmrevcol.engine import allow_mmengine_checkpoint_types

from tests.helpers import ROOT, run_tool

REPO = ROOT
TOOLS = osp.join(REPO, 'tools')
TOY_MODULE = 'mmrevcol_tools_toy'

TOY_SOURCE = '''
import numpy as np
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmrevcol.registry import register_everywhere


@register_everywhere('MODELS')
class ToolsToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, inputs, target=None, mode='tensor'):
        pred = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((pred - target) ** 2).mean())
        if mode == 'predict':
            return [dict(pred=p, target=t) for p, t in zip(pred, target)]
        return pred


@register_everywhere('DATASETS')
class ToolsToyData(Dataset):
    metainfo = dict(classes=('y', ))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(inputs=torch.randn(3, generator=gen),
                    target=torch.tensor(float(index % 3)))


@register_everywhere('METRICS')
class ToolsToyMAE(BaseMetric):

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append(
                float((sample['pred'] - sample['target']).abs()))

    def compute_metrics(self, results):
        return dict(mae=np.float64(np.mean(results)), count=len(results))
'''

TOY_CONFIG = f'''
custom_imports = dict(imports=['{TOY_MODULE}'], allow_failed_imports=False)
default_scope = 'mmengine'
model = dict(type='ToolsToyRegressor')
train_dataloader = dict(
    dataset=dict(type='ToolsToyData'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_size=4,
    num_workers=0,
    collate_fn=dict(type='default_collate'))
test_dataloader = dict(
    dataset=dict(type='ToolsToyData'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    batch_size=4,
    num_workers=0,
    collate_fn=dict(type='default_collate'))
test_evaluator = dict(type='ToolsToyMAE')
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.01))
train_cfg = dict(by_epoch=False, max_iters=2)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
    logger=dict(type='LoggerHook', interval=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='gloo'))
'''


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _run(args, cwd, timeout=240, env=None):
    """Run ``python tools/<args>`` with the toy module importable."""
    return run_tool(osp.relpath(args[0], TOOLS), *args[1:], cwd=cwd,
                    timeout=timeout, env=env)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """A folder with the toy module and config; toy module importable here
    too. Returns the folder."""
    root = tmp_path_factory.mktemp('tools_toy')
    (root / f'{TOY_MODULE}.py').write_text(TOY_SOURCE)
    (root / 'toy_cfg.py').write_text(TOY_CONFIG)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture(scope='module')
def trained(toy):
    """tools/train.py run with the default work dir; returns the work dir."""
    proc = _run([osp.join(TOOLS, 'train.py'), 'toy_cfg.py'], cwd=toy)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    work_dir = toy / 'work_dirs' / 'toy_cfg'  # ./work_dirs/<config stem>
    assert (work_dir / 'iter_2.pth').is_file()
    return work_dir


def test_train_tool_writes_checkpoints(trained):
    names = sorted(os.listdir(trained))
    assert 'iter_1.pth' in names and 'iter_2.pth' in names
    assert (trained /
            'last_checkpoint').read_text().strip().endswith('iter_2.pth')
    allow_mmengine_checkpoint_types()
    ckpt = torch.load(trained / 'iter_2.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 2
    assert sorted(ckpt['state_dict']) == ['linear.bias', 'linear.weight']


def test_train_tool_resume_continues(toy, trained):
    before = {n: _sha(trained / n) for n in ('iter_1.pth', 'iter_2.pth')}
    proc = _run([
        osp.join(TOOLS, 'train.py'), 'toy_cfg.py', '--resume', '--cfg-options',
        'train_cfg.max_iters=4'
    ],
                cwd=toy)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'resumed epoch: 0, iter: 2' in out
    # iterations 1-2 are not trained again, 3-4 are new
    assert {n: _sha(trained / n) for n in before} == before
    allow_mmengine_checkpoint_types()
    ckpt = torch.load(trained / 'iter_4.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert all(
        int(s['step']) == 4 for s in ckpt['optimizer']['state'].values())
    # the loss history holds the first run's 2 values and 2 new ones
    first = torch.load(trained / 'iter_2.pth', weights_only=True)
    old = first['message_hub']['log_scalars']['train/loss'].data[0]
    new = ckpt['message_hub']['log_scalars']['train/loss'].data[0]
    assert len(old) == 2 and len(new) == 4
    np.testing.assert_allclose(new[:2], old)


def test_test_tool_prints_metrics_and_dumps(toy, trained, tmp_path):
    out = tmp_path / 'preds' / 'preds.pkl'
    proc = _run([
        osp.join(TOOLS, 'test.py'), 'toy_cfg.py',
        str(trained / 'iter_2.pth'), '--out',
        str(out), '--work-dir',
        str(tmp_path / 'test_wd')
    ],
                cwd=toy)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [
        ln for ln in proc.stdout.splitlines() if ln.startswith('metrics: ')
    ]
    assert len(lines) == 1
    metrics = json.loads(lines[0][len('metrics: '):])
    assert metrics['count'] == 8
    assert (tmp_path / 'test_wd').is_dir()

    # the dump: one prediction per test sample, no temporary file left
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 8
    assert os.listdir(out.parent) == ['preds.pkl']
    mae = np.mean([abs(float(p['pred'] - p['target'])) for p in preds])
    assert metrics['mae'] == pytest.approx(mae, rel=1e-6)

    # the importable function returns the same metrics
    in_process = apis.test(
        str(toy / 'toy_cfg.py'),
        str(trained / 'iter_2.pth'),
        work_dir=str(tmp_path / 'api_wd'))
    assert in_process['count'] == 8
    assert float(in_process['mae']) == pytest.approx(metrics['mae'], rel=1e-6)


def test_tools_reject_missing_files(toy, tmp_path):
    proc = _run([osp.join(TOOLS, 'train.py'), 'no_such_cfg.py'], cwd=toy)
    assert proc.returncode == 2
    assert "config file 'no_such_cfg.py' does not exist" in proc.stderr
    assert 'Traceback' not in proc.stderr
    proc = _run([osp.join(TOOLS, 'test.py'), 'toy_cfg.py', 'missing.pth'],
                cwd=toy)
    assert proc.returncode == 2
    assert "checkpoint 'missing.pth' does not exist" in proc.stderr


# --------------------------------------------------------------- apis.*
def test_build_train_config_options(toy, tmp_path):
    path = str(toy / 'toy_cfg.py')
    cfg = apis.build_train_config(path)
    assert cfg.work_dir == osp.join('./work_dirs', 'toy_cfg')
    assert cfg.launcher == 'none'
    assert 'resume' not in cfg and cfg.get('load_from') is None
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'

    cfg = apis.build_train_config(
        path,
        work_dir=str(tmp_path),
        resume='auto',
        amp=True,
        cfg_options={
            'train_cfg.max_iters': 7,
            'work_dir': 'ignored'
        },
        launcher='pytorch')
    assert cfg.work_dir == str(tmp_path)  # the argument wins
    assert cfg.train_cfg.max_iters == 7
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.launcher == 'pytorch'

    # work_dir from the config wins over the default
    cfg = apis.build_train_config(path, cfg_options={'work_dir': 'from_cfg'})
    assert cfg.work_dir == 'from_cfg'

    ckpt = tmp_path / 'some.pth'
    torch.save({'state_dict': {}}, ckpt)
    cfg = apis.build_train_config(path, resume=str(ckpt))
    assert cfg.resume is True and cfg.load_from == str(ckpt)

    # an AmpOptimWrapper config keeps its own loss scale
    base = Config.fromfile(path)
    base.optim_wrapper = dict(
        type='AmpOptimWrapper', loss_scale=512., optimizer=dict(type='SGD'))
    cfg = apis.build_train_config(base, work_dir='w', amp=True)
    assert cfg.optim_wrapper.loss_scale == 512.
    # the caller's config object is not changed
    cfg = apis.build_train_config(
        base, work_dir='w', cfg_options={'train_cfg.max_iters': 9})
    assert base.train_cfg.max_iters == 2 and 'work_dir' not in base


def test_build_train_config_errors(toy, tmp_path):
    path = str(toy / 'toy_cfg.py')
    with pytest.raises(FileNotFoundError, match="config file 'nope.py'"):
        apis.build_train_config('nope.py')
    with pytest.raises(FileNotFoundError, match="resume checkpoint 'x.pth'"):
        apis.build_train_config(path, resume='x.pth')
    with pytest.raises(
            ValueError,
            match="launcher must be one of none, "
            "pytorch, slurm, mpi, but got 'local'"):
        apis.build_train_config(path, launcher='local')
    with pytest.raises(TypeError, match='cfg_options must be a dict'):
        apis.build_train_config(path, cfg_options=['a=1'])
    with pytest.raises(ValueError, match='no default work dir'):
        apis.build_train_config(Config(dict(model=dict(type='X'))))
    no_optim = Config.fromfile(path)
    no_optim.pop('optim_wrapper')
    with pytest.raises(ValueError, match='amp=True needs an optim_wrapper'):
        apis.build_train_config(no_optim, work_dir='w', amp=True)


def test_explicit_resume_path_in_process(toy, trained, tmp_path):
    """``resume=PATH`` resumes from that checkpoint, in a new work dir."""
    runner = apis.train(
        str(toy / 'toy_cfg.py'),
        work_dir=str(tmp_path / 'wd'),
        resume=str(trained / 'iter_1.pth'),
        cfg_options={'train_cfg.max_iters': 2})
    assert runner.iter == 2
    assert (tmp_path / 'wd' / 'iter_2.pth').is_file()
    assert not (tmp_path / 'wd' / 'iter_1.pth').exists()


def _hook_config(hook_type, visualizer=True):
    cfg = dict(
        test_dataloader=dict(),
        test_evaluator=dict(),
        test_cfg=dict(),
        work_dir='w',
        default_hooks=dict(visualization=dict(type=hook_type)))
    if visualizer:
        cfg['visualizer'] = dict(type='Visualizer')
    return Config(cfg)


def test_build_test_config(toy, trained, tmp_path):
    ckpt = str(trained / 'iter_2.pth')
    cfg = apis.build_test_config(str(toy / 'toy_cfg.py'), ckpt)
    assert cfg.load_from == ckpt
    assert cfg.work_dir == osp.join('./work_dirs', 'toy_cfg')

    cfg = apis.build_test_config(
        _hook_config('DetVisualizationHook'), ckpt, show_dir='shows')
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == 'shows'
    cfg = apis.build_test_config(
        _hook_config('mmseg.SegVisualizationHook'), ckpt, show_dir='shows')
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.visualizer.save_dir == 'shows'
    cfg = apis.build_test_config(
        _hook_config('VisualizationHook'), ckpt, show_dir='shows')
    assert cfg.default_hooks.visualization.enable is True
    assert cfg.default_hooks.visualization.out_dir == 'shows'

    with pytest.raises(ValueError, match="but the config has 'LoggerHook'"):
        apis.build_test_config(
            _hook_config('LoggerHook'), ckpt, show_dir='shows')
    with pytest.raises(ValueError, match='needs a visualizer'):
        apis.build_test_config(
            _hook_config('SegVisualizationHook', visualizer=False),
            ckpt,
            show_dir='s')
    with pytest.raises(ValueError, match='needs default_hooks.visualization'):
        apis.build_test_config(str(toy / 'toy_cfg.py'), ckpt, show_dir='shows')
    with pytest.raises(
            ValueError,
            match="out must be a file ending in .pkl "
            "or .pickle, but got 'p.json'"):
        apis.build_test_config(str(toy / 'toy_cfg.py'), ckpt, out='p.json')
    with pytest.raises(ValueError, match='testing needs test_evaluator'):
        apis.build_test_config(
            Config(
                dict(test_dataloader=dict(), test_cfg=dict(), work_dir='w')),
            ckpt)
    # out may never be one of the run's inputs
    pkl_ckpt = tmp_path / 'weights.pkl'
    torch.save({'state_dict': {}}, pkl_ckpt)
    before = pkl_ckpt.read_bytes()
    with pytest.raises(ValueError, match='refusing to overwrite'):
        apis.build_test_config(
            str(toy / 'toy_cfg.py'), str(pkl_ckpt), out=str(pkl_ckpt))
    assert pkl_ckpt.read_bytes() == before


def test_atomic_dump_and_json(tmp_path):
    out = tmp_path / 'sub' / 'r.pkl'
    dumper = apis.AtomicDumpResults(out_file_path=str(out))
    dumper.process({}, [dict(a=torch.ones(2)), dict(a=torch.zeros(2))])
    assert dumper.evaluate(2) == {}
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert [r['a'].tolist() for r in results] == [[1., 1.], [0., 0.]]
    assert os.listdir(out.parent) == ['r.pkl']
    line = apis.metrics_to_json(
        dict(acc=np.float32(0.5), n=np.int64(3), t=torch.tensor(2.)))
    assert json.loads(line) == dict(acc=0.5, n=3, t=2.0)


def _dist_command(script, args, env, tmp_path):
    fake = tmp_path / 'fake_python'
    record = tmp_path / 'args.txt'
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_ARGS"\n')
    fake.chmod(0o755)
    full_env = dict(os.environ, PYTHON=str(fake), FAKE_ARGS=str(record))
    full_env.update(env)
    proc = subprocess.run(
        ['bash', osp.join(TOOLS, script)] + args,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30)
    lines = record.read_text().splitlines() if record.exists() else None
    return proc, lines


def test_dist_scripts_forward_arguments(tmp_path):
    env = dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.7', PORT='29123')
    proc, lines = _dist_command('dist_train.sh',
                                ['cfg.py', '4', '--amp', '--resume'], env,
                                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert lines == [
        '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
        '--master_addr=10.0.0.7', '--nproc_per_node=4', '--master_port=29123',
        osp.join(TOOLS, 'train.py'), 'cfg.py', '--launcher', 'pytorch',
        '--amp', '--resume'
    ]
    proc, lines = _dist_command('dist_test.sh',
                                ['cfg.py', 'w.pth', '2', '--out', 'p.pkl'], {},
                                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert lines == [
        '-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0',
        '--master_addr=127.0.0.1', '--nproc_per_node=2', '--master_port=29500',
        osp.join(TOOLS, 'test.py'), 'cfg.py', 'w.pth', '--launcher', 'pytorch',
        '--out', 'p.pkl'
    ]


def test_dist_scripts_usage_errors(tmp_path):
    proc, lines = _dist_command('dist_train.sh', ['cfg.py'], {}, tmp_path)
    assert proc.returncode == 2 and lines is None
    assert 'usage: bash' in proc.stderr and 'CONFIG GPUS' in proc.stderr
    proc, lines = _dist_command('dist_test.sh', ['cfg.py', 'w.pth', 'two'], {},
                                tmp_path)
    assert proc.returncode == 2 and lines is None
    assert "GPUS must be a positive integer, got 'two'" in proc.stderr


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'mmrevcol_tool_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_argument_parsing(monkeypatch):
    """The scripts' parsers: --resume alone means auto, both local-rank
    spellings work."""
    train_tool, test_tool = _load_tool('train'), _load_tool('test')
    # parse_args exports LOCAL_RANK when it is unset; restore it afterwards
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.delenv('LOCAL_RANK')
    _, args = train_tool.parse_args(['c.py', '--resume'])
    assert args.resume == 'auto'
    _, args = train_tool.parse_args(['c.py', '--resume', 'x.pth', '--amp'])
    assert args.resume == 'x.pth' and args.amp
    _, args = train_tool.parse_args(['c.py'])
    assert args.resume is None and not args.amp and args.launcher == 'none'
    monkeypatch.delenv('LOCAL_RANK')  # the calls above exported 0
    _, args = train_tool.parse_args(
        ['c.py', '--cfg-options', 'a.b=1', 'c=[1,2]', '--local-rank', '3'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2]}
    assert args.local_rank == 3 and os.environ['LOCAL_RANK'] == '3'
    _, args = test_tool.parse_args(['c.py', 'w.pth', '--local_rank', '1'])
    assert args.local_rank == 1 and args.out is None
    with pytest.raises(SystemExit):
        train_tool.parse_args(['c.py', '--launcher', 'local'])


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_train_and_test_in_each_scope(toy, tmp_path, scope):
    """The config's default_scope picks the registries; the toy modules are
    registered in every library, so the same config runs in each scope."""
    runner = apis.train(
        str(toy / 'toy_cfg.py'),
        work_dir=str(tmp_path),
        cfg_options={
            'default_scope': scope,
            'train_cfg.max_iters': 1
        })
    assert runner.iter == 1
    assert runner.default_scope.scope_name == scope
    metrics = apis.test(
        str(toy / 'toy_cfg.py'),
        str(tmp_path / 'iter_1.pth'),
        work_dir=str(tmp_path),
        cfg_options={'default_scope': scope})
    assert metrics['count'] == 8 and np.isfinite(metrics['mae'])


def test_runners_built_in_one_process_are_independent(toy, tmp_path):
    """mmengine reuses named instances within one second; build_runner must
    give each runner its own scope, message hub and logger."""
    cfg_a = apis.build_train_config(
        str(toy / 'toy_cfg.py'), work_dir=str(tmp_path / 'a'))
    cfg_b = apis.build_train_config(
        str(toy / 'toy_cfg.py'),
        work_dir=str(tmp_path / 'b'),
        cfg_options={'default_scope': 'mmseg'})
    runner_a, runner_b = apis.build_runner(cfg_a), apis.build_runner(cfg_b)
    assert runner_a.experiment_name != runner_b.experiment_name
    assert runner_a.default_scope.scope_name == 'mmengine'
    assert runner_b.default_scope.scope_name == 'mmseg'
    assert runner_a.message_hub is not runner_b.message_hub
    assert runner_a.logger is not runner_b.logger
    assert 'experiment_name' not in cfg_b  # the caller's config is unchanged
