"""The reversible engine's non-finite check: a state rebuilt non-finite from
finite forward states stops the backward with the column and level; finite
runs and non-finite forwards are left alone."""
import pytest
import torch

from mmrevcol.models import RevCol, RevColV2
from mmrevcol.models.reversible import NonFiniteReconstructionError

from tests.helpers import TINY_V2


def v1(columns=3, **kwargs):
    arch = dict(channels=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                num_columns=columns)
    return RevCol(arch, **kwargs)


def v2(**kwargs):
    return RevColV2(dict(TINY_V2, bu_columns=2, td_columns=2), img_size=32,
                    **kwargs)


def overflow_on_recompute(monkeypatch, level):
    """Make ``level`` return inf where the reversible backward recomputes it
    (grad enabled); the forward (run without grad) stays finite."""
    forward = level.forward

    def patched(*args, **kwargs):
        out = forward(*args, **kwargs)
        if torch.is_grad_enabled():
            out = out + float('inf')
        return out

    monkeypatch.setattr(level, 'forward', patched)


def backward_of(model, x):
    model.zero_grad(set_to_none=True)
    outs = model(x)
    loss = sum((o.float()**2).mean() for o in outs)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in
                           model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('build,column,level', [
    (lambda: v1(keep_states_every=None), 2, 1),
    (lambda: v1(keep_states_every=None), 1, 3),
    (lambda: v2(keep_states_every=None), 3, 0),
    (lambda: v2(keep_states_every=None), 1, 2),
])
def test_non_finite_rebuild_names_column_and_level(monkeypatch, build,
                                                   column, level):
    model = build().train()
    overflow_on_recompute(monkeypatch, model.columns[column].levels[level])
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(NonFiniteReconstructionError) as info:
        backward_of(model, x)
    msg = str(info.value)
    assert f'at column {column} level {level} ' in msg
    assert f'the level-{level} state of column {column - 1}' in msg
    assert 'from finite forward states' in msg
    assert 'reversible=False' in msg and 'keep_states_every' in msg


def test_kept_column_is_not_rebuilt(monkeypatch):
    # keep_states_every=1 keeps every column: nothing is rebuilt, so an
    # offset in the recompute (which leaves the derivative of F alone)
    # changes neither the outcome nor a gradient
    model = v1(keep_states_every=1).train()
    x = torch.randn(1, 3, 32, 32)
    _, clean = backward_of(model, x)
    overflow_on_recompute(monkeypatch, model.columns[2].levels[1])
    _, grads = backward_of(model, x)
    assert grads.keys() == clean.keys()
    for name in clean:
        torch.testing.assert_close(grads[name], clean[name], msg=name)


def test_non_finite_forward_is_left_to_the_training_guard():
    # a NaN input makes every state non-finite: rebuilding from it is
    # expected, the engine raises nothing (the loss shows it)
    model = v1(keep_states_every=None).train()
    x = torch.randn(1, 3, 32, 32)
    x[0, 0, 0, 0] = float('nan')
    loss, _ = backward_of(model, x)
    assert not torch.isfinite(loss)


@pytest.mark.parametrize('build', [lambda **kw: v1(**kw),
                                   lambda **kw: v2(**kw)])
@pytest.mark.parametrize('keep', [None, 2])
def test_finite_run_unchanged(build, keep):
    model = build(keep_states_every=keep).train()
    x = torch.randn(2, 3, 32, 32)
    model.reversible = False
    loss_p, grads_p = backward_of(model, x)
    model.reversible = True
    loss_r, grads_r = backward_of(model, x)
    torch.testing.assert_close(loss_r, loss_p)
    assert grads_r.keys() == grads_p.keys()
    for name in grads_p:  # relative error of each gradient tensor
        err = ((grads_r[name] - grads_p[name]).norm() /
               grads_p[name].norm().clamp_min(1e-30))
        assert err <= 1e-4, f'{name}: relative error {err:.2e}'
