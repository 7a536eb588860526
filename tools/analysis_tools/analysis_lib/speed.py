"""Inference latency and throughput (FPS) of the model of a config.

mmdet's own ``InferenceBenchmark`` needs CUDA and a distributed launch, so
the timing loop is here: it times the model's complete ``test_step`` (data
preprocessing, network, post-processing such as NMS and mask pasting: what
an image costs at test time, as mmdet's benchmark measures) under
``torch.no_grad``, synchronising the GPU around every step, after a few
warm-up steps. Batches are either dummy images of a fixed size
(:func:`analysis_lib.complexity.dummy_data_batch`) or the config's
real test dataloader.
"""
import itertools
import statistics
import time
from typing import Any, Callable, Dict, Iterable, NamedTuple, Optional, \
    Sequence, Union

import torch
import torch.nn as nn

from .complexity import (DEFAULT_SHAPES, ConfigLike, config_scope,
                         dummy_data_batch, load_model)

#: Where benchmark batches come from.
SOURCES = ('dummy', 'dataset')


class LatencyResult(NamedTuple):
    """Timing of ``iters`` steps of ``batch_size`` images each.

    Latencies are per step (one batch), in milliseconds; ``fps`` is images
    per second over all timed steps.
    """
    batch_size: int
    iters: int
    mean_ms: float
    median_ms: float
    p90_ms: float
    min_ms: float
    fps: float
    device: str


def _check_count(name: str, value, minimum: int) -> int:
    if (not isinstance(value, int) or isinstance(value, bool)
            or value < minimum):
        raise ValueError(f'{name} must be an int >= {minimum}, got '
                         f'{value!r}')
    return value


def measure_latency(step: Callable[[Any], Any],
                    batches: Iterable[Any],
                    batch_size: int,
                    num_warmup: int = 5,
                    num_iters: int = 20,
                    device: Union[str, torch.device] = 'cpu'
                    ) -> LatencyResult:
    """Time ``step(batch)`` over batches.

    Args:
        step (callable): Runs one batch (e.g. ``model.test_step``).
        batches (Iterable): Batches, cycled if shorter than
            ``num_warmup + num_iters``.
        batch_size (int): Images per batch, for the FPS.
        num_warmup (int): Untimed steps first. Defaults to 5.
        num_iters (int): Timed steps. Defaults to 20.
        device (str | torch.device): The model's device; CUDA is
            synchronised before and after every timed step.

    Returns:
        LatencyResult: the timing.
    """
    _check_count('batch_size', batch_size, 1)
    _check_count('num_warmup', num_warmup, 0)
    _check_count('num_iters', num_iters, 1)
    device = torch.device(device)
    cuda = device.type == 'cuda'
    source = itertools.cycle(batches)
    times = []
    with torch.no_grad():
        for i in range(num_warmup + num_iters):
            batch = next(source)
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            step(batch)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= num_warmup:
                times.append(time.perf_counter() - start)
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) -
                                                         1))))]
    return LatencyResult(
        batch_size=batch_size,
        iters=num_iters,
        mean_ms=1e3 * statistics.fmean(times),
        median_ms=1e3 * statistics.median(times),
        p90_ms=1e3 * p90,
        min_ms=1e3 * ordered[0],
        fps=batch_size * num_iters / sum(times),
        device=str(device))


def benchmark_model(model: nn.Module,
                    batches: Sequence[Any],
                    batch_size: int,
                    num_warmup: int = 5,
                    num_iters: int = 20) -> LatencyResult:
    """Time ``model.test_step`` (preprocessing + forward + post-processing).

    Args:
        model (nn.Module): An mmengine ``BaseModel``; put in eval mode.
        batches (Sequence): Data batches (dicts of ``inputs`` and
            ``data_samples`` as a dataloader yields them).
        batch_size (int): Images per batch.
        num_warmup (int): Untimed steps first. Defaults to 5.
        num_iters (int): Timed steps. Defaults to 20.

    Returns:
        LatencyResult: the timing.
    """
    if not hasattr(model, 'test_step'):
        raise TypeError(f'model must be an mmengine BaseModel with '
                        f'test_step, got {type(model).__name__}')
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device('cpu')
    return measure_latency(model.test_step, batches, batch_size,
                           num_warmup, num_iters, device)


