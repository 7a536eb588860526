"""Evaluate a checkpoint with an mmdet, mmseg, mmpretrain or mmengine config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR] [--tta] [--cfg-options KEY=VALUE ...]
        [--launcher ...]

A thin wrapper over :func:`mmrevcol.apis.test`; the metrics are printed as
one JSON line starting with ``metrics: ``.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mmrevcol  # noqa: E402,F401  (registers the mmrevcol modules)

from mmengine.config import DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

from mmrevcol import apis  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (evaluate) a checkpoint with an mmengine Runner')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='directory for logs (default: work_dir of the config, else '
        './work_dirs/<config stem>)')
    parser.add_argument(
        '--out',
        help='dump the predictions to this .pkl/.pickle file (mmengine '
        'DumpResults) for offline evaluation')
    parser.add_argument(
        '--show-dir',
        help='draw the predictions into this directory (needs the '
        'visualization hook of mmdet, mmseg or mmpretrain in the config)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_pipeline and '
        'tta_model (multi-scale + flip with the mmseg bases)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=1')
    apis.add_launcher_args(parser)
    return apis.parse_tool_args(parser, argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        cfg = apis.build_test_config(
            args.config,
            args.checkpoint,
            work_dir=args.work_dir,
            out=args.out,
            show_dir=args.show_dir,
            cfg_options=args.cfg_options,
            launcher=args.launcher,
            tta=args.tta)
        apis.check_data_roots(cfg, ('test_dataloader', ))
    except (FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    metrics = apis.run_tool_step(parser, apis.run_test, cfg, out=args.out)
    if is_main_process():
        print('metrics: ' + apis.metrics_to_json(metrics), flush=True)
    return metrics


if __name__ == '__main__':
    main()
