"""Export the backbone of a RevColV2 masked-image-modeling checkpoint.

    python tools/model_converters/revcolv2_mim_export.py SRC DST [--force]

SRC is a checkpoint written by ``tools/train.py`` with a pre-training config
(``configs/revcolv2/revcolv2-*_mim_*.py``, or the joint pre-training ``revcolv2-*_joint-*.py``: the feature predictor is dropped and no teacher is ever saved); DST gets the backbone (every
column and level; the pre-training ``mask_token``, the pixel predictor and
the runner state dropped, with a report), for
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')`` of
the classification, UperNet, Mask R-CNN and Mask2Former configs. Written
atomically, never over SRC; an existing DST needs --force.

A thin wrapper over :func:`mmrevcol.converters.export_mim_backbone`.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmrevcol.converters import ConversionError, export_mim_backbone  # noqa
from mmrevcol.engine.checkpoint_compat import CheckpointFileError  # noqa


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description='Export the backbone of a RevColV2 MIM pre-training '
        'checkpoint for fine-tuning')
    parser.add_argument('src', help='pre-training checkpoint (left untouched)')
    parser.add_argument('dst', help='backbone file to write (atomically)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing DST')
    args = parser.parse_args(argv)
    try:
        report = export_mim_backbone(args.src, args.dst, force=args.force)
    except (ConversionError, CheckpointFileError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
