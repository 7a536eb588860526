"""RevColV2 next to ViT, reversible next to plain, compiled next to eager:
every figure of the speed/memory question in one run and one table.

Rows (each measured at equal input and batch within its group):

- ``infer``: inference images/s of timm ViT-B/16 and ViT-L/16 and of
  RevColV2-B/L in classification mode (``out_type='avg_featmap'``: the
  pooled top level) and dense mode (``'featmap'``: all four levels built,
  normalised and resized); FLOPs per image (multiply-adds, the fvcore
  convention of ``get_flops``, counted by :func:`count_macs`) and the
  achieved FLOP/s. Ratios:
  RevColV2 / ViT of the same size, images/s and FLOP/s; compiled rows
  (whole model, :func:`torch.compile`) / their eager row.
- ``train``: one training step (forward + backward) of the RevColV2-B
  backbone, of UperNet-RevColV2-B at 512 (mmseg; batch >= 2: its pooling
  module's batch norm cannot train on one image) and of the RevColV2-B MIM
  pre-training step (mmpretrain): plain, reversible with
  ``keep_states_every=None`` and ``2``; the backbone also with its levels
  compiled (``compile_levels=True``; not in ``--quick``: compiling the
  training graphs of every level takes minutes per row on a CPU). Ratios:
  step time and peak memory / the plain row; compiled / eager.

Each training row runs in a fresh Python process (the allocator's reuse of
memory an earlier row freed would otherwise hide peaks; a row's compile
caches stay out of the next row). Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` over the timed steps; on the CPU the
peak resident set size (``/proc/self/statm``, sampled every 0.5 ms) above
the process's size after warm-up and ``malloc_trim``. On CUDA every row runs
under bf16 autocast and times are synchronised; on the CPU fp32 and wall
time. Rows whose library is missing (timm, mmengine, mmcv, mmseg,
mmpretrain) or whose run fails print ``skipped: <reason>``.
"""
import contextlib
import ctypes
import gc
import importlib
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

#: Libraries each kind of row needs.
REQUIRES = {
    'vit': ('timm', ),
    'revcolv2': ('mmengine', 'mmrevcol.models.backbones.revcolv2'),
    'seg': ('mmengine', 'mmcv', 'mmseg', 'mmrevcol'),
    'mim': ('mmengine', 'mmpretrain', 'mmrevcol'),
}

#: Run settings; ``tiny`` is for tests (toy-sized models, seconds).
PROFILES: Dict[str, Dict[str, Any]] = {
    'full': dict(img=224, infer_batch=4, infer_warmup=3, infer_iters=10,
                 sizes=('b', 'l'), train_batch=2, drop_path=0.1,
                 train_warmup=1, train_steps=3, seg_img=512, seg_batch=2,
                 mim_img=224, mim_batch=2, compile=True,
                 compile_train=True),
    'quick': dict(img=224, infer_batch=4, infer_warmup=1, infer_iters=3,
                  sizes=('b', 'l'), train_batch=2, drop_path=0.1,
                  train_warmup=1, train_steps=1, seg_img=512, seg_batch=2,
                  seg_warmup=0,
                  mim_img=224, mim_batch=2, compile=True,
                  compile_train=False),
    'tiny': dict(img=32, infer_batch=2, infer_warmup=1, infer_iters=2,
                 sizes=('b', ), train_batch=2, drop_path=0.1,
                 train_warmup=1, train_steps=1, seg_img=64, seg_batch=2,
                 mim_img=64, mim_batch=2, compile=False,
                 compile_train=False),
}

#: Configs of the training rows (``tiny``: the CPU toy configs).
CONFIGS = {
    'seg': 'configs/revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py',
    'mim': 'configs/revcolv2/revcolv2-b_mim_8xb512-amp-1600e_in1k.py',
}
TINY_CONFIGS = {
    'seg': 'configs/toy/upernet_revcolv2_toy_ade20k.py',
    'mim': 'configs/toy/revcolv2_toy_mim_imagenet.py',
}

#: RevColV2 arch of the ``tiny`` profile (as ``tests.helpers.TINY_V2``).
TINY_V2 = dict(embed_dims=32, num_heads=2, bu_columns=2, bu_depth=4,
               td_columns=2, td_depth=4)

