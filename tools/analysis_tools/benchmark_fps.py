"""Inference latency and FPS of the model of a config (a detector, a
segmentor or a classifier), timed over complete test steps (preprocessing,
network and post-processing).

    python tools/analysis_tools/benchmark_fps.py CONFIG [CHECKPOINT]
        [--shape H [W]] [--batch-size N] [--warmup N] [--iters N]
        [--device cpu|cuda] [--source dummy|dataset]
        [--cfg-options KEY=VALUE ...]

Without CHECKPOINT the model is randomly initialised. ``--source dummy``
(default) times random images of ``--shape`` (default 1024 det, 512 seg,
224 cls); ``--source dataset`` times the config's test dataloader. A thin
wrapper over :func:`analysis_lib.speed.benchmark_config`.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrevcol.apis import int_at_least  # noqa: E402
from analysis_lib.complexity import (  # noqa: E402
    add_model_input_args, shape_from_args)
from analysis_lib.speed import (SOURCES, benchmark_config,  # noqa: E402
                                     format_latency)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Inference latency / FPS of the model of a config')
    parser.add_argument('config', help='mmdet / mmseg / mmpretrain config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='trained weights (default: random init)')
    add_model_input_args(parser, 'dummy image size')
    parser.add_argument('--warmup', type=int_at_least(0), default=5,
                        help='untimed steps first (default: 5)')
    parser.add_argument('--iters', type=int_at_least(1), default=20,
                        help='timed steps (default: 20)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda, cuda:N (default: cpu)')
    parser.add_argument('--source', choices=SOURCES, default='dummy',
                        help='dummy images or the test dataloader')
    args = parser.parse_args(argv)
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    shape = shape_from_args(parser, args)
    try:
        result = benchmark_config(
            args.config, checkpoint=args.checkpoint, shape=shape,
            batch_size=args.batch_size, num_warmup=args.warmup,
            num_iters=args.iters, device=args.device, source=args.source,
            cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    print(format_latency(result), flush=True)
    return result


if __name__ == '__main__':
    main()
