"""ReversibleErrorHook: measures the reconstruction error during training."""
import math
import os.path as osp
import re
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.optim import OptimWrapper

import mmrevcol  # noqa: F401  (registration)
from mmrevcol.datasets.toy import make_toy_data
from mmrevcol.engine import ReversibleErrorHook
from mmrevcol.engine.hooks import reconstruction as hook_module
from mmrevcol.models import RevCol, reconstruction_errors
from mmrevcol.registry import installed_registries

from tests.helpers import ROOT, data_root_options, run_tool


class _Preprocessor(BaseDataPreprocessor):

    def forward(self, data, training=False):
        return dict(inputs=torch.stack(data['inputs']).float())


class _Model(BaseModel):

    def __init__(self, **backbone):
        super().__init__(data_preprocessor=_Preprocessor())
        self.backbone = RevCol(
            dict(channels=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                 num_columns=4), drop_path_rate=0.3, **backbone)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.backbone(inputs)


def _runner(model, it):
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    hub = MessageHub.get_instance(f'error_hook_{id(model)}_{it}')
    return SimpleNamespace(model=model, optim_wrapper=optim,
                           message_hub=hub, iter=it)


def _batch(n=2):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.rand(3, 64, 64, generator=g) for _ in range(n)])


def test_hook_logs_the_worst_column_every_interval(monkeypatch):
    warnings = []
    monkeypatch.setattr(hook_module, 'print_log',
                        lambda msg, **kw: warnings.append(msg))
    model = _Model().train()
    hook = ReversibleErrorHook(interval=3)
    hook.before_train(_runner(model, 0))
    batch = _batch()
    # iterations 1 and 2 (0-based 0, 1) are skipped, the 3rd is measured
    for it in (0, 1):
        runner = _runner(model, it)
        hook.after_train_iter(runner, it, batch)
        assert 'train/rev_recon_error_log10' not in runner.message_hub.log_scalars
    runner = _runner(model, 2)
    torch.manual_seed(5)
    hook.after_train_iter(runner, 2, batch)
    after = torch.rand(4)
    torch.manual_seed(5)
    # the RNG stream of training is untouched, the mode restored
    torch.testing.assert_close(after, torch.rand(4))
    assert model.backbone.training
    # the same numbers as the utility on the first image, drop path off
    model.backbone.eval()
    x = model.backbone.embed(torch.stack(batch['inputs'][:1]))
    expected = reconstruction_errors(model.backbone.stages(), x,
                                     keep_every=2)
    model.backbone.train()
    assert hook.last_errors == pytest.approx(expected, rel=1e-6)
    assert hook.last_errors[1] == 0.0  # column 1 is kept
    logged = runner.message_hub.get_scalar('train/rev_recon_error_log10')
    assert logged.current() == pytest.approx(math.log10(max(expected)),
                                             abs=1e-6)
    assert logged.current() < -4
    assert warnings == []


def test_hook_warns_above_the_threshold(monkeypatch):
    warnings = []
    monkeypatch.setattr(hook_module, 'print_log',
                        lambda msg, **kw: warnings.append((msg, kw)))
    model = _Model(keep_states_every=None).train()
    with torch.no_grad():  # a scale near the clamp amplifies the error
        model.backbone.columns[2].gamma1.fill_(1e-3)
    hook = ReversibleErrorHook(interval=1, warn_threshold=1e-3)
    hook.after_train_iter(_runner(model, 0), 0, _batch(1))
    assert len(warnings) == 1
    msg, kwargs = warnings[0]
    assert kwargs['level'] == 30
    assert 'keep_states_every (now None)' in msg and '> 0.001' in msg


def test_hook_under_amp_measures_in_low_precision():
    from mmengine.optim import AmpOptimWrapper
    model = _Model().train()
    fp32 = ReversibleErrorHook(interval=1)
    fp32.after_train_iter(_runner(model, 0), 0, _batch(1))
    runner = _runner(model, 0)
    # mmengine's AmpOptimWrapper insists on CUDA: bf16 autocast on CPU here
    with mock.patch('mmengine.optim.optimizer.amp_optimizer_wrapper.'
                    'is_cuda_available', return_value=True):
        runner.optim_wrapper = AmpOptimWrapper(
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            dtype='bfloat16')
    low = ReversibleErrorHook(interval=1)
    low.after_train_iter(runner, 0, _batch(1))
    # bf16 rounding in the recomputed levels: far above fp32's error
    assert max(low.last_errors) > 100 * max(fp32.last_errors)


@pytest.mark.parametrize('kwargs,match', [
    (dict(interval=0), 'interval must be an int >= 1, got 0'),
    (dict(interval=2.5), 'interval must be an int >= 1, got 2.5'),
    (dict(num_images=0), 'num_images must be an int >= 1, got 0'),
    (dict(warn_threshold=-1), 'warn_threshold must be a number >= 0, got -1'),
])
def test_hook_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReversibleErrorHook(**kwargs)


def test_hook_refuses_a_model_without_a_column_backbone():
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match='RevCol or RevColV2.*got Linear'):
        ReversibleErrorHook().before_train(_runner(model, 0))


def test_hook_is_registered_in_every_scope():
    for registry in installed_registries('HOOKS'):
        assert registry.get('ReversibleErrorHook') is ReversibleErrorHook


def _seg_options(root):
    return data_root_options(root) + [
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2']


def _det_options(root):
    ann = osp.join(root, 'annotations', 'instances_val2017.json')
    return data_root_options(root, 'train_dataloader.dataset.dataset') + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1']


def _cls_options(root):
    return data_root_options(root) + [
        'train_dataloader.batch_size=9', 'train_cfg.max_epochs=1']


@pytest.mark.parametrize('config,kind,data_kwargs,options', [
    ('upernet_revcolv2_toy_ade20k.py', 'ade20k',
     dict(num_train=4, num_val=2, img_size=64), _seg_options),
    ('mask_rcnn_revcolv2_toy_coco.py', 'coco',
     dict(num_train=4, num_val=2, seed=1), _det_options),
    ('revcolv2_toy_imagenet.py', 'imagenet',
     dict(num_train=18, num_val=9, img_size=48), _cls_options),
])
def test_hook_in_a_real_training_run(tmp_path, config, kind, data_kwargs,
                                     options):
    """Each pipeline's toy config with the hook added: the error shows in
    every training log line."""
    data = make_toy_data(kind, str(tmp_path / kind), **data_kwargs)
    cfg = tmp_path / 'with_hook.py'
    base = osp.join(ROOT, 'configs', 'toy', config)
    cfg.write_text(f'_base_ = [{base!r}]\n'
                   "custom_hooks = [dict(type='ReversibleErrorHook', "
                   'interval=1)]\n')
    proc = run_tool('train.py', str(cfg), '--work-dir', str(tmp_path / 'w'),
                    '--cfg-options', *options(data),
                    'default_hooks.logger.interval=1', cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    lines = [ln for ln in out.splitlines() if '(train)' in ln]
    values = [float(re.search(r'rev_recon_error_log10: (-?[0-9.]+)',
                              ln).group(1)) for ln in lines]
    # logged from the first iteration on (the hook runs before LoggerHook);
    # fp32, one rebuilt column at most: about 1e-7 to 1e-6
    assert len(values) == 2, '\n'.join(lines)
    assert all(-9 < v < -5 for v in values)