#: ``keep_states_every`` of the modes of a training group.
MODES = (('plain', False, None), ('rev', True, None), ('keep2', True, 2))

#: Name prefix of the child's result line.
RESULT_TAG = 'BENCHMARK_ROW '


def missing_library(modules: Sequence[str]) -> Optional[str]:
    """The reason a row cannot run: the first of ``modules`` that does not
    import (a module set to None in ``sys.modules`` counts as missing), or
    None."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # ImportError, or a broken compiled lib
            return f'{name.split(".")[0]} is not importable ({err})'
    return None


# -------------------------------------------------------------- models
def build_vit(size: str, img: int, tiny: bool = False) -> torch.nn.Module:
    """timm ViT-B/16 or ViT-L/16 without a classifier (random weights, no
    download); ``tiny``: a 2-block ViT of 32 channels."""
    import timm
    if tiny:
        from timm.models.vision_transformer import VisionTransformer
        return VisionTransformer(img_size=img, patch_size=8, embed_dim=32,
                                 depth=2, num_heads=2, num_classes=0)
    name = {'b': 'vit_base_patch16_224', 'l': 'vit_large_patch16_224'}[size]
    return timm.create_model(name, pretrained=False, num_classes=0,
                             img_size=img)


def build_revcolv2(size: str, img: int, tiny: bool = False,
                   **kwargs) -> torch.nn.Module:
    """A RevColV2 backbone (``'b'``/``'l'``; ``tiny``: :data:`TINY_V2` with
    8x8 patches)."""
    from mmrevcol.models.backbones.revcolv2 import RevColV2
    if tiny:
        return RevColV2(arch=TINY_V2, img_size=img, patch_size=8, **kwargs)
    return RevColV2(arch=size, img_size=img, **kwargs)


def _addmm_inplace_flops(self_shape, a_shape, b_shape, *args,
                         out_shape=None, **kwargs) -> int:
    """FLOPs (2 per multiply-add, torch's convention) of ``addmm_``."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def count_macs(model: torch.nn.Module, x: torch.Tensor):
    """Multiply-adds of ``model(x)`` (FLOPs in the fvcore convention of the
    ``get_flops`` tools) and the counter used: mmengine's
    :class:`~mmengine.analysis.FlopAnalyzer` with the attention handles of
    :mod:`.complexity` (``'mmengine'``, the project's convention: matrix
    products, norms, activations), or, without mmengine,
    :class:`~torch.utils.flop_counter.FlopCounterMode` (``'torch'``: matrix
    products and attention only, so ~4% lower); ``(None, None)`` where
    neither exists."""
    with torch.no_grad():
        try:
            from mmengine.analysis import FlopAnalyzer

            from .complexity import EXTRA_FLOP_HANDLES
        except ImportError:
            pass
        else:
            flops = FlopAnalyzer(model, (x, ))
            flops.set_op_handle(**EXTRA_FLOP_HANDLES)
            flops.unsupported_ops_warnings(False).uncalled_modules_warnings(
                False).tracer_warnings('none')
            return float(flops.total()), 'mmengine'
        try:
            from torch.utils.flop_counter import FlopCounterMode
        except ImportError:  # pragma: no cover - torch < 2.1
            return None, None
        # torch counts addmm but not the in-place addmm_ RevColV2
        # accumulates projections with
        inplace = {torch.ops.aten.addmm_: _addmm_inplace_flops}
        with FlopCounterMode(display=False,
                             custom_mapping=inplace) as counter:
            model(x)
        return counter.get_total_flops() / 2, 'torch'


# ------------------------------------------------------------ timing
def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _autocast(device: torch.device):
    if device.type == 'cuda':
        return torch.autocast('cuda', dtype=torch.bfloat16)
    return contextlib.nullcontext()


def time_steps(step: Callable[[], Any], device: torch.device, warmup: int,
               iters: int) -> List[float]:
    """Wall seconds of each of ``iters`` calls of ``step`` after ``warmup``
    untimed ones, synchronising CUDA around each."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        _sync(device)
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def measure_inference(model: torch.nn.Module, img: int, batch: int,
                      device: torch.device, warmup: int, iters: int,
                      compile_model: bool = False) -> Dict[str, Any]:
    """Images/s, multiply-adds per image and achieved multiply-adds/s of
    ``model`` in eval mode under ``torch.no_grad``."""
    model = model.to(device).eval()
    torch.manual_seed(0)
    x = torch.randn(batch, 3, img, img, device=device)
    macs, counter = count_macs(model, x[:1])
    run = torch.compile(model) if compile_model else model

    def step():
        with torch.no_grad(), _autocast(device):
            run(x)

    t0 = time.perf_counter()
    if compile_model:
        step()  # the compilation, reported apart
    compile_s = time.perf_counter() - t0
    times = time_steps(step, device, warmup, iters)
    img_s = batch / statistics.median(times)
    out = dict(img_s=img_s, gmacs=None if macs is None else macs / 1e9,
               gmacs_s=None if macs is None else macs * img_s / 1e9,
               flop_counter=counter)
    if compile_model:
        out['compile_s'] = compile_s
    return out


# ------------------------------------------------------- training child
def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class _PeakRSS:
    """Peak resident set size during a block, sampled every 0.5 ms."""

    def __enter__(self):
        self.peak = _rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.0005)

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _trim_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)


def _config_step(kind: str, spec: dict, device: torch.device):
    """A training step closure of the seg / MIM config model."""
    from analysis_lib.complexity import (config_scope, dummy_data_batch,
                                         load_model)
    configs = TINY_CONFIGS if spec['tiny'] else CONFIGS
    model, cfg = load_model(osp.join(ROOT, configs[kind]), device=device)
    model.backbone.reversible = spec['reversible']
    model.backbone.keep_states_every = spec['keep']
    model.train()
    data = dummy_data_batch(config_scope(cfg), spec['img'], spec['batch'])
    if kind == 'mim':  # one view: the batch as one (B, 3, H, W) tensor
        data = dict(data, inputs=torch.stack(data['inputs']))
    else:  # random ground-truth maps for the decode head's loss
        from mmengine.structures import PixelData
        classes = cfg.model.decode_head.num_classes
        gen = torch.Generator().manual_seed(0)
        for img, sample in zip(data['inputs'], data['data_samples']):
            sample.gt_sem_seg = PixelData(data=torch.randint(
                0, classes, (1, *img.shape[-2:]), generator=gen))

    def step():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same masks / drop paths every step
        with _autocast(device):
            batch = model.data_preprocessor(data, True)
            losses = model(**batch, mode='loss')
            loss, _ = model.parse_losses(losses)
        loss.backward()

    return step


def _backbone_step(spec: dict, device: torch.device):
    """A training step closure of the RevColV2 backbone (dense levels, the
    mean square of every level as the loss)."""
    torch.manual_seed(0)
    model = build_revcolv2(
        spec['size'], spec['img'], spec['tiny'],
        drop_path_rate=spec['drop_path'], reversible=spec['reversible'],
        keep_states_every=spec['keep'],
        compile_levels=spec['compile']).to(device).train()
    x = torch.randn(spec['batch'], 3, spec['img'], spec['img'],
                    device=device)

    def step():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        with _autocast(device):
            outs = model(x)
        sum(o.float().square().mean() for o in outs).backward()

    return step


def run_train_row(spec: dict) -> Dict[str, Any]:
    """Measure one training row in this process (the child's work): median
    step seconds and peak memory in MB (CUDA allocated, or CPU RSS)."""
    device = torch.device(spec['device'])
    if spec['kind'] == 'backbone':
        step = _backbone_step(spec, device)
    else:
        step = _config_step(spec['kind'], spec, device)
    # warm-up steps: the first step's allocations, compilation (compiled
    # rows always warm up once); with none, the timed step is the first
    warmup = max(spec['warmup'], 1 if spec['compile'] else 0)
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    first_s = time.perf_counter() - t0 if warmup else None
    _trim_memory()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        times = time_steps(step, device, 0, spec['steps'])
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        base = _rss()
        with _PeakRSS() as sampler:
            times = time_steps(step, device, 0, spec['steps'])
        peak = sampler.peak - base
    return dict(step_s=statistics.median(times), peak_mb=peak / 2.0**20,
                warmup_s=first_s)


def spawn_train_row(spec: dict, timeout: float = 1800) -> Dict[str, Any]:
    """Run :func:`run_train_row` in a fresh process; a failure becomes
    ``{'skipped': reason}``."""
    tool = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'benchmark.py')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    try:
        proc = subprocess.run(
            [sys.executable, tool, '--child', json.dumps(spec)],
            capture_output=True, text=True, timeout=timeout, env=env,
            cwd=ROOT)
    except subprocess.TimeoutExpired:
        return dict(skipped=f'the step ran past {timeout:.0f} s')
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
    return dict(skipped=f'the step failed (exit {proc.returncode}): '
                        f'{tail[:200]}')


# ------------------------------------------------------------- the run
def _row(group: str, name: str, **fields) -> Dict[str, Any]:
    return dict(group=group, name=name, **fields)


def run_benchmark(profile: str = 'quick', device: str = 'cpu',
                  compile_rows: Optional[bool] = None,
                  log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Measure every row of ``profile`` on ``device``.

    Args:
        profile (str): ``'full'``, ``'quick'`` or ``'tiny'``
            (:data:`PROFILES`).
        device (str): ``'cpu'`` or ``'cuda'`` (``'cuda:N'``).
        compile_rows (bool, optional): Measure the compiled rows; None: the
            profile's choice.
        log (callable): Progress printer.

    Returns:
        dict: ``settings``, ``device``, ``torch`` and ``rows`` (each with
        ``group``, ``name`` and its figures, or ``skipped``), ratios filled
        in by :func:`add_ratios`.
    """
    if profile not in PROFILES:
        raise ValueError(f'profile must be one of {sorted(PROFILES)}, got '
                         f'{profile!r}')
    try:
        dev = torch.device(device)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got "
                         f'{device!r}')
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {device!r} asked for, but torch '
                         f'{torch.__version__} sees no CUDA device')
    p = dict(PROFILES[profile])
    if compile_rows is not None:
        p['compile'] = p['compile_train'] = compile_rows
    tiny = profile == 'tiny'
    compile_reason = None
    if p['compile']:
        compile_reason = _compile_skip_reason(dev.type)
    rows: List[Dict[str, Any]] = []

    def infer(name, requires, build, compiled=False):
        reason = missing_library(REQUIRES[requires])
        if compiled and reason is None:
            reason = compile_reason
        if reason is None:
            try:
                result = measure_inference(
                    build(), p['img'], p['infer_batch'], dev,
                    p['infer_warmup'], p['infer_iters'], compiled)
            except Exception as err:  # a failing row must not end the run
                result = dict(skipped=f'{type(err).__name__}: {err}'[:200])
        else:
            result = dict(skipped=reason)
        rows.append(_row('infer', name, batch=p['infer_batch'],
                         img=p['img'], **result))
        log(format_row(rows[-1]))

    for size in p['sizes']:
        S = size.upper()
        infer(f'ViT-{S}/16', 'vit',
              lambda: build_vit(size, p['img'], tiny))
        for mode, out_type, out_indices in (
                ('cls', 'avg_featmap', (3, )),
                ('dense', 'featmap', (0, 1, 2, 3))):
            infer(f'RevColV2-{S} {mode}', 'revcolv2',
                  lambda: build_revcolv2(size, p['img'], tiny,
                                         out_type=out_type,
                                         out_indices=out_indices))
        if p['compile'] and size == 'b':
            infer(f'ViT-{S}/16 compiled', 'vit',
                  lambda: build_vit(size, p['img'], tiny), True)
            infer(f'RevColV2-{S} cls compiled', 'revcolv2',
                  lambda: build_revcolv2(size, p['img'], tiny,
                                         out_type='avg_featmap',
                                         out_indices=(3, )), True)

    base = dict(device=device, tiny=tiny, warmup=p['train_warmup'],
                steps=p['train_steps'], compile=False)
    groups = [('RevColV2-B backbone', 'revcolv2',
               dict(base, kind='backbone', size='b', img=p['img'],
                    batch=p['train_batch'], drop_path=p['drop_path'])),
              ('UperNet-RevColV2-B', 'seg',
               dict(base, kind='seg', img=p['seg_img'],
                    batch=p['seg_batch'],
                    warmup=p.get('seg_warmup', p['train_warmup']))),
              ('RevColV2-B MIM', 'mim',
               dict(base, kind='mim', img=p['mim_img'],
                    batch=p['mim_batch']))]
    for label, requires, spec in groups:
        variants = [(mode, rev, keep, False) for mode, rev, keep in MODES]
        if p['compile'] and p['compile_train'] and \
                spec['kind'] == 'backbone':
            variants += [('plain compiled', False, None, True),
                         ('keep2 compiled', True, 2, True)]
        reason = missing_library(REQUIRES[requires])
        for mode, rev, keep, compiled in variants:
            row_reason = reason or (compile_reason if compiled else None)
            if row_reason is None:
                result = spawn_train_row(dict(spec, reversible=rev,
                                              keep=keep, compile=compiled))
            else:
                result = dict(skipped=row_reason)
            rows.append(_row('train', f'{label} {mode}', img=spec['img'],
                             batch=spec['batch'], **result))
            log(format_row(rows[-1]))
    result = dict(profile=profile, device=_device_name(dev),
                  torch=torch.__version__,
                  precision='bf16 autocast' if dev.type == 'cuda' else
                  'fp32', settings=p, rows=rows)
    add_ratios(result)
    return result


