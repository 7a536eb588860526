"""The reversible engine: run a sequence of columns keeping one column alive.

:func:`run_columns` runs *stages* of :class:`~mmrevcol.models.columns.RevColumn`
objects. A stage is a list of columns sharing one input: the first stage's
input is given (stem output / patch tokens), a later stage's input is made by
its ``input_fn`` from the final states of the stage before it (RevColV2: the
top-down columns read the normalised top level of the last bottom-up column).

With ``reversible=True`` and grad enabled, the forward runs without building
a graph and keeps only: the first stage input, the later stage inputs, the
last column's states and the few states that leave the reversible stream
(levels a column does not build but the next one reads), plus, with
``keep_every=k``, the states of every ``k``-th column. The backward walks
the columns from last to first; for each level, in reverse order, it
recomputes ``F`` with grad (restoring the RNG state of the forward and the
autocast state), rebuilds the previous state with
:func:`~mmrevcol.models.columns.invert_level`, and back-propagates through
``F + gamma * x_prev``. Parameter gradients accumulate through the normal
autograd machinery (so DDP hooks and gradient accumulation work); parameters
are not inputs of the autograd function.

Frozen columns cost nothing in the backward: a column "needs a gradient"
when it, a column before it or a stage input at or before it has something
that does (a parameter with ``requires_grad``; ``x`` when it requires grad;
an ``input_fn`` whose output requires grad for detached states, probed once
in the forward). The backward stops at the first column that needs one (with
``frozen_stages=k``: the first trainable column): it recomputes that
column's ``F`` and rebuilds its previous states (its shortcut scales need
them) without asking for their gradients, and never recomputes the columns
before it. A stage input whose gradient is needed (RevColV2's ``td_norm`` /
``td_pos_embed`` with every bottom-up column frozen) still runs ``input_fn``
on the rebuilt states; ``x`` gets no gradient (None) when it needs none.

Why ``keep_every``: the inverse divides by ``gamma`` (0.5 at init) and feeds
each rebuilt level into the next level's inverse, so rounding errors grow
with every rebuilt column (``reconstruction_errors`` measures it). In fp32
that is ~1e-6 per column for V2 but ~4x per column for V1 (a random-init
16-column RevCol-B rebuilds its first column with a relative error of 20).
Under autocast, a rebuilt input that differs from the forward's by one fp32
ulp can round to a different bf16/fp16 value, so each rebuilt column starts
from an error of the low-precision epsilon. A kept column's states are exact,
so the backward never rebuilds more than ``k - 1`` columns in a row; the
cost is one column's states (a few MB: no block activations) per kept
column.
"""
import contextlib
import logging
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
from torch.nn.parallel import DistributedDataParallel

from ..utils import compat
from .columns import NUM_LEVELS, RevColumn, invert_level

States = List[Optional[torch.Tensor]]


class TokenBridge(NamedTuple):
    """The reversible link between stages whose states have different token
    sets (RevColV2 masked pre-training: the bottom-up columns hold the
    visible tokens ``(B, n, C)``, the top-down columns all ``(B, N, C)``).

    :meth:`forward` scatters the visible tokens into the full token grid,
    filling the masked positions with zeros; :meth:`inverse` gathers them
    back and is its exact inverse (and, both being linear, the gradient of
    :meth:`forward` is :meth:`inverse` of the output gradient). The first
    column after the bridge reads the scattered states twice: the shortcut
    ``gamma_i * x_i`` and its inter-column projection of the neighbouring
    level, so the masked positions of those two inputs are zero.

    Attributes:
        ids_keep (Tensor): ``(B, n)`` indices of the visible tokens.
        num_tokens (int): ``N``, the full token count.
    """
    ids_keep: torch.Tensor
    num_tokens: int

    def _index(self, t: torch.Tensor) -> torch.Tensor:
        return self.ids_keep.unsqueeze(-1).expand(-1, -1, t.shape[-1])

    def forward(self, states: States) -> States:
        out: States = []
        for t in states:
            if t is None:
                out.append(None)
                continue
            full = t.new_zeros(t.shape[0], self.num_tokens, t.shape[-1])
            out.append(full.scatter(1, self._index(t), t))
        return out

    def inverse(self, states: States) -> States:
        return [None if t is None else torch.gather(t, 1, self._index(t))
                for t in states]

    def project(self, t: torch.Tensor) -> torch.Tensor:
        """Set the filled (masked) positions of a full-grid state to their
        exact value, zero; visible positions are unchanged."""
        visible = t.new_zeros(t.shape[0], self.num_tokens, 1)
        visible[:, :, 0].scatter_(1, self.ids_keep, 1.)
        return t * visible


