"""torch.compile of RevCol / RevColV2: compiled levels inside the reversible
engine (``compile_levels``), the whole model compiled around it (what
mmengine's ``compile=True`` does to ``train_step``), reconstruction of the
compiled recomputation, and the skip message where torch cannot compile.

Gradient tolerances were measured (CPU, fp32, these archs, aot_eager):
compiled vs eager gradients of the same mode differ by 0 (RevColV2, plain
and reversible) to 1.6e-8 relative (RevCol plain); the compiled no-grad
forward and the compiled with-grad recomputation are separate graphs of the
same arithmetic. Reversible vs plain eager RevCol differ by ~4e-6."""
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from mmrevcol.models.backbones.revcol import RevCol
from mmrevcol.models.backbones.revcolv2 import RevColV2
from mmrevcol.models.reversible import (compile_column_levels,
                                        reconstruction_errors)
from mmrevcol.utils import compat
from tests.helpers import TINY_V2

TINY_V1 = dict(channels=(8, 16, 24, 32), depths=(1, 1, 1, 1), num_columns=2)
#: 3 columns: keep_states_every=None rebuilds two in a row
SMALL_V2 = dict(TINY_V2, bu_columns=2, td_columns=1)

AOT_REASON = compat.compile_skip_reason('aot_eager')
INDUCTOR_REASON = compat.compile_skip_reason('inductor', 'cpu')
needs_compile = pytest.mark.skipif(AOT_REASON is not None,
                                   reason=str(AOT_REASON))
WHOLE_REASON = AOT_REASON or compat.whole_model_compile_skip_reason()
needs_whole_compile = pytest.mark.skipif(WHOLE_REASON is not None,
                                         reason=str(WHOLE_REASON))


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    import torch._dynamo
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def build(kind, **kwargs):
    torch.manual_seed(0)
    if kind == 'v2':
        return RevColV2(arch=SMALL_V2, img_size=32, keep_states_every=None,
                        **kwargs)
    return RevCol(arch=TINY_V1, keep_states_every=None, **kwargs)


def step_grads(model, x, forward=None):
    """Gradients of one training step (``forward`` defaults to model)."""
    model.train()
    model.zero_grad(set_to_none=True)
    outs = (model if forward is None else forward)(x)
    sum(o.float().square().mean() for o in outs).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()
            if p.grad is not None}


def rel_error(grads, ref):
    assert set(grads) == set(ref)
    num = sum((grads[n].double() - g.double()).square().sum()
              for n, g in ref.items())
    den = sum(g.double().square().sum() for g in ref.values())
    return (num / den).sqrt().item()


@needs_compile
@pytest.mark.parametrize('kind,reversible', [('v2', False), ('v2', True),
                                             ('v1', True)])