def _device_name(dev: torch.device) -> str:
    if dev.type == 'cuda':
        return torch.cuda.get_device_name(dev)
    return f'cpu ({torch.get_num_threads()} threads)'


def add_ratios(result: Dict[str, Any]) -> None:
    """Fill each row's ``ratios`` (a dict) and ``ratio_text``:

    - RevColV2 inference rows: ``vs_vit_img_s``, ``vs_vit_flop_s`` (the ViT
      row of the same size);
    - compiled rows: ``compiled_speedup`` (compiled / eager images/s, or
      eager / compiled step time);
    - reversible training rows: ``time_vs_plain``, ``mem_vs_plain``.
    """
    rows = {r['name']: r for r in result['rows']}

    def ok(r):
        return r is not None and 'skipped' not in r

    for r in result['rows']:
        ratios, text = {}, []
        name = r['name']
        if ok(r) and r['group'] == 'infer':
            if name.startswith('RevColV2') and not name.endswith('compiled'):
                vit = rows.get(f'ViT-{name.split()[0][-1]}/16')
                if ok(vit):
                    ratios['vs_vit_img_s'] = r['img_s'] / vit['img_s']
                    text.append(f'{ratios["vs_vit_img_s"]:.2f}x ViT img/s')
                    if r['gmacs_s'] and vit['gmacs_s']:
                        ratios['vs_vit_flop_s'] = r['gmacs_s'] / vit[
                            'gmacs_s']
                        text.append(
                            f'{ratios["vs_vit_flop_s"]:.2f}x ViT FLOP/s')
            if name.endswith(' compiled'):
                eager = rows.get(name[:-len(' compiled')])
                if ok(eager):
                    ratios['compiled_speedup'] = r['img_s'] / eager['img_s']
                    text.append(f'{ratios["compiled_speedup"]:.2f}x eager '
                                f'img/s')
        elif ok(r) and r['group'] == 'train':
            label, mode = name.rsplit(' ', 1) if not name.endswith(
                'compiled') else (name.rsplit(' ', 2)[0],
                                  ' '.join(name.rsplit(' ', 2)[1:]))
            if mode.endswith('compiled'):
                eager = rows.get(f'{label} {mode.split()[0]}')
                if ok(eager):
                    ratios['compiled_speedup'] = eager['step_s'] / r[
                        'step_s']
                    text.append(f'{ratios["compiled_speedup"]:.2f}x eager '
                                f'speed')
            elif mode != 'plain':
                plain = rows.get(f'{label} plain')
                if ok(plain):
                    ratios['time_vs_plain'] = r['step_s'] / plain['step_s']
                    ratios['mem_vs_plain'] = r['peak_mb'] / max(
                        plain['peak_mb'], 1e-9)
                    text.append(f'time {ratios["time_vs_plain"]:.2f}x, '
                                f'memory {ratios["mem_vs_plain"]:.2f}x plain')
        r['ratios'] = ratios
        r['ratio_text'] = ', '.join(text)