class ColumnStage(NamedTuple):
    """Columns that share one input.

    Attributes:
        columns (list[RevColumn]): The columns, in order.
        input_fn (callable | None): Makes this stage's input from the previous
            stage's final states; ``None`` for the first stage.
        bridge (TokenBridge | None): Maps the previous stage's final states
            to what this stage's first column reads as its previous column
            (``input_fn`` gets them unmapped); None: unchanged.
    """
    columns: Sequence[RevColumn]
    input_fn: Optional[Callable[[States], torch.Tensor]] = None
    bridge: Optional[TokenBridge] = None


def _flatten(stages: Sequence[ColumnStage]):
    cols = []
    for k, stage in enumerate(stages):
        if (k == 0) != (stage.input_fn is None):
            raise ValueError('only the first stage takes the external input; '
                             'every later stage needs an input_fn')
        for col in stage.columns:
            cols.append((k, col))
    if not cols:
        raise ValueError('run_columns needs at least one column')
    return cols


def _run_plain(stages: Sequence[ColumnStage], x: torch.Tensor,
               before_level=None, keep_all: bool = False):
    states, inputs, history = None, [], []
    c = 0
    for k, stage in enumerate(stages):
        inp = x if k == 0 else stage.input_fn(states)
        if k > 0 and stage.bridge is not None:
            states = stage.bridge.forward(states)
        inputs.append(inp)
        for col in stage.columns:
            hook = None if before_level is None else (
                lambda i, c=c, states=states: before_level(c, i, states))
            states = col(inp, states, before_level=hook)
            if keep_all:
                history.append(states)
            c += 1
    return states, inputs, history


# ----------------------------------------------------------------- RNG / amp
def _cuda_devices(tensor: torch.Tensor) -> List[int]:
    return [tensor.device.index or 0] if tensor.is_cuda else []


def _get_rng(devices):
    return (torch.get_rng_state(),
            [torch.cuda.get_rng_state(d) for d in devices])


def level_uses_rng(level: torch.nn.Module) -> bool:
    """Whether running ``level`` now draws random numbers, so that the
    reversible backward must replay the forward's RNG state to recompute it.

    A level says so itself with a ``uses_rng()`` method; otherwise it does
    when one of its modules in training mode is a dropout with ``p > 0`` or
    has a positive ``drop_prob`` (mmcv's and timm's ``DropPath``). Levels
    without active randomness (evaluation, ``drop_path_rate=0``) cost no
    RNG-state capture in the forward and no fork/restore in the backward.
    """
    own = getattr(level, 'uses_rng', None)
    if callable(own):
        return bool(own())
    for m in level.modules():
        if not m.training:
            continue
        if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0:
            return True
        if getattr(m, 'drop_prob', 0) > 0:
            return True
    return False


@contextlib.contextmanager
def _rng_restored(state, devices):
    """Run with the recorded RNG state, leaving the global generators as they
    were (no reseeding), like ``torch.utils.checkpoint``; ``state=None``
    (the level draws no random numbers): run as is."""
    if state is None:
        yield
        return
    with compat.fork_rng(devices, device_type='cuda'):
        torch.set_rng_state(state[0])
        for d, s in zip(devices, state[1]):
            torch.cuda.set_rng_state(s, d)
        yield


def _amp_device_types():
    return ('cpu', 'cuda') if torch.cuda.is_available() else ('cpu', )


