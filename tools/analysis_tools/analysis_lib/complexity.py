"""FLOPs and parameter counts of the model of an mmdet, mmseg or mmpretrain
config.

The counting is mmengine's: :class:`mmengine.analysis.FlopAnalyzer` traces
the model with ``torch.jit`` and counts one FLOP per multiply-add (the
fvcore convention, the one mmdet's / mmpretrain's ``get_flops`` tools
report), :class:`mmengine.analysis.ActivationAnalyzer` counts activations and
:func:`mmengine.analysis.parameter_count` the parameters. mmengine 0.10 has
no handle for ``aten::scaled_dot_product_attention`` (which RevColV2's
attention calls) nor for ``aten::baddbmm``, so :data:`EXTRA_FLOP_HANDLES`
registers them through the analyzer's own ``set_op_handle`` hook (the one
place these handles live; the model index uses them too): the two matrix
products ``q @ k^T`` and ``attn @ v``, counted like ``aten::matmul``, and the
batched product of ``baddbmm``.

The model runs in ``mode='tensor'`` (backbone, neck and heads without
post-processing, as the OpenMMLab ``get_flops`` tools do) on a dummy batch
made by :func:`dummy_data_batch` and passed through the model's own data
preprocessor, so the measured input is exactly what the network sees
(padding included).
"""
import functools
import importlib
from contextlib import contextmanager
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer
from mmengine.analysis import parameter_count
from mmengine.analysis.jit_handles import addmm_flop_jit, get_shape
from mmengine.config import Config

#: Scopes (``default_scope`` of a config) handled here, with the data sample
#: class their models expect.
DATA_SAMPLES = {
    'mmdet': 'mmdet.structures.DetDataSample',
    'mmseg': 'mmseg.structures.SegDataSample',
    'mmpretrain': 'mmpretrain.structures.DataSample',
}

#: Input size used when none is given: COCO detection crops (RevColV2,
#: arXiv 2309.01005, sec. 3.1.4), ADE20K crops (sec. 3.1.3), ImageNet
#: (Table 1 FLOPs).
DEFAULT_SHAPES = {
    'mmdet': (1024, 1024),
    'mmseg': (512, 512),
    'mmpretrain': (224, 224),
}

ConfigLike = Union[str, Config]


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOP handle of ``aten::scaled_dot_product_attention``.

    For ``q`` of shape ``(..., L, E)``, ``k`` ``(..., S, E)`` and ``v``
    ``(..., S, Ev)`` it counts ``prod(...) * L * S * (E + Ev)``: the
    multiply-adds of ``q @ k^T`` and of ``softmax(.) @ v``, the convention of
    mmengine's ``matmul`` handle (softmax, scaling and masking are not
    counted, as elementwise ops are not elsewhere).

    Args:
        inputs (list): The traced op's inputs (``q, k, v, ...``).
        outputs (list): The traced op's outputs (unused).

    Returns:
        int: The FLOP count.
    """
    q, k, v = (get_shape(x) for x in inputs[:3])
    if not (q and k and v) or len(q) < 2:
        raise ValueError(f'scaled_dot_product_attention expects q, k, v of '
                         f'rank >= 2, got shapes {q}, {k}, {v}')
    batch = 1
    for d in q[:-2]:
        batch *= d
    return int(batch * q[-2] * k[-2] * (q[-1] + v[-1]))


def baddbmm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOP handle of ``aten::baddbmm`` (``beta * input + alpha * b1 @ b2``,
    mmdet's attention helpers use it): the batched product, the addition not
    counted, as mmengine does for ``aten::addmm``.

    Args:
        inputs (list): The traced op's inputs (``input, batch1, batch2``).
        outputs (list): The traced op's outputs (unused).

    Returns:
        int: The FLOP count.
    """
    b, n, m = get_shape(inputs[1])
    p = get_shape(inputs[2])[-1]
    return int(b * n * m * p)


#: Handles added to mmengine's FLOP counter for the ops it does not count:
#: attention, ``baddbmm`` and the in-place ``addmm_`` (RevColV2 accumulates
#: projections into the residual stream with it; counted as ``addmm``).
EXTRA_FLOP_HANDLES = {
    'aten::scaled_dot_product_attention': sdpa_flop_jit,
    'aten::baddbmm': baddbmm_flop_jit,
    'aten::addmm_': addmm_flop_jit,
}


def normalize_shape(shape: Union[int, Sequence[int]],
                    name: str = 'shape') -> Tuple[int, int]:
    """Turn ``S`` or ``(H, W)`` into a checked ``(H, W)`` tuple.

    Args:
        shape (int | Sequence[int]): Side, or height and width, in pixels.
        name (str): Argument name used in the error message.

    Returns:
        tuple[int, int]: ``(H, W)``.
    """
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape, shape)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f'{name} must be an int or (H, W), got '
                        f'{shape!r}') from None
    if len(shape) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in shape):
        raise ValueError(f'{name} must be a positive int or a pair of '
                         f'positive ints (H, W), got {shape!r}')
    return shape


