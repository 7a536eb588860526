"""NonFiniteGuardHook: a NaN/Inf loss or gradient stops training with the
iteration, the loss terms and the parameters, and the last good checkpoint
stays as it was; under AMP loss scaling skipped steps are only counted."""
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmrevcol  # noqa: F401  (registration)
from mmrevcol import apis
from mmrevcol.engine.hooks import NonFiniteGuardHook, NonFiniteTrainingError


class _Toy(BaseModel):
    """Squared error of a linear map. A sample with ``bomb`` set adds a
    term whose value is 0 but whose gradient (d sqrt(g)/dg at g=0) is inf:
    a finite loss with a non-finite gradient."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, inputs, target=None, bomb=None, mode='tensor'):
        pred = self.linear(inputs).squeeze(-1)
        if mode != 'loss':
            return pred
        losses = dict(loss_mse=((pred - target)**2).mean())
        if bomb is not None and bool(bomb.any()):
            losses['loss_gate'] = self.gate.pow(0.5).sum()
        return losses


class _Data(Dataset):
    """Eight samples in a fixed order; ``nan_at`` / ``bomb_at``: indices of
    a corrupt input (NaN) and of a sample with an inf gradient."""

    def __init__(self, nan_at=(), bomb_at=()):
        self.nan_at, self.bomb_at = set(nan_at), set(bomb_at)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        x = torch.randn(3, generator=torch.Generator().manual_seed(index))
        if index in self.nan_at:
            x[1] = float('nan')
        return dict(inputs=x, target=torch.tensor(float(index % 3)),
                    bomb=torch.tensor(index in self.bomb_at))


def _runner(work_dir, name, data, max_iters=4, optim_wrapper=None,
            hooks=(dict(type='NonFiniteGuardHook'), )):
    return Runner(
        model=_Toy(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=optim_wrapper or dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(hooks),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0))


def _snapshot(work_dir):
    """``{file name: (bytes, mtime_ns)}`` of the work dir's checkpoints."""
    out = {}
    for name in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, name)
        if osp.isfile(path) and (name.endswith('.pth')
                                 or name == 'last_checkpoint'):
            with open(path, 'rb') as f:
                out[name] = (f.read(), os.stat(path).st_mtime_ns)
    return out


