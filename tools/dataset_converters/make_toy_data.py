"""Write a deterministic toy dataset in the real ADE20K, COCO or ImageNet
layout, for CPU demos and tests.

Examples::

    python tools/dataset_converters/make_toy_data.py ade20k data/toy_ade20k
    python tools/dataset_converters/make_toy_data.py coco data/toy_coco \\
        --num-train 100 --img-size 96 128 --seed 1
    python tools/dataset_converters/make_toy_data.py imagenet \\
        data/toy_imagenet --force

All the work is done by :func:`mmrevcol.datasets.make_toy_data`; see its
docstring for the layouts and the dataset classes that load them.
"""
import argparse
import sys

from mmrevcol.datasets.toy import DEFAULTS, KINDS, make_toy_data


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    defaults = '; '.join(
        f'{kind}: train {d["num_train"]}, val {d["num_val"]}, '
        f'{d["img_size"][0]}x{d["img_size"][1]}'
        for kind, d in DEFAULTS.items())
    parser = argparse.ArgumentParser(
        description='Write a deterministic toy dataset in the real folder '
        f'layout of ADE20K, COCO or ImageNet. Defaults: {defaults}.')
    parser.add_argument('kind', choices=KINDS, help='dataset layout')
    parser.add_argument(
        'out_dir',
        metavar='OUT_DIR',
        help='output folder (absent or empty, unless --force)')
    parser.add_argument(
        '--num-train',
        type=int,
        default=None,
        metavar='N',
        help='number of training images (default: per kind, see above)')
    parser.add_argument(
        '--num-val',
        type=int,
        default=None,
        metavar='N',
        help='number of validation images (default: per kind, see above)')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs='+',
        default=None,
        metavar='SIZE',
        help='image size: S (square) or H W, each >= 32 '
        '(default: per kind, see above)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed >= 0 (default: 0)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace OUT_DIR if it exists and is not empty')
    return parser


def main(argv=None) -> str:
    """Parse ``argv``, write the dataset and return its path."""
    parser = build_parser()
    args = parser.parse_args(argv)
    img_size = args.img_size
    if img_size is not None:
        if len(img_size) not in (1, 2):
            parser.error(f'--img-size takes 1 value (S) or 2 values (H W), '
                         f'got {len(img_size)}: {img_size}')
        img_size = img_size[0] if len(img_size) == 1 else tuple(img_size)
    try:
        out = make_toy_data(
            args.kind,
            args.out_dir,
            num_train=args.num_train,
            num_val=args.num_val,
            img_size=img_size,
            seed=args.seed,
            force=args.force)
    except (ValueError, TypeError, FileExistsError, NotADirectoryError) as err:
        parser.error(str(err))
    print(f'wrote toy {args.kind} dataset (seed {args.seed}) to {out}')
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