def add_model_input_args(parser, what: str = 'input image size') -> None:
    """Add the arguments the analysis tools share: ``--shape S | H W``,
    ``--batch-size`` and ``--cfg-options`` (read back with
    :func:`shape_from_args`).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        what (str): What ``--shape`` sets, for the help text.
    """
    from mmengine.config import DictAction
    parser.add_argument(
        '--shape', type=int, nargs='+', metavar='SIZE',
        help=f'{what}: S or H W (default: 1024 det, 512 seg, 224 cls)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per batch (default: 1)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. model.backbone.arch=large')


def shape_from_args(parser, args) -> Union[int, Tuple[int, int], None]:
    """``--shape`` as :func:`normalize_shape` takes it (``None``: the scope's
    default); a wrong number of values is a usage error of ``parser``."""
    if args.shape is None:
        return None
    if len(args.shape) not in (1, 2):
        parser.error(f'--shape takes 1 value (S) or 2 values (H W), got '
                     f'{len(args.shape)}: {args.shape}')
    return args.shape[0] if len(args.shape) == 1 else tuple(args.shape)


def config_scope(cfg: Config) -> str:
    """The ``default_scope`` of a config, checked against
    :data:`DATA_SAMPLES`."""
    scope = cfg.get('default_scope', None)
    if scope not in DATA_SAMPLES:
        raise ValueError(f"the config's default_scope must be one of "
                         f'{sorted(DATA_SAMPLES)} (mmdet, mmseg or '
                         f'mmpretrain configs), got {scope!r}')
    return scope


def load_model(config: ConfigLike,
               checkpoint: Optional[str] = None,
               cfg_options: Optional[Dict[str, Any]] = None,
               device: Union[str, torch.device] = 'cpu'
               ) -> Tuple[nn.Module, Config]:
    """Build the model of a config in eval mode, optionally with weights.

    The backbone's own ``init_cfg`` (a pre-training checkpoint) is not
    applied: the model keeps its random initialisation unless
    ``checkpoint`` (a trained model) is given.

    Args:
        config (str | Config): Config file or object (copied, not changed).
        checkpoint (str, optional): Checkpoint of the whole model, loaded
            with :func:`mmengine.runner.load_checkpoint`. Defaults to None.
        cfg_options (dict, optional): ``{'dotted.key': value}`` overrides.
            Defaults to None.
        device (str | torch.device): Where to put the model. Defaults to
            ``'cpu'``.

    Returns:
        tuple[nn.Module, Config]: the model and the config used.
    """
    from mmrevcol.apis import load_config
    cfg = load_config(config)
    if cfg_options is not None:
        if not isinstance(cfg_options, dict):
            raise TypeError(f'cfg_options must be a dict of dotted keys to '
                            f'values, got {type(cfg_options).__name__}')
        cfg.merge_from_dict(cfg_options)
    scope = config_scope(cfg)
    if cfg.get('model', None) is None:
        raise ValueError(f'the config {cfg.filename or ""} has no model')

    from mmengine.registry import init_default_scope

    from mmrevcol.apis import build_model
    importlib.import_module(f'{scope}.utils').register_all_modules(
        init_default_scope=False)
    init_default_scope(scope)
    model = build_model(cfg)
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint

        from mmrevcol.engine.checkpoint_compat import \
            enable_safe_checkpoint_loading
        enable_safe_checkpoint_loading()
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.to(device)
    model.eval()
    return model, cfg


def dummy_data_batch(scope: str,
                     shape: Union[int, Sequence[int]],
                     batch_size: int = 1,
                     seed: int = 0) -> Dict[str, list]:
    """A data batch as a dataloader of ``scope`` would give it.

    ``batch_size`` random uint8 ``(3, H, W)`` images with data samples of
    the scope's class carrying the meta information the test paths read
    (``img_shape``, ``ori_shape``, ``pad_shape``, ``scale_factor``,
    ``img_id``).

    Args:
        scope (str): One of :data:`DATA_SAMPLES`.
        shape (int | Sequence[int]): ``S`` or ``(H, W)`` of every image.
        batch_size (int): Number of images. Defaults to 1.
        seed (int): Seed of the random pixels. Defaults to 0.

    Returns:
        dict: ``{'inputs': [Tensor], 'data_samples': [DataSample]}``.
    """
    if scope not in DATA_SAMPLES:
        raise ValueError(f'scope must be one of {sorted(DATA_SAMPLES)}, got '
                         f'{scope!r}')
    h, w = normalize_shape(shape)
    if (not isinstance(batch_size, int) or isinstance(batch_size, bool)
            or batch_size < 1):
        raise ValueError(f'batch_size must be an int >= 1, got '
                         f'{batch_size!r}')
    module, name = DATA_SAMPLES[scope].rsplit('.', 1)
    sample_cls = getattr(importlib.import_module(module), name)
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(
            torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                          generator=gen))
        samples.append(
            sample_cls(metainfo=dict(
                img_id=i,
                img_shape=(h, w),
                ori_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1., 1.))))
    return dict(inputs=inputs, data_samples=samples)