def benchmark_config(config: ConfigLike,
                     checkpoint: Optional[str] = None,
                     shape: Union[int, Sequence[int], None] = None,
                     batch_size: int = 1,
                     num_warmup: int = 5,
                     num_iters: int = 20,
                     device: str = 'cpu',
                     source: str = 'dummy',
                     cfg_options: Optional[Dict[str, Any]] = None
                     ) -> LatencyResult:
    """Latency and FPS of a config's model at test time.

    Args:
        config (str | Config): An mmdet, mmseg or mmpretrain config.
        checkpoint (str, optional): Trained weights; without them the model
            is randomly initialised (a detector then keeps an arbitrary
            number of boxes, which changes its post-processing cost).
            Defaults to None.
        shape (int | Sequence[int], optional): ``S`` or ``(H, W)`` of the
            dummy images (``source='dummy'`` only). Defaults to
            :data:`~analysis_lib.complexity.DEFAULT_SHAPES` of the
            config's scope.
        batch_size (int): Images per step. Defaults to 1.
        num_warmup (int): Untimed steps first. Defaults to 5.
        num_iters (int): Timed steps. Defaults to 20.
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ... Defaults to
            ``'cpu'``.
        source (str): ``'dummy'`` (random images of ``shape``) or
            ``'dataset'`` (the config's ``test_dataloader``, with its
            ``batch_size`` replaced). Defaults to ``'dummy'``.
        cfg_options (dict, optional): Dotted-key overrides. Defaults to None.

    Returns:
        LatencyResult: the timing.
    """
    if source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
    _check_count('batch_size', batch_size, 1)
    _check_count('num_warmup', num_warmup, 0)
    _check_count('num_iters', num_iters, 1)
    if source == 'dataset' and shape is not None:
        raise ValueError("shape is only used with source='dummy'; the "
                         "dataset's own test pipeline sizes its images")
    dev = torch.device(device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {device!r} needs CUDA, which is not '
                         f'available here')
    model, cfg = load_model(config, checkpoint, cfg_options, dev)
    batches = load_batches(cfg, source, shape, batch_size,
                           num_warmup + num_iters)
    return benchmark_model(model, batches, batch_size, num_warmup,
                           num_iters)


def load_batches(cfg, source: str = 'dummy',
                 shape: Union[int, Sequence[int], None] = None,
                 batch_size: int = 1, count: int = 1) -> list:
    """Data batches for a config's model, before its data preprocessor.

    Args:
        cfg (Config): The loaded config.
        source (str): ``'dummy'``: one batch of random images of ``shape``
            (default :data:`DEFAULT_SHAPES` of the scope), reused by the
            caller; ``'dataset'``: up to ``count`` batches of the config's
            ``test_dataloader`` (its pipeline sizes the images).
        shape (int | Sequence[int], optional): Dummy image size.
        batch_size (int): Images per batch.
        count (int): Batches wanted from the dataset.

    Returns:
        list[dict]: The batches.
    """
    if source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
    scope = config_scope(cfg)
    if source == 'dummy':
        shape = DEFAULT_SHAPES[scope] if shape is None else shape
        return [dummy_data_batch(scope, shape, batch_size)]
    if shape is not None:
        raise ValueError("shape is only used with source='dummy'; the "
                         "dataset's own test pipeline sizes its images")
    from mmengine.runner import Runner
    loader_cfg = cfg.get('test_dataloader', None)
    if loader_cfg is None:
        raise ValueError("source='dataset' needs a test_dataloader in the "
                         'config, which has none')
    loader_cfg = dict(loader_cfg)
    loader_cfg.update(batch_size=batch_size, num_workers=0,
                      persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg)
    return list(itertools.islice(loader, count))


def format_latency(result: LatencyResult) -> str:
    """One readable line per quantity of a :class:`LatencyResult`."""
    return '\n'.join([
        f'device: {result.device}, batch size {result.batch_size}, '
        f'{result.iters} timed steps',
        f'latency per batch: mean {result.mean_ms:.1f} ms, median '
        f'{result.median_ms:.1f} ms, p90 {result.p90_ms:.1f} ms, min '
        f'{result.min_ms:.1f} ms',
        f'throughput: {result.fps:.2f} images/s (FPS)',
    ])