def _capture_autocast():
    return [(dt, *compat.autocast_state(dt)) for dt in _amp_device_types()]


@contextlib.contextmanager
def _autocast_restored(captured):
    with contextlib.ExitStack() as stack:
        for device_type, enabled, dtype in captured:
            stack.enter_context(
                torch.autocast(device_type=device_type, dtype=dtype,
                               enabled=enabled))
        yield


def _check_ddp() -> None:
    active = getattr(DistributedDataParallel, '_get_active_ddp_module',
                     None)
    ddp = active() if active is not None else None
    if ddp is not None and getattr(ddp, 'find_unused_parameters', False):
        raise RuntimeError(
            'reversible RevCol backbones compute parameter gradients inside '
            'their own backward, so DistributedDataParallel must run with '
            'find_unused_parameters=False (or static_graph=True); got '
            'find_unused_parameters=True. Set it to False in '
            "model_wrapper_cfg, or build the backbone with reversible=False.")


def check_keep_every(keep_every) -> Optional[int]:
    """Validate ``keep_every`` (None or an int >= 1) and return it."""
    if keep_every is not None and (not isinstance(keep_every, int)
                                   or isinstance(keep_every, bool)
                                   or keep_every < 1):
        raise ValueError(f'keep_states_every must be None (keep only the '
                         f'last column) or an int >= 1, got {keep_every!r}')
    return keep_every


def _is_kept(c: int, num_columns: int, keep_every: Optional[int]) -> bool:
    """Whether column ``c``'s states are saved for backward (the last
    column's always are)."""
    return c == num_columns - 1 or (keep_every is not None
                                    and (c + 1) % keep_every == 0)


def _drop(_):
    return None


def _input_needs_grad(input_fn: Callable[[States], torch.Tensor],
                      states: States) -> bool:
    """Whether ``input_fn`` makes an input that needs a gradient from
    detached ``states`` (it has parameters that need one). Runs it once with
    grad, saving nothing for backward."""
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(
            _drop, _drop):
        return input_fn(states).requires_grad


def _grad_flags(stages: Sequence[ColumnStage], input_grads: dict):
    """Where the backward needs gradients.

    Args:
        stages (list[ColumnStage]): The column stages.
        input_grads (dict): ``k -> bool``: stage ``k``'s input needs a
            gradient for its own sake (``x`` requires grad, ``input_fn`` has
            parameters that do); missing keys mean False.

    Returns:
        tuple[list[bool], list[bool]]: Per stage, whether its input's
        gradient is needed, and per column, whether its states' gradient is
        needed: something at or before them needs one.
    """
    need_in, need_out, acc = [], [], False
    for k, stage in enumerate(stages):
        acc = acc or input_grads.get(k, False)
        need_in.append(acc)
        for col in stage.columns:
            acc = acc or any(p.requires_grad for p in col.parameters())
            need_out.append(acc)
    return need_in, need_out


def _add(a: Optional[torch.Tensor], b: Optional[torch.Tensor]):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