@contextmanager
def _tensor_mode(model: nn.Module, data_samples):
    """Make ``model(inputs)`` run ``model(inputs, data_samples,
    mode='tensor')`` inside the block (the tracer passes only tensors)."""
    original = model.forward
    model.forward = functools.partial(
        original, data_samples=data_samples, mode='tensor')
    try:
        yield model
    finally:
        model.forward = original


def get_complexity(config: ConfigLike,
                   shape: Union[int, Sequence[int], None] = None,
                   batch_size: int = 1,
                   cfg_options: Optional[Dict[str, Any]] = None,
                   model: Optional[nn.Module] = None,
                   show_table: bool = False,
                   max_depth: int = 3,
                   activations: bool = True) -> Dict[str, Any]:
    """FLOPs, activations and parameters of a config's model.

    Args:
        config (str | Config): An mmdet, mmseg or mmpretrain config.
        shape (int | Sequence[int], optional): Input image ``S`` or
            ``(H, W)`` before the data preprocessor (which may pad it).
            Defaults to :data:`DEFAULT_SHAPES` of the config's scope.
        batch_size (int): Images per batch; FLOPs are for the whole batch.
            Defaults to 1.
        cfg_options (dict, optional): Dotted-key overrides. Defaults to None.
        model (nn.Module, optional): An already built model of ``config``
            (then ``config`` only supplies the scope). Defaults to None.
        show_table (bool): Also return mmengine's per-module table under
            ``'table'``. Defaults to False.
        max_depth (int): Depth of that table. Defaults to 3.
        activations (bool): Also count activations (a second trace of the
            model). Defaults to True; without it ``activations`` is None.

    Returns:
        dict: ``flops``, ``activations``, ``params`` (ints) and their
        ``*_str`` forms, ``input_shape`` (the ``(B, C, H, W)`` the network
        saw), ``per_module`` (``name -> (flops, params)`` for the model's
        direct children), ``unsupported_ops`` (op name -> count of ops that
        were traced but not counted) and ``table`` (or ``''``).
    """
    from mmengine.analysis.print_helper import (_format_size,
                                                complexity_stats_table)
    from mmrevcol.apis import load_config
    if model is None:
        model, cfg = load_model(config, cfg_options=cfg_options)
    else:
        cfg = load_config(config)
        if cfg_options is not None:
            cfg.merge_from_dict(cfg_options)
    scope = config_scope(cfg)
    shape = DEFAULT_SHAPES[scope] if shape is None else shape
    model.eval()
    batch = dummy_data_batch(scope, shape, batch_size)
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
    inputs, samples = data['inputs'], data.get('data_samples', None)

    with _tensor_mode(model, samples):
        flops = FlopAnalyzer(model, (inputs, ))
        flops.set_op_handle(**EXTRA_FLOP_HANDLES)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(
            False).tracer_warnings('none')
        acts = None
        if activations:
            acts = ActivationAnalyzer(model, (inputs, ))
            acts.unsupported_ops_warnings(False).uncalled_modules_warnings(
                False).tracer_warnings('none')
        total_flops = flops.total()
        total_acts = acts.total() if activations else None
        params = parameter_count(model)
        flops_by_module = flops.by_module()
        table = complexity_stats_table(
            flops=flops, activations=acts, max_depth=max_depth,
            show_param_shapes=False) if show_table else ''
        unsupported = dict(flops.unsupported_ops())

    per_module = {
        name: (int(flops_by_module.get(name, 0)), int(params.get(name, 0)))
        for name, _ in model.named_children()
    }
    return dict(
        flops=int(total_flops),
        flops_str=_format_size(total_flops),
        activations=None if total_acts is None else int(total_acts),
        activations_str=None if total_acts is None else
        _format_size(total_acts),
        params=int(params['']),
        params_str=_format_size(params['']),
        input_shape=tuple(inputs.shape),
        per_module=per_module,
        unsupported_ops=unsupported,
        table=table)


def format_complexity(result: Dict[str, Any]) -> str:
    """A plain-text report of :func:`get_complexity`'s result."""
    b, c, h, w = result['input_shape']
    lines = [
        f'Input shape: {b}x{c}x{h}x{w} (after the data preprocessor)',
        f'FLOPs: {result["flops_str"]} ({result["flops"]:,}, one per '
        f'multiply-add)',
        f'Activations: {result["activations_str"] or "not counted"}',
        f'Params: {result["params_str"]} ({result["params"]:,})',
        '',
        f'{"module":<24}{"FLOPs":>12}{"params":>12}',
    ]
    from mmengine.analysis.print_helper import _format_size
    for name, (fl, pa) in result['per_module'].items():
        lines.append(f'{name:<24}{_format_size(fl):>12}'
                     f'{_format_size(pa):>12}')
    if result['unsupported_ops']:
        ops = ', '.join(f'{k} x{v}'
                        for k, v in sorted(result['unsupported_ops'].items()))
        lines += ['', f'Traced ops without a FLOP handle (not counted; '
                  f'elementwise ops by convention): {ops}']
    if result.get('table'):
        lines += ['', result['table']]
    return '\n'.join(lines)

