"""Plain vs reversible backbone training: saved activations, peak memory,
step time, reconstruction and gradient error, measured side by side in one
run (optionally also with the first columns frozen)."""
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch

from ..models.reversible import (check_keep_every, reconstruction_errors,
                                 saved_tensor_bytes)


class ModeResult(NamedTuple):
    """One training mode of one (model, number of columns) setting.

    Attributes:
        saved (int): Bytes autograd saves for backward (weights excluded).
        peak (int): Peak memory of a step (``max_memory_allocated`` above
            the model on a GPU; ``saved`` on CPU).
        time (float): Median step seconds (process CPU time on CPU).
        recon_error (float | None): Worst reconstruction error over the
            rebuilt columns (:func:`reconstruction_errors`; with nothing kept
            it is the first column's), ``None`` for plain autograd.
        grad_error (float | None): ``||g - g_plain|| / ||g_plain||`` over all
            backbone gradients of the mode (``None`` for plain autograd).
    """
    saved: int
    peak: int
    time: float
    recon_error: Optional[float]
    grad_error: Optional[float]


class MemoryResult(NamedTuple):
    """One (model, number of columns) measurement: ``modes`` maps
    ``'plain'``, ``'rev'`` (only the last column kept) and ``'keep{k}'``
    (every ``k``-th column kept) to their :class:`ModeResult`; with frozen
    stages ``K``, also ``'rev-fK'`` and ``'keep{k}-fK'``."""
    model: str
    columns: int
    modes: Dict[str, ModeResult]


def _loss(outs):
    return sum(o.float().square().mean() for o in outs)


