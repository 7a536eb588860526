"""FLOPs and parameters of the model of an mmdet, mmseg or mmpretrain config.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H [W]]
        [--batch-size N] [--cfg-options KEY=VALUE ...] [--show-table]
        [--no-activations]

FLOPs count one per multiply-add (mmengine's FlopAnalyzer, the convention of
the OpenMMLab get_flops tools) of the network in ``mode='tensor'`` (no
post-processing) on a dummy batch passed through the model's data
preprocessor. Default sizes: 1024x1024 (mmdet), 512x512 (mmseg), 224x224
(mmpretrain). A thin wrapper over
:func:`analysis_lib.complexity.get_complexity`.
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
    add_model_input_args, format_complexity, get_complexity, shape_from_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='FLOPs and parameters of the model of a config')
    parser.add_argument('config', help='mmdet / mmseg / mmpretrain config')
    add_model_input_args(parser)
    parser.add_argument('--show-table', action='store_true',
                        help='also print the per-module table of mmengine')
    parser.add_argument('--max-depth', type=int_at_least(0), default=3,
                        help='depth of that table (default: 3)')
    parser.add_argument('--no-activations', action='store_true',
                        help='skip counting activations (one trace less)')
    args = parser.parse_args(argv)
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    shape = shape_from_args(parser, args)
    try:
        result = get_complexity(
            args.config, shape=shape, batch_size=args.batch_size,
            cfg_options=args.cfg_options, show_table=args.show_table,
            max_depth=args.max_depth,
            activations=not args.no_activations)
    except (FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    print(format_complexity(result), flush=True)
    return result


if __name__ == '__main__':
    main()
