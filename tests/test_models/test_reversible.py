"""The reversible engine: gradients equal plain autograd, memory stays flat."""
import os
import re
import socket
import pytest
import torch

from mmrevcol.models import RevCol, RevColV2, reconstruction_errors
from mmrevcol.models.reversible import saved_tensor_bytes

from tests.helpers import TINY_V2
from tests.helpers import ROOT


def v2(bu=2, td=2, **kwargs):
    arch = dict(TINY_V2, bu_columns=bu, td_columns=td)
    return RevColV2(arch, img_size=32, **kwargs)


def v1(columns=2, **kwargs):
    arch = dict(channels=[8, 16, 24, 32], depths=[1, 2, 1, 1],
                num_columns=columns)
    return RevCol(arch, **kwargs)


def weighted_loss(outs):
    # different weights per level so that a swapped gradient is caught
    return sum((o.float()**2).mean() * (k + 1) for k, o in enumerate(outs))


def grads_of(model, x, reversible, seed=1, autocast=None):
    model.reversible = reversible
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(x.requires_grad)
    torch.manual_seed(seed)
    ctx = (torch.autocast('cpu', dtype=autocast) if autocast else
           torch.autocast('cpu', enabled=False))
    with ctx:
        outs = model(x)
    loss = weighted_loss(outs)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return loss.detach(), grads, (x.grad.clone() if x.grad is not None
                                  else None)


def assert_grads_close(a, b, rtol):
    """Relative error of every gradient tensor, ||a - b|| / ||a||."""
    assert a.keys() == b.keys()
    for name in a:
        scale = a[name].norm().clamp_min(1e-30)
        err = (a[name] - b[name]).norm() / scale
        assert err <= rtol, f'{name}: relative error {err:.2e} > {rtol}'


@pytest.mark.parametrize('bu,td', [(1, 0), (2, 0), (1, 1), (2, 3), (5, 0)])
@pytest.mark.parametrize('frozen', [-1, 1])
@pytest.mark.parametrize('keep', [2, None])
def test_v2_reversible_grads_equal_plain(bu, td, frozen, keep):
    model = v2(bu, td, drop_path_rate=0.3, frozen_stages=frozen,
               keep_states_every=keep).train()
    x = torch.randn(2, 3, 40, 56, requires_grad=True)
    loss_p, g_p, gx_p = grads_of(model, x, reversible=False)
    loss_r, g_r, gx_r = grads_of(model, x, reversible=True)
    torch.testing.assert_close(loss_p, loss_r)
    assert_grads_close(g_p, g_r, rtol=1e-4)
    torch.testing.assert_close(gx_r, gx_p, rtol=1e-4, atol=1e-6)
    if frozen >= 0:
        assert all(p.grad is None for p in model.columns[0].parameters())
        assert model.patch_embed.weight.grad is None
    # the shortcut scales get gradients too
    if bu + td > 1:
        assert 'columns.1.gamma0' in g_r or 'columns.1.gamma3' in g_r


def global_rel_error(a, b):
    num = sum((a[n] - b[n]).square().sum() for n in a)
    den = sum(a[n].square().sum() for n in a)
    return (num / den).sqrt().item()


@pytest.mark.parametrize('columns', [1, 2, 5])
@pytest.mark.parametrize('frozen', [-1, 1])
def test_v1_reversible_grads_equal_plain(columns, frozen):
    """fp32, default ``keep_states_every=2``: every tensor within 1e-4."""
    model = v1(columns, drop_path_rate=0.3,
               frozen_stages=min(frozen, columns)).train()
    assert model.keep_states_every == 2
    x = torch.randn(2, 3, 64, 96, requires_grad=True)
    loss_p, g_p, gx_p = grads_of(model, x, reversible=False)
    loss_r, g_r, gx_r = grads_of(model, x, reversible=True)
    torch.testing.assert_close(loss_p, loss_r)
    assert_grads_close(g_p, g_r, rtol=1e-4)
    assert ((gx_r - gx_p).norm() / gx_p.norm()).item() < 1e-4
    if columns > 1:
        assert 'columns.1.gamma0' in g_r
    if frozen >= 0:
        assert all(p.grad is None for p in model.columns[0].parameters())


