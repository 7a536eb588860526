"""Plain vs reversible backbone training: saved activations, peak memory,
step time, reconstruction and gradient error, measured side by side in one
run (optionally also with the first columns frozen)."""
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch

from mmrevcol.utils import compat
from mmrevcol.models.reversible import (check_keep_every, reconstruction_errors,
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
            backbone gradients of the mode; for plain autograd ``None``, or,
            under autocast, autocast's own error (plain autocast against
            plain fp32).
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
                    if compat.autocast_enabled(x.device.type):
                        # autocast's own error: plain autocast vs plain fp32
                        with torch.autocast(x.device.type, enabled=False):
                            fp32 = _step(model, x, 1, 0)[3]
                        grad_err = _grad_error(grads, fp32)
                        del fp32
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


def columns_label(columns: Sequence[int]) -> str:
    """Name a set of column counts: ``'3..8'`` when it is a run of
    consecutive counts, else the counts themselves (``'3, 5, 8'``)."""
    cols = sorted(set(columns))
    if len(cols) > 1 and cols == list(range(cols[0], cols[-1] + 1)):
        return f'{cols[0]}..{cols[-1]}'
    return ', '.join(str(c) for c in cols)


def summarize_memory(results: Sequence[MemoryResult],
                     min_columns: int = 3,
                     max_columns: int = 8) -> str:
    """The benchmark's closing lines, per model and reversible mode.

    - How much the saved bytes vary over the measured column counts within
      ``[min_columns, max_columns]`` (the label names the counts that were
      measured, e.g. ``over 3..4 columns``); only when at least two of them
      were measured.
    - At the largest measured column count: memory saved against plain
      autograd, step time ratio and gradient error.

    Args:
        results (Sequence[MemoryResult]): From :func:`benchmark_memory`.
        min_columns (int): Smallest column count in the spread. Defaults
            to 3.
        max_columns (int): Largest column count in the spread. Defaults
            to 8.

    Returns:
        str: one line per statement.
    """
    lines = []
    for name in dict.fromkeys(r.model for r in results):
        rs = [r for r in results if r.model == name]
        last = rs[-1]
        plain = last.modes['plain']
        spread_rs = [r for r in rs if min_columns <= r.columns <= max_columns]
        for mode in last.modes:
            if mode == 'plain':
                continue
            flat = [r.modes[mode].saved for r in spread_rs]
            if len(flat) > 1:
                spread = (max(flat) - min(flat)) / max(min(flat), 1)
                label = columns_label([r.columns for r in spread_rs])
                lines.append(f'{name} {mode}: saved bytes vary by '
                             f'{spread * 100:.1f}% over {label} columns')
            m = last.modes[mode]
            lines.append(
                f'{name} {mode} @ {last.columns} columns: '
                f'{plain.saved / max(m.saved, 1):.2f}x less saved memory, '
                f'{m.time / plain.time:.2f}x step time, gradient error '
                f'{m.grad_error:.1e}')
    return '\n'.join(lines)


# ------------------------------------------------------ masked pre-training
class PretrainResult(NamedTuple):
    """One mode of the masked pre-training step (:func:`benchmark_pretrain`).

    Attributes:
        saved (int): Bytes autograd saves for backward (weights excluded).
        rss_peak (int | None): Peak resident memory one step adds to a
            fresh process (:func:`peak_rss_of_step`); None when not measured
            (no ``kwargs`` given, or on a GPU).
        cuda_peak (int | None): ``torch.cuda.max_memory_allocated`` above the
            model on a GPU, else None.
        time (float): Median step seconds (process CPU time on CPU).
        grad_error (float | None): ``||g - g_plain|| / ||g_plain||`` (None
            for plain autograd).
    """
    saved: int
    rss_peak: Optional[int]
    cuda_peak: Optional[int]
    time: float
    grad_error: Optional[float]


_CHILD = r"""
import ctypes, gc, json, os, sys, threading, time, torch
from mmrevcol.models import RevColV2

def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

args = json.loads(sys.argv[1])
torch.manual_seed(0)
model = RevColV2(**args['kwargs']).train()
model.reversible, model.keep_states_every = args['reversible'], args['keep']
x = torch.randn(args['batch'], 3, args['img'], args['img'])
torch.manual_seed(1)
gc.collect()
ctypes.CDLL('libc.so.6').malloc_trim(0)  # give freed init memory back
base = rss()
peak, done = [base], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.0005)

thread = threading.Thread(target=sample, daemon=True)
thread.start()
levels, _ = model(x)
levels[0].float().square().mean().backward()
done.set()
thread.join()
print(json.dumps(dict(peak=max(peak[0], rss()) - base)))
"""


