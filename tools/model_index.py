"""Maintain the model index (model-index.yml + metafiles) and the README
model table.

    python tools/model_index.py --update-metafile [--configs C ...]
        [--no-flops]
    python tools/model_index.py --update-readme
    python tools/model_index.py --check [--no-params]

``--update-metafile`` measures parameters and FLOPs of the configs (all the
top-level ``configs/*.py`` by default; FLOPs of the large detectors take a
while on a CPU) and writes them into the metafiles; ``--update-readme``
rewrites only the text between ``<!-- model-table:start -->`` and
``<!-- model-table:end -->`` in README.md; ``--check`` exits with status 1
and lists the problems when the index or the README drifted from the
configs. Both updates can be given together (metafile first). A thin wrapper
over :mod:`mmrevcol.model_index`.
"""
import argparse
import importlib.util
import os.path as osp
import sys
import time

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmrevcol import model_index  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Update or check model-index.yml, the metafiles and the '
        'README model table')
    parser.add_argument(
        '--update-metafile',
        action='store_true',
        help='measure params/FLOPs of the configs and write the metafiles')
    parser.add_argument(
        '--update-readme',
        action='store_true',
        help='rewrite the README model table from the metafiles')
    parser.add_argument(
        '--check',
        action='store_true',
        help='exit 1 if the index or README drifted from the configs')
    parser.add_argument(
        '--configs',
        nargs='+',
        metavar='CONFIG',
        help='with --update-metafile: only these configs (paths relative to '
        'the root, e.g. configs/revcolv2_b_in1k.py)')
    parser.add_argument(
        '--no-flops',
        action='store_true',
        help='with --update-metafile: count parameters only (drops the '
        'recorded FLOPs of the measured configs)')
    parser.add_argument(
        '--no-params',
        action='store_true',
        help='with --check: do not re-count parameters (faster)')
    parser.add_argument(
        '--root',
        default=model_index.ROOT,
        help='repository root (default: this checkout)')
    parser.add_argument(
        '--readme',
        default=None,
        help='README file (default: ROOT/README.md)')
    args = parser.parse_args(argv)
    if not (args.update_metafile or args.update_readme or args.check):
        parser.error('give at least one of --update-metafile, '
                     '--update-readme, --check')
    if (args.configs or args.no_flops) and not args.update_metafile:
        parser.error('--configs and --no-flops go with --update-metafile')
    if args.no_params and not args.check:
        parser.error('--no-params goes with --check')
    return parser, args


def main(argv=None) -> int:
    parser, args = parse_args(argv)
    readme = args.readme or osp.join(args.root, 'README.md')
    try:
        if args.update_metafile:
            start = time.time()
            configs = None
            if args.configs:
                # paths relative to the current folder or to the root
                configs = [
                    osp.relpath(osp.abspath(c), args.root).replace('\\', '/')
                    if osp.exists(c) else c for c in args.configs
                ]
            measured = model_index.update_metafiles(
                args.root, configs, flops=not args.no_flops)
            print(f'measured {len(measured)} configs in '
                  f'{time.time() - start:.0f}s')
        if args.update_readme:
            table = model_index.render_table(model_index.load_index(args.root))
            changed = model_index.update_readme(readme, table)
            print(f'{readme}: model table '
                  f'{"updated" if changed else "already up to date"}')
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if args.check:
        problems = model_index.check(
            args.root, params=not args.no_params, readme=readme)
        for problem in problems:
            print(problem)
        if problems:
            print(f'model index check: {len(problems)} problem(s)')
            return 1
        print('model index check: OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
