"""Convert an official RevCol (V1) checkpoint for mmrevcol's ``RevCol``.

    python tools/model_converters/revcol_converter.py SRC DST
        [--arch tiny|small|base|large|xlarge|huge] [--kernel-size K]
        [--std 1e-7] [--seed 0] [--checkpoint-key KEY] [--allow-unknown]
        [--force] [--no-progress]

Examples:
    # ImageNet checkpoint -> backbone weights for the configs
    python tools/model_converters/revcol_converter.py \
        revcol_base_1k.pth checkpoints/revcol_b_mm.pth
    # pad the 3x3 depthwise kernels to 13x13 (RevCol, arXiv 2212.11696,
    # App. D.3.1) for configs/revcol/revcol-b-k13_upernet_8xb2-80k_ade20k-512x512.py
    python tools/model_converters/revcol_converter.py \
        revcol_base_1k.pth checkpoints/revcol_b_k13_mm.pth --kernel-size 13

A thin wrapper over :func:`mmrevcol.converters.convert_checkpoint`.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrevcol.converters import ConversionError, convert_checkpoint  # noqa
from mmrevcol.engine.checkpoint_compat import CheckpointFileError  # noqa


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert official RevCol checkpoints (or re-pad mmrevcol '
        'ones) into a weights-only file for mmrevcol RevCol backbones')
    parser.add_argument('src', help='checkpoint to read (left untouched)')
    parser.add_argument('dst', help='file to write (atomically)')
    parser.add_argument(
        '--arch',
        help='expected arch (tiny/small/base/large/xlarge/huge); default: '
        'inferred from the weight shapes')
    parser.add_argument(
        '--kernel-size',
        type=int,
        default=None,
        help='pad the depthwise kernels to this odd size >= the '
        "checkpoint's, e.g. 7 for COCO, 13 for ADE20K (RevCol, arXiv "
        '2212.11696, App. D.3.1)')
    parser.add_argument(
        '--std',
        type=float,
        default=1e-7,
        help='std of the padded taps, N(0, std^2); 0 pads with zeros and '
        'keeps the outputs exactly (default: 1e-7)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the padded taps')
    parser.add_argument(
        '--checkpoint-key',
        help='top-level key holding the state dict (default: the first of '
        'state_dict, model, state_dict_ema)')
    parser.add_argument(
        '--prefix',
        default='backbone.',
        help="prefix of the written keys (default: 'backbone.')")
    parser.add_argument(
        '--allow-unknown',
        action='store_true',
        help='drop keys that are not part of the backbone instead of '
        'failing')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing DST')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = convert_checkpoint(
            args.src,
            args.dst,
            arch=args.arch,
            kernel_size=args.kernel_size,
            std=args.std,
            seed=args.seed,
            allow_unknown=args.allow_unknown,
            force=args.force,
            checkpoint_key=args.checkpoint_key,
            prefix=args.prefix,
            progress=not args.no_progress)
    except (ConversionError, CheckpointFileError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