def test_v1_five_columns_rebuilt_from_the_last_only():
    """``keep_states_every=None``: the first column is rebuilt through 4
    inversions. Each runs the four levels 3 -> 0, every level dividing by
    alpha = 0.5 and feeding the next, so fp32 rounding grows ~10x per column
    here (``reconstruction_errors``: ~9e-7, 3e-6, 2e-5, 3e-4). The whole
    gradient still agrees within 1e-4; single first-column tensors within
    5e-4 (measured 1.2-2.0e-4). Keeping every second column (the default)
    brings every tensor within 1e-4 (test above); the float64 test below
    shows the computation itself is exact."""
    model = v1(5, drop_path_rate=0.3, keep_states_every=None).train()
    x = torch.randn(2, 3, 64, 96, requires_grad=True)
    _, g_p, _ = grads_of(model, x, reversible=False)
    _, g_r, _ = grads_of(model, x, reversible=True)
    assert global_rel_error(g_p, g_r) < 1e-4
    assert_grads_close(g_p, g_r, rtol=5e-4)
    errors = reconstruction_errors(model.stages(), model.embed(x.detach()))
    assert errors[0] > errors[-1] > 0  # it grows towards the first column
    kept = reconstruction_errors(model.stages(), model.embed(x.detach()),
                                 keep_every=2)
    # columns 1 and 3 are kept (exact); 0 and 2 are rebuilt once
    assert kept[1] == kept[3] == 0.0
    assert kept[0] < errors[0] / 10 and 0 < kept[2] < errors[2]
    # one inversion from exact states: the size of the last column's error
    assert max(kept) < 10 * errors[-1]


def test_keeping_every_column_rebuilds_nothing(monkeypatch):
    """``keep_states_every=1``: no inverse runs, the backward recomputes each
    level from the exact states (per-level checkpointing)."""
    from mmrevcol.models import reversible
    calls = []
    real = reversible.invert_level
    monkeypatch.setattr(reversible, 'invert_level',
                        lambda *a: calls.append(1) or real(*a))
    model = v1(5, drop_path_rate=0.3, keep_states_every=1).train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    _, g_p, gx_p = grads_of(model, x, reversible=False)
    _, g_r, gx_r = grads_of(model, x, reversible=True)
    assert calls == []
    assert_grads_close(g_p, g_r, rtol=1e-6)
    model.keep_states_every = 3  # columns 2 and 4 kept: 0, 1, 3 rebuilt
    grads_of(model, x, reversible=True)
    assert len(calls) == 3 * 4


@pytest.mark.parametrize('bad', [0, -1, 1.5, True, '2'])
def test_keep_states_every_is_validated(bad):
    with pytest.raises(ValueError, match=r'keep_states_every must be None .*'
                       + re.escape(repr(bad))):
        v1(2, keep_states_every=bad)
    with pytest.raises(ValueError, match='keep_states_every'):
        v2(1, 1, keep_states_every=bad)


def test_v1_reversible_exact_in_float64_with_five_columns():
    model = v1(5, drop_path_rate=0.3).double().train()
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64, requires_grad=True)
    _, g_p, gx_p = grads_of(model, x, reversible=False)
    _, g_r, gx_r = grads_of(model, x, reversible=True)
    assert_grads_close(g_p, g_r, rtol=1e-9)
    torch.testing.assert_close(gx_r, gx_p, rtol=1e-9, atol=1e-12)


def test_v2_reversible_exact_in_float64_with_pruned_levels():
    model = v2(2, 3, drop_path_rate=0.2, out_type='avg_featmap',
               out_indices=(3, )).double().train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    _, g_p, _ = grads_of(model, x, reversible=False)
    _, g_r, _ = grads_of(model, x, reversible=True)
    assert_grads_close(g_p, g_r, rtol=1e-10)


def test_drop_path_replayed_without_reseeding_global_rng():
    model = v2(2, 1, drop_path_rate=0.5).train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(3)
    model.reversible = True
    weighted_loss(model(x)).backward()
    after_rev = torch.rand(3)
    torch.manual_seed(3)
    model.reversible = False
    weighted_loss(model(x)).backward()
    after_plain = torch.rand(3)
    # the global generator advanced exactly as in a plain step
    torch.testing.assert_close(after_rev, after_plain)