@pytest.mark.parametrize('case', ['nan_input', 'inf_grad'])
def test_failure_stops_before_the_step_and_keeps_the_checkpoint(
        tmp_path, case):
    # iteration 3 reads samples 4 and 5
    data = _Data(nan_at=[5]) if case == 'nan_input' else _Data(bomb_at=[4])
    runner = _runner(tmp_path, f'guard_{case}', data)
    guard = [h for h in runner._hooks if isinstance(h, NonFiniteGuardHook)]
    assert len(guard) == 1
    seen = {}

    # record the files right after iteration 2's checkpoint
    class _Watch(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if runner.iter + 1 == 2:
                seen['files'] = _snapshot(tmp_path)
                seen['params'] = {k: v.clone() for k, v in
                                  runner.model.state_dict().items()}

    runner.register_hook(_Watch())
    with pytest.raises(NonFiniteTrainingError) as info:
        runner.train()
    msg = str(info.value)
    assert 'training stopped at iteration 3 ' in msg
    assert 'No checkpoint of this iteration is written' in msg
    if case == 'nan_input':
        assert 'non-finite loss terms loss, loss_mse' in msg
        assert 'loss_mse=nan' in msg
        assert 'first: linear.weight, linear.bias;' in msg
    else:
        # the loss is finite, the gradient of ``gate`` is not
        assert 'non-finite loss terms' not in msg
        assert '1 parameters got non-finite gradients, first: gate;' in msg
        assert 'loss_gate=0' in msg
    # no checkpoint of iteration 3; iteration 2's and last_checkpoint are
    # byte for byte (and mtime) what they were
    assert seen['files'] and 'iter_2.pth' in seen['files']
    assert _snapshot(tmp_path) == seen['files']
    assert not osp.exists(tmp_path / 'iter_3.pth')
    # the step was not taken: the weights are still iteration 2's
    for key, value in runner.model.state_dict().items():
        assert torch.isfinite(value).all(), key
        torch.testing.assert_close(value, seen['params'][key], msg=key)
    # and they are the weights in the last good checkpoint
    saved = torch.load(tmp_path / 'iter_2.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, saved[key], msg=key)


def test_finite_run_is_unchanged(tmp_path):
    def weights(hooks, sub):
        torch.manual_seed(0)  # same initial weights
        runner = _runner(tmp_path / sub, f'guard_finite_{sub}', _Data(),
                         hooks=hooks)
        runner.train()
        return runner.model.state_dict()

    plain = weights((), 'plain')
    guarded = weights((dict(type='NonFiniteGuardHook'), ), 'guarded')
    for key in plain:
        torch.testing.assert_close(guarded[key], plain[key], rtol=0, atol=0)


@pytest.mark.skipif(not hasattr(torch.amp, 'GradScaler'),
                    reason=f'torch {torch.__version__} has no CPU GradScaler')
def test_amp_skipped_steps_are_counted_not_failures(tmp_path, monkeypatch):
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    from mmrevcol.engine.hooks import nonfinite
    # AmpOptimWrapper insists on an accelerator; give it a CPU scaler
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    monkeypatch.setattr(amp_optimizer_wrapper, 'GradScaler',
                        lambda **kw: torch.amp.GradScaler('cpu', **kw))
    logged = []
    monkeypatch.setattr(nonfinite, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    runner = _runner(
        tmp_path, 'guard_amp', _Data(bomb_at=[2, 6]),
        optim_wrapper=dict(type='AmpOptimWrapper', dtype='bfloat16',
                           loss_scale=dict(init_scale=2.**10),
                           optimizer=dict(type='SGD', lr=0.1)))
    runner.train()  # no error: iterations 2 and 4 were skipped
    guard = [h for h in runner._hooks if isinstance(h, NonFiniteGuardHook)]
    assert guard[0].skipped_steps == 2
    assert runner.message_hub.get_scalar(
        'train/skipped_steps').current() == 2
    assert len(logged) == 2
    assert 'iteration 2: the AMP loss scaler skipped the optimizer step' \
        in logged[0]
    assert 'loss scale now 512' in logged[0]
    assert '2 steps skipped so far' in logged[1]
    # the scaler never applied the inf: gate had no other gradient
    assert runner.model.gate.item() == 0.0
    assert runner.optim_wrapper.loss_scaler.get_scale() == 2.**8


def test_run_train_adds_one_guard(monkeypatch):

    class _StubRunner:

        def __init__(self, hooks):
            self.hooks = list(hooks)

        def register_hook(self, hook):
            self.hooks.append(hook)

        def train(self):
            pass

    for existing in ([], [NonFiniteGuardHook(max_names=2)]):
        stub = _StubRunner(existing)
        monkeypatch.setattr(apis, 'build_runner', lambda cfg: stub)
        apis.run_train(Config(dict(resume=False)))
        guards = [h for h in stub.hooks if isinstance(h, NonFiniteGuardHook)]
        assert len(guards) == 1
        if existing:
            assert guards[0] is existing[0]  # the config's own is kept


@pytest.mark.parametrize('scope', ['mmengine', 'mmdet', 'mmseg',
                                   'mmpretrain'])
def test_config_can_add_it(scope):
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        hook = HOOKS.build(dict(type='NonFiniteGuardHook', max_names=3))
    assert isinstance(hook, NonFiniteGuardHook) and hook.max_names == 3


@pytest.mark.parametrize('kwargs,message', [
    (dict(max_names=0), 'max_names must be an int >= 1'),
    (dict(max_names=2.5), 'got 2.5'),
    (dict(log_skipped='yes'), "log_skipped must be a bool, got 'yes'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        NonFiniteGuardHook(**kwargs)


def test_grad_check_names_in_model_order():
    model = _Toy()
    hook = NonFiniteGuardHook()
    runner = SimpleNamespace(
        model=model,
        optim_wrapper=OptimWrapper(torch.optim.SGD(
            [model.gate, *model.linear.parameters()], lr=0.1)))
    hook.before_train(runner)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    assert hook.find_non_finite_grads(runner.optim_wrapper.optimizer) == []
    model.gate.grad[0] = float('inf')
    model.linear.bias.grad[0] = float('nan')
    # model order (named_parameters: a module's own parameters first), not
    # the optimizer's
    assert hook.find_non_finite_grads(runner.optim_wrapper.optimizer) == [
        'gate', 'linear.bias']
    hook.after_train(runner)
    assert 'step' not in vars(runner.optim_wrapper)