# ------------------------------------------------------------ the function
class _ReversibleColumns(torch.autograd.Function):
    """Inputs: ``stages`` and ``keep_every`` (not tensors), ``dummy`` (an
    empty tensor that requires grad, so the backward runs even when ``x``
    needs no grad) and ``x``. Outputs: the built levels of the last column,
    in its order. The backward walks back only as far as some gradient is
    needed (:func:`_grad_flags`)."""

    @staticmethod
    def forward(ctx, stages, keep_every, dummy, x):
        _check_ddp()
        cols = _flatten(stages)
        devices = _cuda_devices(x)
        # ``leaving``: previous-column states the backward cannot rebuild
        # (levels the next column does not build) or must not (kept columns)
        rng, leaving, input_grads = {}, {}, {}

        def record(c, i, prev):
            k, col = cols[c]
            if level_uses_rng(col.levels[i]):
                rng[(c, i)] = _get_rng(devices)
            if prev is not None and i == col.order[0]:
                # first column of a later stage: probe its input_fn, unless
                # a gradient is needed before it anyway (the usual unfrozen
                # case, where the probe would be wasted forward work)
                if k != cols[c - 1][0] and not (
                        ctx.needs_input_grad[3] or any(
                            p.requires_grad for _, earlier in cols[:c]
                            for p in earlier.parameters())):
                    bridge = stages[k].bridge
                    input_grads[k] = _input_needs_grad(
                        stages[k].input_fn,
                        prev if bridge is None else bridge.inverse(prev))
                kept = _is_kept(c - 1, len(cols), keep_every)
                for lv in range(NUM_LEVELS):
                    if prev[lv] is not None and (kept or lv not in col.order):
                        leaving[(c - 1, lv)] = prev[lv]

        # Function.forward runs with grad disabled: no graph is built and
        # only the tensors saved below outlive this call.
        states, inputs, _ = _run_plain(stages, x, before_level=record)
        last = cols[-1][1]
        outputs = [states[i] for i in last.order]
        ctx.engine = (stages, cols, rng, devices, _capture_autocast())
        ctx.num_inputs = len(inputs)
        ctx.input_grads = input_grads
        ctx.leaving_keys = list(leaving)
        ctx.save_for_backward(*inputs, *outputs, *leaving.values())
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        stages, cols, rng, devices, autocast_state = ctx.engine
        saved = ctx.saved_tensors
        n_in, last = ctx.num_inputs, cols[-1][1]
        inputs = saved[:n_in]
        outputs = saved[n_in:n_in + len(last.order)]
        leaving = dict(zip(ctx.leaving_keys, saved[n_in + len(last.order):]))

        y: States = [None] * NUM_LEVELS
        g: States = [None] * NUM_LEVELS
        for i, out, grad in zip(last.order, outputs, grad_outputs):
            y[i], g[i] = out.detach(), grad
        need_in, need_out = _grad_flags(
            stages, {0: ctx.needs_input_grad[3], **ctx.input_grads})
        grad_x = None
        c = len(cols) - 1
        # device-side finiteness flags of every rebuilt state, checked with
        # one sync after the walk (see _check_rebuilt_finite)
        rebuilt_flags: List[RebuiltFlag] = []
        with torch.enable_grad(), _autocast_restored(autocast_state):
            for k in range(len(stages) - 1, -1, -1):
                stage = stages[k]
                s = inputs[k].detach()
                grad_s = None
                for col in reversed(stage.columns):
                    if not need_out[c]:  # nor anything before it
                        break
                    known = [leaving.get((c - 1, lv)) for lv in
                             range(NUM_LEVELS)]
                    first_in_stage = col is stage.columns[0]
                    project = (stage.bridge.project if first_in_stage
                               and stage.bridge is not None else None)
                    y, g, gs = _column_backward(
                        col, s, y, g, known, need_in[k],
                        c > 0 and need_out[c - 1], rng, c, devices, project,
                        rebuilt_flags)
                    grad_s = _add(grad_s, gs)
                    c -= 1
                if not need_in[k]:
                    break
                if k > 0 and stage.bridge is not None:
                    # back through the bridge (linear: gradients map as the
                    # states do)
                    y = stage.bridge.inverse(y)
                    g = stage.bridge.inverse(g)
                if k > 0:
                    # y holds the final states of stage k-1 (as rebuilt);
                    # route the stage input's gradient through input_fn.
                    need_y = c >= 0 and need_out[c]
                    leaves = [t.detach().requires_grad_(need_y)
                              if t is not None else None for t in y]
                    s_again = stage.input_fn(leaves)
                    if grad_s is not None and s_again.requires_grad:
                        torch.autograd.backward(s_again, grad_s)
                    g = [_add(gi, leaf.grad if leaf is not None else None)
                         for gi, leaf in zip(g, leaves)]
                else:
                    grad_x = grad_s
        _check_rebuilt_finite(rebuilt_flags, saved, len(cols))
        return None, None, None, grad_x