# ------------------------------------------------------------ output
_HEAD = (f'{"row":<34}{"in":>5}{"bs":>4}{"img/s":>9}{"GFLOPs":>9}'
         f'{"GFLOP/s":>9}{"step s":>9}{"peak MB":>10}  ratios')


def _fmt(value, spec):
    return '-' if value is None else format(value, spec)


def format_row(r: Dict[str, Any]) -> str:
    """One table line (a ``skipped: reason`` line for a skipped row)."""
    lead = f'{r["name"]:<34}{r["img"]:>5}{r["batch"]:>4}'
    if 'skipped' in r:
        return lead + f'  skipped: {r["skipped"]}'
    return (lead + f'{_fmt(r.get("img_s"), ".2f"):>9}'
            f'{_fmt(r.get("gmacs"), ".2f"):>9}'
            f'{_fmt(r.get("gmacs_s"), ".1f"):>9}'
            f'{_fmt(r.get("step_s"), ".3f"):>9}'
            f'{_fmt(r.get("peak_mb"), ".0f"):>10}'
            f'  {r.get("ratio_text", "")}')


def format_table(result: Dict[str, Any]) -> str:
    """The whole table with a header naming device, precision and torch."""
    memory = ('process RSS' if result['device'].startswith('cpu') else
              'cuda allocated')
    lines = [f'device: {result["device"]}, {result["precision"]}, torch '
             f'{result["torch"]}, profile {result["profile"]} '
             f'(GFLOPs = multiply-adds per image; training steps: median '
             f'of {result["settings"]["train_steps"]}, memory: {memory} '
             f'peak over the step)', _HEAD, '-' * len(_HEAD)]
    group = None
    for r in result['rows']:
        if group is not None and r['group'] != group:
            lines.append('-' * len(_HEAD))
        group = r['group']
        lines.append(format_row(r))
    return '\n'.join(lines)