@pytest.mark.parametrize('keep,rtol', [(2, 5e-2), (1, 1e-6)])
def test_bf16_autocast_cpu(keep, rtol):
    """bf16 has 8 mantissa bits (relative step 2**-8 = 3.9e-3). A rebuilt
    state differs from the forward's by fp32 rounding, which is enough for a
    bf16 cast in the recomputed level to round the other way: gradients
    then agree to a few bf16 steps, not to fp32 precision. With every column
    kept nothing is rebuilt, the recomputation sees the forward's inputs
    and the gradients match to fp32 rounding."""
    model = v2(2, 2, drop_path_rate=0.1, keep_states_every=keep).train()
    x = torch.randn(2, 3, 32, 32)
    loss_p, g_p, _ = grads_of(model, x, False, autocast=torch.bfloat16)
    loss_r, g_r, _ = grads_of(model, x, True, autocast=torch.bfloat16)
    torch.testing.assert_close(loss_p, loss_r, rtol=1e-2, atol=1e-3)
    assert_grads_close(g_p, g_r, rtol=rtol)
    # and the recomputation really ran under autocast: grads differ from fp32
    _, g_32, _ = grads_of(model, x, True)
    worst = max(((g_32[n] - g_r[n]).abs().max() / g_32[n].abs().max()).item()
                for n in g_32)
    assert worst > 1e-4


def test_bf16_autocast_cpu_v1_needs_kept_states():
    """V1, 5 columns under bf16: rebuilding the first column through four
    inversions loses the gradients (measured 0.7-1.0 relative for the worst
    tensor); with the default ``keep_states_every=2`` no column is rebuilt
    from a rebuilt one and every tensor is within a few bf16 steps
    (measured 1.3-2.0e-2)."""
    torch.manual_seed(0)
    model = v1(5, drop_path_rate=0.1).train()
    x = torch.randn(2, 3, 64, 64)
    _, g_p, _ = grads_of(model, x, False, autocast=torch.bfloat16)
    _, g_kept, _ = grads_of(model, x, True, autocast=torch.bfloat16)
    assert_grads_close(g_p, g_kept, rtol=5e-2)
    model.keep_states_every = None
    _, g_none, _ = grads_of(model, x, True, autocast=torch.bfloat16)
    assert global_rel_error(g_p, g_none) > 10 * global_rel_error(g_p, g_kept)


def test_eval_and_no_grad_use_the_plain_forward(monkeypatch):
    from mmrevcol.models import reversible
    calls = []
    real = reversible._ReversibleColumns.apply
    monkeypatch.setattr(reversible._ReversibleColumns, 'apply',
                        lambda *a: calls.append(1) or real(*a))
    model = v2(2, 2).train()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = model(x)[0]
    assert out.grad_fn is None and calls == []
    model.eval()
    model(x)
    assert calls == []
    model.train()
    model(x)
    assert calls == [1]


def _saved_bytes(model, x):
    with saved_tensor_bytes(exclude=model.parameters()) as counter:
        outs = model(x)
    loss = weighted_loss(outs)
    loss.backward()
    return counter.bytes


def _state_bytes(model, x):
    """Bytes of one column's built states (what a kept column adds)."""
    with torch.no_grad():
        states = model.columns[0](model.embed(x))
    return sum(t.untyped_storage().nbytes() for t in states if t is not None)


@pytest.mark.parametrize('name,build,columns,kept_extra', [
    # V2: 2 top-down columns after 2/4/8 bottom-up ones (4, 6, 10 columns:
    # keep2 keeps 2, 3, 5, the last one included)
    ('v2', lambda n: v2(n, 2), (2, 4, 8), (1, 2, 4)),
    # V1: 2, 4, 8 columns keep 1, 2, 4
    ('v1', lambda n: v1(n), (2, 4, 8), (0, 1, 3)),
])
def test_saved_memory_flat_in_columns_for_reversible_only(
        name, build, columns, kept_extra):
    x = torch.randn(1, 3, 64, 64)
    rev, kept, plain = [], [], []
    for n in columns:
        torch.manual_seed(0)
        model = build(n).train()
        model.keep_states_every = None
        model.reversible = True
        rev.append(_saved_bytes(model, x))
        model.keep_states_every = 2
        kept.append(_saved_bytes(model, x))
        model.reversible = False
        plain.append(_saved_bytes(model, x))
    # reversible: the same bytes whatever the number of columns
    assert max(rev) == min(rev), rev
    # plain autograd keeps every column: the same bytes per added column
    steps = [b - a for a, b in zip(columns, columns[1:])]
    per_col = [(plain[1] - plain[0]) / steps[0],
               (plain[2] - plain[1]) / steps[1]]
    assert per_col[0] > 0 and per_col[0] == pytest.approx(per_col[1], 0.01)
    assert plain[2] > 3 * rev[2]
    # keeping every 2nd column adds exactly one column's states per kept
    # column besides the last
    state = _state_bytes(model, x)
    assert [k - rev[0] for k in kept] == [e * state for e in kept_extra]
    assert plain[2] > 3 * kept[2]


