"""README command 1: toy data -> train a CPU RevColV2 UperNet -> mIoU + PNG.

    python tools/demo.py [--work-dir work_dirs/demo] [--max-iters N]
"""
import argparse
import os
import sys

try:
    import mmrevcol  # noqa: F401
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))

from mmrevcol.demo import DEFAULT_CONFIG, run_demo  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--data-root', default='data/toy_ade20k')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--max-iters', type=int, default=None)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        p.error(f'--max-iters must be >= 1, got {args.max_iters}')
    run_demo(args.work_dir, args.data_root, args.config, args.max_iters,
             args.seed)


if __name__ == '__main__':
    main()