def _step(model, x, steps: int, warmup: int):
    """Forward + backward of a dummy loss, in the model's current mode.

    Returns (saved bytes, peak bytes, seconds per step, gradients). On CPU
    the step time is the process's CPU time (``time.process_time``), which
    other load on the machine barely moves; on a GPU it is synchronised wall
    time."""
    cuda = x.is_cuda
    params = list(model.parameters())
    for _ in range(warmup):
        model.zero_grad(set_to_none=True)
        _loss(model(x)).backward()
    model.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    torch.manual_seed(0)  # the same drop-path masks in every mode
    with saved_tensor_bytes(exclude=params) as counter:
        outs = model(x)
    _loss(outs).backward()
    del outs
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()
             if p.grad is not None}
    peak = (torch.cuda.max_memory_allocated() - base) if cuda else \
        counter.bytes
    clock = time.perf_counter if cuda else time.process_time
    times = []
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        t0 = clock()
        _loss(model(x)).backward()
        if cuda:
            torch.cuda.synchronize()
        times.append(clock() - t0)
    times.sort()
    return counter.bytes, peak, times[len(times) // 2], grads


def _grad_error(grads, ref) -> float:
    num = sum((grads[n].double() - g.double()).square().sum()
              for n, g in ref.items())
    den = sum(g.double().square().sum() for g in ref.values())
    return (num / den).sqrt().item() if den > 0 else 0.0


def benchmark_memory(builders: Dict[str, Callable[[int], torch.nn.Module]],
                     columns: Sequence[int],
                     img_size: int = 512,
                     batch_size: int = 1,
                     steps: int = 1,
                     warmup: int = 1,
                     device: str = 'cpu',
                     keep_every: Sequence[int] = (2, ),
                     frozen_stages: Optional[int] = None,
                     log: Callable[[str], None] = print
                     ) -> List[MemoryResult]:
    """Measure plain vs reversible training for each model and column count.

    Args:
        builders (dict): ``name -> f(num_columns) -> backbone`` (with
            ``reversible`` and ``keep_states_every`` attributes and
            ``stages()``/``embed()`` for the reconstruction check).
        columns (Sequence[int]): Column counts to measure.
        img_size (int): Square input size.
        batch_size (int): Batch size.
        steps (int): Timed steps (median reported).
        warmup (int): Untimed steps before measuring.
        device (str): ``'cpu'`` or ``'cuda'``.
        keep_every (Sequence[int]): ``keep_states_every`` values measured
            besides ``None`` (the ``'rev'`` mode).
        frozen_stages (int | None): Also measure every reversible mode with
            the backbone frozen at this ``frozen_stages`` (set on the model,
            applied by its ``train()``), after the unfrozen modes: modes
            ``'rev-fK'``, ``'keep{k}-fK'``. Their gradient error is over the
            parameters that still train, against the unfrozen plain run
            (the same gradients when freezing changes no forward value: no
            batch norm, no drop path, as the tool's builders). Defaults to
            None (not measured).
        log (callable): Progress printer (one table row block per setting).

    Returns:
        list[MemoryResult]: One entry per (model, column count).
    """
    modes = {'plain': (False, None, None), 'rev': (True, None, None)}
    for k in keep_every:
        modes[f'keep{check_keep_every(k)}'] = (True, k, None)
    if frozen_stages is not None:
        for mode, (reversible, keep, _) in list(modes.items()):
            if reversible:
                modes[f'{mode}-f{frozen_stages}'] = (True, keep,
                                                     frozen_stages)
    results = []
    for name, build in builders.items():
        for n in columns:
            torch.manual_seed(0)
            model = build(n).to(device).train()
            x = torch.randn(batch_size, 3, img_size, img_size, device=device)
            measured, ref = {}, None
            for mode, (reversible, keep, frozen) in modes.items():
                model.reversible = reversible
                model.keep_states_every = keep
                if frozen is not None:  # the frozen modes come last
                    model.frozen_stages = frozen
                    model.train()
                saved, peak, secs, grads = _step(model, x, steps, warmup)
                recon = grad_err = None
                if reversible:
                    model.eval()
                    with torch.no_grad():
                        errors = reconstruction_errors(
                            model.stages(), model.embed(x), keep_every=keep)
                    model.train()
                    recon = max(errors, default=0.0)
                    grad_err = _grad_error(grads,
                                           {n: ref[n] for n in grads})
                else:
                    ref = grads
                measured[mode] = ModeResult(saved, peak, secs, recon,
                                            grad_err)
                del grads
            result = MemoryResult(name, n, measured)
            log(format_memory_table([result], header=not results,
                                    peaks=x.is_cuda))
            results.append(result)
            del model
    return results


def format_memory_table(results: Sequence[MemoryResult],
                        header: bool = True,
                        peaks: bool = False) -> str:
    """Format results, one row per mode. ``saved x`` is plain / mode (memory)
    and ``time x`` mode / plain (step time), ``plain`` being the unfrozen
    plain row also for the frozen modes. ``peaks`` adds the peak-memory
    column (on CPU it equals the saved bytes)."""
    mb = 2.0**20
    lines = []
    width = max([7] + [len(mode) + 1 for r in results for mode in r.modes])
    if header:
        lines.append(
            f'{"model":<8}{"cols":>5}  {"mode":<{width}}{"saved MB":>10}'
            f'{"saved x":>9}' + (f'{"peak MB":>10}' if peaks else '') +
            f'{"step s":>9}{"time x":>8}{"recon err":>11}{"grad err":>10}')

    def err(v):
        return f'{"-":>11}' if v is None else f'{v:>11.2e}'

    for r in results:
        plain = r.modes['plain']
        for mode, m in r.modes.items():
            lines.append(
                f'{r.model:<8}{r.columns:>5}  {mode:<{width}}'
                f'{m.saved / mb:>10.1f}'
                f'{plain.saved / max(m.saved, 1):>9.2f}' +
                (f'{m.peak / mb:>10.1f}' if peaks else '') +
                f'{m.time:>9.2f}{m.time / max(plain.time, 1e-9):>8.2f}'
                f'{err(m.recon_error)}{err(m.grad_error)[1:]}')
    return '\n'.join(lines)