class RebuiltFlag(NamedTuple):
    """A 0-dim bool tensor on the states' device: whether the inverse of
    ``column``'s ``level`` rebuilt an all-finite state of the column before
    it."""
    finite: torch.Tensor
    column: int
    level: int


class NonFiniteReconstructionError(FloatingPointError):
    """The reversible backward rebuilt a non-finite state from finite
    forward states (see :func:`_check_rebuilt_finite`)."""


def _all_finite(t: torch.Tensor) -> torch.Tensor:
    """0-dim bool tensor on ``t``'s device, no host sync: one reduction
    pass (``aminmax`` propagates NaN, and an inf is the min or the max)
    instead of ``isfinite(t).all()``'s four."""
    if t.numel() == 0:
        return torch.ones((), dtype=torch.bool, device=t.device)
    low, high = torch.aminmax(t)
    return torch.isfinite(low) & torch.isfinite(high)


def _check_rebuilt_finite(flags: Sequence[RebuiltFlag],
                          saved: Sequence[torch.Tensor],
                          num_columns: int) -> None:
    """Raise :class:`NonFiniteReconstructionError` when a rebuilt state is
    non-finite although every state the forward saved is finite.

    The per-level flags are computed on the device as the backward goes;
    this is the one host sync (``.item()``) of the check, once per
    backward; the forward's saved states are only looked at when a rebuilt
    one is non-finite. A non-finite forward (a NaN loss, an inf input) is
    left to the training loop's own guard
    (:class:`~mmrevcol.engine.hooks.NonFiniteGuardHook`): rebuilding from
    non-finite states is then expected.
    """
    if not flags:
        return
    rebuilt_ok = torch.stack([f.finite for f in flags])
    if bool(rebuilt_ok.all().item()):
        return
    # failure path only: were the forward's states finite?
    if not all(bool(_all_finite(t).item()) for t in saved):
        return
    # find the first state rebuilt non-finite (the
    # backward walks from the last column down, so it is where the
    # reconstruction broke; the columns below inherit it)
    first = flags[int((~rebuilt_ok).nonzero()[0].item())]
    raise NonFiniteReconstructionError(
        f'the reversible backward rebuilt a non-finite state at column '
        f'{first.column} level {first.level} (columns of {num_columns} '
        f'counted from 0; the level-{first.level} state of column '
        f'{first.column - 1}) from finite forward states: the inverse '
        f'x_prev = (x - F(x_same, prev)) / gamma overflowed (an F whose '
        f'recompute overflows under fp16/bf16 autocast, or shortcut scales '
        f'gamma at their clamp). The gradients of this step would be wrong; '
        f'train this backbone with reversible=False, a smaller '
        f'keep_states_every (1 keeps every column, rebuilding none), or in '
        f'fp32.')


def _column_backward(col: RevColumn, s: torch.Tensor, y: States, g: States,
                     known_prev: States, need_s: bool, need_prev: bool, rng,
                     c: int, devices, project=None,
                     rebuilt_flags: Optional[List[RebuiltFlag]] = None):
    """Rebuild the previous column's states and back-propagate one column.

    ``need_s`` / ``need_prev``: whether the gradients of the column input /
    the previous states are needed (None is returned for them otherwise).
    ``project``: see :func:`~mmrevcol.models.columns.invert_level`.
    ``rebuilt_flags``: a :class:`RebuiltFlag` is appended for every
    rebuilt state (a device tensor; nothing is synced here).
    Returns the previous states (detached), their gradients and the gradient
    of the column input ``s``.
    """
    prev = [t.detach().requires_grad_(need_prev) if t is not None else None
            for t in known_prev]
    g = list(g)
    grad_s = None
    for i in reversed(col.order):
        src = col.same_source(i)
        if src is None:
            same = s.detach().requires_grad_(need_s)
        else:
            same = y[src].detach().requires_grad_()
        with _rng_restored(rng.get((c, i)), devices):
            f = col.levels[i](same, None if col.first else prev)
        if col.first:
            out = f
        else:
            gamma = col.gamma(i)
            if prev[i] is None:  # not kept: rebuild it
                with torch.no_grad():
                    prev[i] = invert_level(
                        y[i], f, gamma, project).requires_grad_(need_prev)
                if rebuilt_flags is not None:
                    rebuilt_flags.append(
                        RebuiltFlag(_all_finite(prev[i].detach()), c, i))
            out = torch.addcmul(f, gamma, prev[i])
        if g[i] is not None and out.requires_grad:
            torch.autograd.backward(out, g[i])
        if same.grad is not None:
            if src is None:
                grad_s = _add(grad_s, same.grad)
            else:
                g[src] = _add(g[src], same.grad)
    if col.first:
        return [None] * NUM_LEVELS, [None] * NUM_LEVELS, grad_s
    new_y = [t.detach() if t is not None else None for t in prev]
    new_g = [t.grad if t is not None else None for t in prev]
    return new_y, new_g, grad_s


