"""FLOPs and parameters of the model of an mmdet, mmseg or mmpretrain config.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H [W]]
        [--batch-size N] [--cfg-options KEY=VALUE ...] [--show-table]
        [--no-activations]

FLOPs count one per multiply-add (mmengine's FlopAnalyzer, the convention of
the OpenMMLab get_flops tools) of the network in ``mode='tensor'`` (no
post-processing) on a dummy batch passed through the model's data
preprocessor. Default sizes: 1024x1024 (mmdet), 512x512 (mmseg), 224x224
(mmpretrain). A thin wrapper over
:func:`mmrevcol.analysis.complexity.get_complexity`.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from mmrevcol.analysis.complexity import (format_complexity,  # noqa: E402
                                          get_complexity)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='FLOPs and parameters of the model of a config')
    parser.add_argument('config', help='mmdet / mmseg / mmpretrain config')
    parser.add_argument(
        '--shape', type=int, nargs='+', metavar='SIZE',
        help='input image size: S or H W (default: 1024 det, 512 seg, '
        '224 cls)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per batch (default: 1)')
    parser.add_argument('--show-table', action='store_true',
                        help='also print the per-module table of mmengine')
    parser.add_argument('--max-depth', type=int, default=3,
                        help='depth of that table (default: 3)')
    parser.add_argument('--no-activations', action='store_true',
                        help='skip counting activations (one trace less)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. model.backbone.arch=large')
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error(f'--shape takes 1 value (S) or 2 values (H W), got '
                     f'{len(args.shape)}: {args.shape}')
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    shape = None
    if args.shape is not None:
        shape = args.shape[0] if len(args.shape) == 1 else tuple(args.shape)
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