def test_compiled_levels_match_eager(kind, reversible):
    """compile_levels (aot_eager): train-step gradients and eval outputs of
    the compiled model equal the eager model's; two steps (the second
    reuses the compiled graphs)."""
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    eager = build(kind, reversible=reversible)
    ref = step_grads(eager, x)
    model = build(kind, reversible=reversible,
                  compile_levels=dict(backend='aot_eager'))
    assert model.compile_levels is True
    tol = 1e-5 if reversible else 1e-6
    assert rel_error(step_grads(model, x), ref) < tol
    assert rel_error(step_grads(model, x), ref) < tol
    eager.eval()
    model.eval()
    with torch.no_grad():
        for a, b in zip(model(x), eager(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the state dict is the eager model's (no wrapper prefixes)
    assert list(model.state_dict()) == list(eager.state_dict())


@needs_whole_compile
@pytest.mark.parametrize('kind', ['v1', 'v2'])
@pytest.mark.parametrize('reversible', [False, True])
def test_whole_model_compiled(kind, reversible):
    """torch.compile of the whole model (as mmengine's compile=True does
    to train_step): one graph when plain; around the reversible engine's
    autograd function the graph breaks, and the gradients are still the
    eager ones."""
    x = torch.randn(2, 3, 32, 32)
    ref = step_grads(build(kind, reversible=reversible), x)
    model = build(kind, reversible=reversible)
    grads = step_grads(model, x, torch.compile(model, backend='aot_eager'))
    assert rel_error(grads, ref) < (1e-5 if reversible else 1e-6)


@needs_compile
def test_compiled_recomputation_rebuilds_states():
    """keep_states_every=None: every column is rebuilt from the last one by
    the compiled levels; the reconstruction errors stay at the eager
    level, and the reversible gradients of the compiled model match the
    eager plain ones as closely as eager reversible ones do."""
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    eager = build('v2', reversible=True)
    model = build('v2', reversible=True,
                  compile_levels=dict(backend='aot_eager'))
    with torch.no_grad():
        errs_eager = reconstruction_errors(eager.stages(), eager.embed(x))
        errs = reconstruction_errors(model.stages(), model.embed(x))
    assert len(errs) == len(errs_eager) == 2
    assert max(errs) < 1e-5
    assert max(errs) <= 4 * max(errs_eager) + 1e-7
    plain = step_grads(build('v2', reversible=False), x)
    err_eager = rel_error(step_grads(eager, x), plain)
    err_compiled = rel_error(step_grads(model, x), plain)
    assert err_compiled < 1e-5
    assert err_compiled <= 4 * err_eager + 1e-7


@pytest.mark.skipif(INDUCTOR_REASON is not None,
                    reason=str(INDUCTOR_REASON))
def test_inductor_smoke():
    """One tiny reversible RevColV2 with inductor-compiled levels: a train
    step with the eager gradients, then an eval forward."""
    arch = dict(TINY_V2, bu_columns=1, td_columns=1)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    eager = RevColV2(arch=arch, img_size=32, keep_states_every=None)
    torch.manual_seed(0)
    model = RevColV2(arch=arch, img_size=32, keep_states_every=None,
                     compile_levels=True)
    assert rel_error(step_grads(model, x), step_grads(eager, x)) < 1e-5
    model.eval()
    eager.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[3], eager(x)[3], rtol=1e-4,
                                   atol=1e-5)


@needs_whole_compile
def test_mmengine_runner_compile_true(tmp_path):
    """An mmengine Runner with ``compile`` set (backend aot_eager) trains a
    reversible RevColV2 model to the parameters of the eager run, then
    validates."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Model(BaseModel):

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.backbone = RevColV2(arch=dict(TINY_V2, bu_columns=1,
                                               td_columns=1), img_size=32,
                                     out_type='avg_featmap',
                                     out_indices=(3, ))
            self.head = nn.Linear(TINY_V2['embed_dims'], 1)

        def forward(self, inputs, target=None, mode='tensor'):
            pred = self.head(self.backbone(torch.stack(inputs))[0])[:, 0]
            if mode == 'loss':
                return dict(loss=(pred - torch.stack(target)).square().mean())
            return pred

    gen = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(3, 32, 32, generator=gen),
                 target=torch.tensor(float(i))) for i in range(4)]

    def train(compile_cfg, name):
        model = Model()
        runner = Runner(
            model=model, work_dir=str(tmp_path / name),
            train_dataloader=DataLoader(data, batch_size=2,
                                        collate_fn=lambda b: dict(
                                            inputs=[d['inputs'] for d in b],
                                            target=[d['target'] for d in b])),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
            train_cfg=dict(by_epoch=False, max_iters=2),
            default_hooks=dict(checkpoint=None),
            cfg=dict(compile=compile_cfg), experiment_name=name)
        runner.train()
        compiled = runner.model.train_step is not Model.train_step.__get__(
            runner.model)
        model.eval()
        with torch.no_grad():
            out = model.val_step(dict(inputs=[d['inputs'] for d in data]))
        return dict(model.named_parameters()), out, compiled

    eager, out_eager, _ = train(None, 'eager')
    params, out, compiled = train(dict(backend='aot_eager'), 'compiled')
    assert compiled  # the runner did wrap train_step
    for name, p in eager.items():
        torch.testing.assert_close(params[name], p, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, out_eager, rtol=1e-5, atol=1e-6)


def test_skip_message_on_old_torch(monkeypatch):
    """Where torch cannot compile, compile_skip_reason says why and
    compile_levels=True warns and keeps the levels eager."""
    monkeypatch.setattr(compat, 'TORCH_VERSION', (2, 0, 1))
    reason = compat.compile_skip_reason('aot_eager')
    assert reason == ('torch.compile of RevCol needs torch >= 2.1 '
                      '(nn.Module.compile), got torch 2.0.1')
    messages = []
    import mmengine.logging
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, *a, **k: messages.append(msg))
    model = build('v2', compile_levels=True)
    assert model.compile_levels is False
    assert [m for m in messages if 'compile' in m] == [
        f'compile_levels skipped: {reason}; the levels run eagerly']
    assert all(getattr(lv, '_compiled_call_impl', None) is None
               for col in model.columns for lv in col.levels
               if lv is not None)
    with pytest.raises(RuntimeError, match='needs torch >= 2.1'):
        compat.compile_module(nn.Linear(2, 2))


def test_skip_reason_without_cpp_compiler(monkeypatch):
    if AOT_REASON is not None:
        pytest.skip(AOT_REASON)
    monkeypatch.setattr(compat.shutil, 'which', lambda name: None)
    assert 'needs a C++ compiler' in compat.compile_skip_reason(
        'inductor', 'cpu')
    assert compat.compile_skip_reason('inductor', 'cuda') is None
    assert compat.compile_skip_reason('aot_eager', 'cpu') is None
    assert compat.compile_skip_reason('inductor', None) is None


def test_compile_levels_rejects_bad_value():
    with pytest.raises(TypeError, match="compile_levels must be a bool or a "
                       "dict of torch.compile options, got 'yes'"):
        build('v1', compile_levels='yes')
    assert compile_column_levels([], False) is False
    assert build('v1').compile_levels is False


def test_raise_recompile_limit_never_lowers():
    import torch._dynamo.config as config
    name = ('recompile_limit' if hasattr(config, 'recompile_limit') else
            'cache_size_limit')
    old = getattr(config, name)  # (monkeypatch breaks torch 2.1's config)
    try:
        setattr(config, name, 8)
        assert compat.raise_recompile_limit(40) == 40
        assert getattr(config, name) == 40
        assert compat.raise_recompile_limit(3) == 40
    finally:
        setattr(config, name, old)


@needs_compile
def test_whole_model_compile_refused_on_old_torch(monkeypatch):
    """On a torch that cannot trace the column engine (simulated), a
    compiled model stops with the reason instead of training wrongly."""
    monkeypatch.setattr(compat, 'TORCH_VERSION', (2, 1, 2))
    reason = compat.whole_model_compile_skip_reason()
    assert reason.startswith('torch 2.1.2 cannot trace the RevCol column '
                             'engine inside torch.compile (verified from '
                             'torch 2.13)')
    assert 'compile_levels=True' in reason
    model = build('v1', reversible=False)
    with pytest.raises(Exception, match='cannot trace the RevCol column'):
        torch.compile(model, backend='aot_eager')(torch.randn(1, 3, 32, 32))
    # eager runs are unaffected
    assert len(model(torch.randn(1, 3, 32, 32))) == 4