# ------------------------------------------------------------------ public
class SavedTensorCounter:
    """What :func:`saved_tensor_bytes` counted."""

    def __init__(self):
        self.bytes = 0
        self.count = 0


@contextlib.contextmanager
def saved_tensor_bytes(exclude=()):
    """Count the bytes autograd saves for backward inside the block.

    Each storage is counted once (views of one tensor share it); storages of
    ``exclude`` (e.g. ``model.parameters()``: weights are not activations)
    are skipped.

    Yields:
        SavedTensorCounter: ``.bytes`` and ``.count`` after the block.
    """
    counter = SavedTensorCounter()
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    seen = set()

    def pack(t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in skip and key not in seen:
            seen.add(key)
            counter.bytes += storage.nbytes()
            counter.count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield counter


def run_columns(stages: Sequence[ColumnStage],
                x: torch.Tensor,
                reversible: bool = False,
                keep_every: Optional[int] = None) -> States:
    """Run the columns and return the last column's states by level.

    Args:
        stages (list[ColumnStage]): The column stages.
        x (Tensor): The first stage's input.
        reversible (bool): Use the memory-saving reversible backward when
            grad is enabled. Without grad (evaluation, ``torch.no_grad()``)
            the plain forward runs either way.
        keep_every (int | None): With ``reversible``, also save the states
            of every ``k``-th column (columns ``k-1, 2k-1, ...``), so the
            backward rebuilds at most ``k - 1`` columns in a row. ``None``
            saves only the last column's: saved memory independent of the
            number of columns, error growing with it. Defaults to None.

    Returns:
        list[Tensor | None]: The last column's states (None: not built).
    """
    check_keep_every(keep_every)
    if compat.is_compiling():
        reason = compat.whole_model_compile_skip_reason()
        if reason is not None:
            raise RuntimeError(reason)
    if reversible and torch.is_grad_enabled():
        last = _flatten(stages)[-1][1]
        dummy = torch.empty(0, device=x.device, requires_grad=True)
        outs = _ReversibleColumns.apply(stages, keep_every, dummy, x)
        states: States = [None] * NUM_LEVELS
        for i, out in zip(last.order, outs):
            states[i] = out
        return states
    return _run_plain(stages, x)[0]


def column_backbone(model, who: str):
    """``model.backbone`` if it is a column backbone (RevCol / RevColV2:
    ``stages()``, ``embed()`` and ``keep_states_every``), else a TypeError
    naming ``who`` needs it."""
    backbone = getattr(model, 'backbone', None)
    if not all(hasattr(backbone, a) for a in ('stages', 'embed',
                                               'keep_states_every')):
        raise TypeError(
            f'{who} needs a model whose backbone is a RevCol or RevColV2 '
            f'(with stages(), embed() and keep_states_every), got '
            f'{type(backbone).__name__}')
    return backbone


@torch.no_grad()
def reconstruction_errors(stages: Sequence[ColumnStage],
                          x: torch.Tensor,
                          keep_every: Optional[int] = None) -> List[float]:
    """Numerical guard: how well the inverse rebuilds every column.

    Runs the plain forward keeping all states, then rebuilds each column's
    states from the next column's (exactly as the reversible backward does,
    error compounding from the last column down, restarting from the exact
    states at every kept column) and returns, for each column but the last,
    the max absolute error relative to the max absolute value of its true
    states (0 for kept columns). The first entry is the first column's. Run
    it under the autocast the training uses: low precision changes it.

    Args:
        stages (list[ColumnStage]): The column stages.
        x (Tensor): The first stage's input.
        keep_every (int | None): As in :func:`run_columns`.
    """
    check_keep_every(keep_every)
    cols = _flatten(stages)
    _, inputs, history = _run_plain(stages, x, keep_all=True)
    errors = []
    rebuilt = history[-1]
    for c in range(len(cols) - 1, 0, -1):
        k, col = cols[c]
        true_prev = history[c - 1]
        if _is_kept(c - 1, len(cols), keep_every):
            rebuilt = true_prev
            errors.append(0.0)
            continue
        bridge = stages[k].bridge if k != cols[c - 1][0] else None
        seen = true_prev if bridge is None else bridge.forward(true_prev)
        known = [seen[lv] if lv not in col.order else None
                 for lv in range(NUM_LEVELS)]
        rebuilt = col.inverse(inputs[k], rebuilt, known,
                              None if bridge is None else bridge.project)
        if bridge is not None:
            rebuilt = bridge.inverse(rebuilt)
        err, ref = 0.0, 0.0
        for a, b in zip(rebuilt, true_prev):
            if a is not None and b is not None:
                err = max(err, (a.float() - b.float()).abs().max().item())
                ref = max(ref, b.float().abs().max().item())
        errors.append(err / max(ref, 1e-12))
    return errors[::-1]


def compile_column_levels(columns: Sequence[RevColumn],
                          compile_levels=False,
                          who: str = 'compile_levels') -> bool:
    """Compile every level function ``F`` of ``columns`` in place with
    :func:`torch.compile` (:func:`~mmrevcol.utils.compat.compile_module`).

    The reversible engine is a custom ``autograd.Function`` whose backward
    re-runs each level with grad: compiling the whole model (mmengine's
    ``compile=True``) traces the forward around the function (dynamo breaks
    the graph there) but leaves that recomputation eager. Compiling the
    levels themselves makes both the forward and the recomputation (and
    evaluation, which mmengine does not compile) run compiled code; dynamo
    keeps one graph per grad mode, so the no-grad forward and the with-grad
    recomputation are separate graphs of the same function. Dynamo's
    per-function recompile limit is raised to fit every level
    (:func:`~mmrevcol.utils.compat.raise_recompile_limit`).

    Args:
        columns (Sequence[RevColumn]): The columns.
        compile_levels (bool | dict): False/None: nothing; True: default
            :func:`torch.compile` options; a dict: its keyword arguments
            (e.g. ``dict(backend='aot_eager')``).
        who (str): The argument's name in messages.

    Returns:
        bool: Whether the levels were compiled. Where this torch cannot
        (:func:`~mmrevcol.utils.compat.compile_skip_reason`), a warning says
        why and the levels stay eager.
    """
    if compile_levels is None or compile_levels is False:
        return False
    if compile_levels is True:
        compile_levels = {}
    if not isinstance(compile_levels, dict):
        raise TypeError(f'{who} must be a bool or a dict of torch.compile '
                        f'options, got {compile_levels!r}')
    reason = compat.compile_skip_reason(
        compile_levels.get('backend', 'inductor'), None)
    if reason is not None:
        from mmengine.logging import print_log
        print_log(f'{who} skipped: {reason}; the levels run eagerly',
                  'current', logging.WARNING)
        return False
    levels = [level for col in columns for level in col.levels
              if level is not None]
    # a version per level and grad mode (and train/eval) at most
    compat.raise_recompile_limit(4 * len(levels))
    for level in levels:
        compat.compile_module(level, **compile_levels)
    return True
