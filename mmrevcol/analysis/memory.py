"""Plain vs reversible backbone training: saved activations, peak memory,
step time and reconstruction error, measured side by side in one run."""
import time
from typing import Callable, Dict, List, NamedTuple, Sequence

import torch

from ..models.reversible import reconstruction_errors, saved_tensor_bytes


class MemoryResult(NamedTuple):
    """One (model, number of columns) measurement."""
    model: str
    columns: int
    plain_saved: int
    rev_saved: int
    plain_peak: int
    rev_peak: int
    plain_time: float
    rev_time: float
    recon_error: float


def _loss(outs):
    return sum(o.float().square().mean() for o in outs)


def _step(model, x, reversible: bool, steps: int, warmup: int):
    """Forward + backward of a dummy loss; returns (saved bytes, peak bytes,
    seconds per step). On CPU the step time is the process's CPU time
    (``time.process_time``), which other load on the machine barely moves;
    on a GPU it is synchronised wall time."""
    model.reversible = reversible
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
    with saved_tensor_bytes(exclude=params) as counter:
        outs = model(x)
    _loss(outs).backward()
    del outs
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
    return counter.bytes, peak, times[len(times) // 2]


def benchmark_memory(builders: Dict[str, Callable[[int], torch.nn.Module]],
                     columns: Sequence[int],
                     img_size: int = 512,
                     batch_size: int = 1,
                     steps: int = 1,
                     warmup: int = 1,
                     device: str = 'cpu',
                     log: Callable[[str], None] = print
                     ) -> List[MemoryResult]:
    """Measure plain vs reversible training for each model and column count.

    Args:
        builders (dict): ``name -> f(num_columns) -> backbone`` (in train
            mode, with a ``reversible`` attribute and ``stages()``/``embed``
            or ``stem`` for the reconstruction check).
        columns (Sequence[int]): Column counts to measure.
        img_size (int): Square input size.
        batch_size (int): Batch size.
        steps (int): Timed steps (median reported).
        warmup (int): Untimed steps before measuring.
        device (str): ``'cpu'`` or ``'cuda'``.
        log (callable): Progress printer.

    Returns:
        list[MemoryResult]: One entry per (model, column count).
    """
    results = []
    for name, build in builders.items():
        for n in columns:
            torch.manual_seed(0)
            model = build(n).to(device).train()
            x = torch.randn(batch_size, 3, img_size, img_size, device=device)
            p_saved, p_peak, p_time = _step(model, x, False, steps, warmup)
            r_saved, r_peak, r_time = _step(model, x, True, steps, warmup)
            model.eval()
            with torch.no_grad():
                errors = reconstruction_errors(model.stages(),
                                               model.embed(x))
            result = MemoryResult(name, n, p_saved, r_saved, p_peak, r_peak,
                                  p_time, r_time,
                                  errors[0] if errors else 0.0)
            log(format_memory_table([result], header=not results))
            results.append(result)
            del model
    return results


def format_memory_table(results: Sequence[MemoryResult],
                        header: bool = True) -> str:
    """Format results; ratios are plain / reversible (memory) and
    reversible / plain (time)."""
    mb = 2.0**20
    lines = []
    if header:
        lines.append(
            f'{"model":<10}{"cols":>5}{"plain MB":>10}{"rev MB":>9}'
            f'{"saved x":>9}{"peak p MB":>11}{"peak r MB":>11}'
            f'{"plain s":>9}{"rev s":>8}{"time x":>8}{"recon err":>11}')
    for r in results:
        lines.append(
            f'{r.model:<10}{r.columns:>5}{r.plain_saved / mb:>10.1f}'
            f'{r.rev_saved / mb:>9.1f}{r.plain_saved / max(r.rev_saved, 1):>9.2f}'
            f'{r.plain_peak / mb:>11.1f}{r.rev_peak / mb:>11.1f}'
            f'{r.plain_time:>9.2f}{r.rev_time:>8.2f}'
            f'{r.rev_time / max(r.plain_time, 1e-9):>8.2f}'
            f'{r.recon_error:>11.2e}')
    return '\n'.join(lines)