def write_chart(result: Dict[str, Any], path: str) -> Optional[str]:
    """A PNG of the measured rows: inference images/s (left) and training
    step time and peak memory relative to each group's plain row (right).
    Returns None, or why no chart was written (no matplotlib)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as err:
        return f'matplotlib is not importable ({err})'
    infer = [r for r in result['rows']
             if r['group'] == 'infer' and 'skipped' not in r]
    train = [r for r in result['rows']
             if r['group'] == 'train' and 'skipped' not in r
             and 'time_vs_plain' in r['ratios']]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 6))
    ax1.barh([r['name'] for r in infer], [r['img_s'] for r in infer])
    ax1.set_xlabel('images/s (inference)')
    ax1.invert_yaxis()
    names = [r['name'] for r in train]
    ys = range(len(train))
    ax2.barh([y - 0.2 for y in ys], [r['ratios']['time_vs_plain']
                                     for r in train], 0.4,
             label='step time / plain')
    ax2.barh([y + 0.2 for y in ys], [r['ratios']['mem_vs_plain']
                                     for r in train], 0.4,
             label='peak memory / plain')
    ax2.set_yticks(list(ys))
    ax2.set_yticklabels(names)
    ax2.axvline(1.0, color='k', lw=0.8)
    ax2.invert_yaxis()
    ax2.legend()
    ax2.set_xlabel('reversible / plain')
    fig.suptitle(f'{result["device"]}, {result["precision"]}, torch '
                 f'{result["torch"]} ({result["profile"]})')
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format='png', dpi=100))
    plt.close(fig)
    return None


def _compile_skip_reason(device_type: str) -> Optional[str]:
    try:
        from mmrevcol.utils.compat import compile_skip_reason
    except ImportError:  # no mmengine: only the ViT rows run anyway
        return None if hasattr(torch, 'compile') else (
            f'torch {torch.__version__} has no torch.compile')
    return compile_skip_reason('inductor', device_type)


def write_atomic(path: str, write: Callable, binary: bool = True) -> str:
    """:func:`mmrevcol.utils.io.atomic_write`, or the same temporary file
    + :func:`os.replace` where mmrevcol cannot be imported (a machine with
    torch and timm only)."""
    try:
        from mmrevcol.utils.io import atomic_write
    except ImportError:
        tmp = f'{path}.{os.getpid()}.tmp'
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(tmp, 'wb' if binary else 'w') as f:
            write(f)
        os.replace(tmp, path)
        return path
    return atomic_write(path, write, binary=binary)