def peak_rss_of_step(kwargs: dict, img_size: int, batch_size: int,
                     reversible: bool, keep: Optional[int]) -> int:
    """Peak resident memory that one masked pre-training step of
    ``RevColV2(**kwargs)`` adds to a fresh process, in bytes: the model and
    input are built, freed memory is returned to the system
    (``malloc_trim``), then a thread samples ``/proc/self/statm`` every
    0.5 ms during the step. A fresh process per mode: in one process the
    allocator reuses what an earlier mode freed, and the peak would depend
    on the order. The child runs with glibc's mmap threshold fixed at
    64 KiB (``MALLOC_MMAP_THRESHOLD_``), so every buffer of that size or
    more is mapped on allocation and unmapped on free: the resident size
    follows the live tensors. With glibc's adaptive threshold, freed
    tensors stayed resident in the heap and the reversible step's peak
    varied from 55 to 82 MB between identical runs of the test's toy step
    (fixed: 32.0 +- 0.1 MB on a quiet machine). Late in the test suite both
    modes' peaks came out ~22 MB higher with the same difference: compare
    modes by difference, or in one run. Linux (glibc) only."""
    import json
    import os
    import subprocess
    import sys
    arg = json.dumps(dict(kwargs=kwargs, img=img_size, batch=batch_size,
                          reversible=reversible, keep=keep))
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 1024))
    out = subprocess.run([sys.executable, '-c', _CHILD, arg], env=env,
                         capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1])['peak'])


def benchmark_pretrain(model: torch.nn.Module,
                       img_size: int = 224,
                       batch_size: int = 2,
                       steps: int = 1,
                       warmup: int = 1,
                       device: str = 'cpu',
                       keep_every: Sequence[int] = (2, ),
                       kwargs: Optional[dict] = None
                       ) -> Dict[str, PretrainResult]:
    """Plain vs reversible masked pre-training steps of a
    ``RevColV2(out_type='masked')`` backbone, side by side.

    The loss is the mean square of level 0 of the last top-down column (the
    level the pixel loss reads), so every column takes part. Every mode sees
    the same images and the same masks (the seed is reset before each step).
    With ``kwargs`` (the arguments ``model`` was built with) and on the CPU,
    each mode's peak process memory is measured in a fresh process.

    Returns:
        dict: ``'plain'``, ``'rev'`` (``keep_states_every=None``) and
        ``'keep{k}'`` -> :class:`PretrainResult`.
    """
    if getattr(model, 'out_type', None) != 'masked':
        raise ValueError("benchmark_pretrain needs a RevColV2 built with "
                         "out_type='masked'")
    modes = {'plain': (False, None), 'rev': (True, None)}
    for k in keep_every:
        modes[f'keep{check_keep_every(k)}'] = (True, k)
    model = model.to(device).train()
    torch.manual_seed(0)
    x = torch.randn(batch_size, 3, img_size, img_size, device=device)
    params = list(model.parameters())
    cuda = x.is_cuda

    def one_step():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same masks in every mode
        levels, _ = model(x)
        levels[0].float().square().mean().backward()

    results, ref = {}, None
    for mode, (reversible, keep) in modes.items():
        model.reversible = reversible
        model.keep_states_every = keep
        for _ in range(warmup):
            one_step()
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        with saved_tensor_bytes(exclude=params) as counter:
            levels, _ = model(x)
        levels[0].float().square().mean().backward()
        del levels
        grads = {n: p.grad.detach().clone()
                 for n, p in model.named_parameters() if p.grad is not None}
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        one_step()
        rss = None
        if kwargs is not None and not cuda:
            rss = peak_rss_of_step(kwargs, img_size, batch_size, reversible,
                                   keep)
        cuda_peak = None
        if cuda:
            torch.cuda.synchronize()
            cuda_peak = torch.cuda.max_memory_allocated() - base
        clock = time.perf_counter if cuda else time.process_time
        times = []
        for _ in range(steps):
            if cuda:
                torch.cuda.synchronize()
            t0 = clock()
            one_step()
            if cuda:
                torch.cuda.synchronize()
            times.append(clock() - t0)
        times.sort()
        if reversible:
            grad_err = _grad_error(grads, ref)
        else:
            ref, grad_err = grads, None
        results[mode] = PretrainResult(counter.bytes, rss, cuda_peak,
                                       times[len(times) // 2], grad_err)
    return results


def format_pretrain_table(results: Dict[str, PretrainResult]) -> str:
    """One row per mode; ``x`` columns are plain / mode (memory) and mode /
    plain (time)."""
    mb = 2.0**20
    plain = results['plain']
    cuda = plain.cuda_peak is not None
    rss = plain.rss_peak is not None
    lines = [f'{"mode":<8}{"saved MB":>10}{"saved x":>9}' +
             (f'{"RSS peak MB":>13}{"RSS x":>7}' if rss else '') +
             (f'{"cuda peak MB":>14}{"cuda x":>8}' if cuda else '') +
             f'{"step s":>9}{"time x":>8}{"grad err":>10}']
    for mode, r in results.items():
        lines.append(
            f'{mode:<8}{r.saved / mb:>10.1f}'
            f'{plain.saved / max(r.saved, 1):>9.2f}' +
            (f'{r.rss_peak / mb:>13.1f}'
             f'{plain.rss_peak / max(r.rss_peak, 1):>7.2f}' if rss else '') +
            (f'{r.cuda_peak / mb:>14.1f}'
             f'{plain.cuda_peak / max(r.cuda_peak, 1):>8.2f}'
             if cuda else '') +
            f'{r.time:>9.2f}{r.time / max(plain.time, 1e-9):>8.2f}' +
            (f'{"-":>10}' if r.grad_error is None else
             f'{r.grad_error:>10.2e}'))
    return '\n'.join(lines)