def test_reconstruction_error_is_small():
    model = v2(3, 3).eval()
    x = model.embed(torch.randn(1, 3, 32, 32))
    errors = reconstruction_errors(model.stages(), x)
    assert len(errors) == len(model.columns) - 1
    assert max(errors) < 1e-4
    # a scale near the clamp limit amplifies errors: the guard sees it
    with torch.no_grad():
        model.columns[2].gamma1.fill_(1e-3)
    assert max(reconstruction_errors(model.stages(), x)) > max(errors)


def _destroy_process_group(wrappers):
    """Tear down DDP without the gloo shutdown deadlock: a gloo worker thread
    destroys each finished work object right after the work completes and
    needs the GIL for it; if the last process-group reference dies in the
    main thread during that window, ``~ProcessGroupGloo`` joins the worker
    while holding the GIL and both wait forever (seen once in CI). So: give
    the workers the GIL first, drop the DDP wrappers while the group is still
    registered, then destroy it."""
    import gc
    import time

    import torch.distributed as dist
    time.sleep(0.2)
    wrappers.clear()
    gc.collect()
    dist.destroy_process_group()


def test_find_unused_parameters_is_refused():
    """A real (one-process, gloo) DDP wrapper with find_unused_parameters=True
    gets a clear error; with False the reversible step runs."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:'
                            f'{_free_port()}', rank=0, world_size=1)
    wrappers = []
    try:
        wrappers.append(DDP(v2(1, 1).train(), find_unused_parameters=True))
        with pytest.raises(RuntimeError,
                           match='find_unused_parameters=False'):
            wrappers[-1](torch.randn(1, 3, 32, 32))
        wrappers.append(DDP(v2(1, 1).train(), find_unused_parameters=False))
        weighted_loss(wrappers[-1](torch.randn(1, 3, 32, 32))).backward()
        assert all(p.grad is not None for p in wrappers[-1].parameters())
        # the plain backbone is fine with either setting
        wrappers.append(DDP(v2(1, 1, reversible=False).train(),
                            find_unused_parameters=True))
        weighted_loss(wrappers[-1](torch.randn(1, 3, 32, 32))).backward()
    finally:
        _destroy_process_group(wrappers)


# ---------------------------------------------------------------- DDP
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, state, x, out_dir):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    wrappers = []
    try:
        torch.manual_seed(0)
        model = v2(2, 2).train()
        model.load_state_dict(state)
        wrappers.append(DDP(model, find_unused_parameters=False))
        chunk = x.chunk(world)[rank]
        for _ in range(2):  # two steps: gradient accumulation across calls
            weighted_loss(wrappers[0](chunk)).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        torch.save(grads, os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        _destroy_process_group(wrappers)


def test_ddp_two_processes_match_single_process(tmp_path):
    import torch.multiprocessing as mp
    torch.manual_seed(0)
    model = v2(2, 2).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3, 32, 32)
    # single process: mean over the two half-batch losses = DDP's average
    model.reversible = True
    for _ in range(2):
        loss = sum(weighted_loss(model(c)) for c in x.chunk(2)) / 2
        loss.backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    ctx = mp.get_context('spawn')
    port = _free_port()
    procs = [ctx.Process(target=_ddp_worker,
                         args=(r, 2, port, state, x, str(tmp_path)))
             for r in range(2)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=240)
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    for r in range(2):
        grads = torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
        assert_grads_close(ref, grads, rtol=1e-4)


# ---------------------------------------------------------------- benchmark
def test_memory_benchmark_rows_and_ratios(tmp_path):
    """The benchmark measures every mode on the same model: plain saves the
    most, ``rev`` the least and flat in the number of columns, ``keep1``
    (every column kept) has no reconstruction error; gradient errors are
    against plain autograd."""
    from analysis_lib import benchmark_memory, format_memory_table
    logged = []
    results = benchmark_memory({'tiny': lambda n: v1(n)}, columns=[2, 4],
                               img_size=64, steps=1, warmup=0,
                               keep_every=(1, 2), log=logged.append)
    assert [(r.model, r.columns) for r in results] == [('tiny', 2),
                                                       ('tiny', 4)]
    for r in results:
        m = r.modes
        assert list(m) == ['plain', 'rev', 'keep1', 'keep2']
        assert m['plain'].recon_error is None and m['plain'].grad_error is None
        # 2 columns: keep2 keeps only the last one, like rev
        assert (m['rev'].saved < m['keep2'].saved) == (r.columns == 4)
        assert m['keep2'].saved < m['keep1'].saved < m['plain'].saved
        assert m['keep1'].recon_error == 0.0
        assert m['keep1'].grad_error < 1e-6
        assert 0 < m['rev'].grad_error < 1e-4
        assert all(v.peak == v.saved for v in m.values())  # CPU
    assert results[0].modes['rev'].saved == results[1].modes['rev'].saved
    assert results[1].modes['plain'].saved > 1.5 * results[0].modes[
        'plain'].saved
    table = format_memory_table(results).splitlines()
    assert table[0].split() == ['model', 'cols', 'mode', 'saved', 'MB',
                                'saved', 'x', 'step', 's', 'time', 'x',
                                'recon', 'err', 'grad', 'err']
    assert len(table) == 1 + 2 * 4
    rev = table[2].split()
    plain_mb = results[0].modes['plain'].saved / 2**20
    rev_mb = results[0].modes['rev'].saved / 2**20
    assert rev[:3] == ['tiny', '2', 'rev']
    assert float(rev[4]) == pytest.approx(plain_mb / rev_mb, abs=0.01)
    assert len(logged) == 2 and logged[0].startswith('model')


def test_memory_benchmark_under_autocast_reports_autocast_error():
    """Under autocast the plain row's grad err is autocast's own error
    against fp32 (what the reversible modes' error compares with)."""
    from analysis_lib import benchmark_memory
    with torch.autocast('cpu', dtype=torch.bfloat16):
        results = benchmark_memory({'tiny': lambda n: v2(n, 1)}, columns=[2],
                                   img_size=32, steps=1, warmup=0,
                                   keep_every=(1, ), log=lambda line: None)
    m = results[0].modes
    # bf16 keeps 8 mantissa bits: gradients move by well over fp32 rounding
    assert 1e-4 < m['plain'].grad_error < 0.5
    # every column kept: nothing rebuilt, the recomputation repeats the
    # forward under the same autocast
    assert m['keep1'].grad_error < 1e-6


def test_memory_benchmark_tool_cli(tmp_path):
    import subprocess
    import sys
    root = ROOT
    plot = tmp_path / 'mem.png'
    out = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark_memory.py',
         '--models', 'v1-t', '--columns', '3', '4', '--img-size', '64',
         '--steps', '1', '--warmup', '0', '--keep-states-every', '2',
         '--amp', 'bf16', '--plot', str(plot)],
        cwd=root, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stderr
    assert 'autocast bf16' in out.stdout
    assert 'v1-t rev: saved bytes vary by 0.0% over 3..4 columns' in \
        out.stdout
    assert 'v1-t keep2 @ 4 columns' in out.stdout
    assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    bad = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark_memory.py',
         '--keep-states-every', '0'], cwd=root, capture_output=True,
        text=True, timeout=120)
    assert bad.returncode == 2 and '--keep-states-every must be >= 1' in \
        bad.stderr


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_cpu_step_runs_without_warnings(dtype):
    """fp16 and bf16 autocast are captured and re-entered with the current
    ``torch.autocast`` API: no deprecation or other warning in a step."""
    import warnings
    model = v1(3, drop_path_rate=0.2).train()
    x = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with torch.autocast('cpu', dtype=dtype):
            outs = model(x)
        assert all(o.dtype in (dtype, torch.float32) for o in outs)
        weighted_loss(outs).backward()
    assert [str(w.message) for w in caught] == []
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters())
