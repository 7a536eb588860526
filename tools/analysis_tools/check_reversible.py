"""Reconstruction error of a config's reversible backbone, with given
weights, per autocast precision and ``keep_states_every``.

    python tools/analysis_tools/check_reversible.py CONFIG [CHECKPOINT]
        [--keep-states-every none 2 4] [--precisions fp32 bf16 fp16]
        [--source dummy|dataset] [--num-batches N] [--shape H [W]]
        [--batch-size N] [--device cpu|cuda] [--cfg-options KEY=VALUE ...]

CHECKPOINT may hold the whole model or only the backbone (e.g. the output
of tools/model_converters/revcol_converter.py); without it the backbone is
randomly initialised. Each row gives the worst rebuilt column's error (max
absolute error / max state magnitude) and the per-column errors; pick the
largest ``keep_states_every`` whose error is small for the precision you
train in (the backbones default to 2). A thin wrapper over
:func:`analysis_lib.reversible_check.check_reconstruction`.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from analysis_lib.complexity import (  # noqa: E402
    add_model_input_args, shape_from_args)
from analysis_lib.reversible_check import (  # noqa: E402
    PRECISIONS, check_reconstruction, format_reconstruction)
from analysis_lib.speed import SOURCES  # noqa: E402

from mmrevcol.apis import int_at_least  # noqa: E402
from mmrevcol.models.checkpoint import CheckpointKeyError  # noqa: E402


def _keep(value: str):
    if value.lower() == 'none':
        return None
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(
            f"must be 'none' or an int >= 1, got {value!r}")
    return k


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Reconstruction error of the reversible backbone of a '
        'config, per precision and keep_states_every')
    parser.add_argument('config', help='mmdet / mmseg / mmpretrain config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='whole-model or backbone weights (default: '
                        'random init)')
    parser.add_argument('--keep-states-every', nargs='+', type=_keep,
                        default=[None, 2], metavar='none|K',
                        help='values to measure (default: none 2)')
    parser.add_argument('--precisions', nargs='+', choices=sorted(PRECISIONS),
                        default=['fp32', 'bf16'],
                        help='autocast precisions (default: fp32 bf16)')
    parser.add_argument('--source', choices=SOURCES, default='dummy',
                        help='dummy images or the test dataloader')
    parser.add_argument('--num-batches', type=int_at_least(1), default=1,
                        help='batches to measure (dataset; default: 1)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda, cuda:N (default: cpu)')
    add_model_input_args(parser, 'dummy image size')
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        rows, note = check_reconstruction(
            args.config, args.checkpoint, shape=shape_from_args(parser, args),
            batch_size=args.batch_size, num_batches=args.num_batches,
            source=args.source, keep_every=args.keep_states_every,
            precisions=args.precisions, device=args.device,
            cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError, TypeError,
            CheckpointKeyError) as err:
        parser.error(str(err))
    print(note)
    print(format_reconstruction(rows), flush=True)
    return rows


if __name__ == '__main__':
    main()
