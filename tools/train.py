"""Train a model from an mmdet, mmseg, mmpretrain or mmengine config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
        [--amp] [--cfg-options KEY=VALUE ...] [--launcher none|pytorch|...]

A thin wrapper over :func:`mmrevcol.apis.train`.
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

from mmrevcol import apis  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train a model with an mmengine Runner')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='directory for logs and checkpoints (default: work_dir of the '
        'config, else ./work_dirs/<config stem>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        metavar='auto|PATH',
        help='resume training: alone or "auto" resumes from the latest '
        'checkpoint in the work dir; PATH resumes from that checkpoint')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (AmpOptimWrapper, dynamic scale)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_cfg.max_iters=10 '
        '"optim_wrapper.optimizer.lr=1e-3"; lists as key="[a,b]"')
    apis.add_launcher_args(parser)
    return apis.parse_tool_args(parser, argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        cfg = apis.build_train_config(
            args.config,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            cfg_options=args.cfg_options,
            launcher=args.launcher)
        # missing or empty dataset folders, before any model is built
        apis.check_data_roots(cfg, ('train_dataloader', ) + (
            ('val_dataloader', ) if cfg.get('val_cfg') is not None else ()))
    except (FileNotFoundError, ValueError, TypeError) as err:
        parser.error(str(err))
    return apis.run_tool_step(parser, apis.run_train, cfg)


if __name__ == '__main__':
    main()
