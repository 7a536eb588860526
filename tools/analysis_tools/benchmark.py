"""RevColV2 vs ViT, reversible vs plain, compiled vs eager: one command, one
table.

    python tools/analysis_tools/benchmark.py [--quick | --tiny]
        [--device cpu|cuda] [--out DIR] [--no-compile]

Prints one table: inference images/s and achieved FLOP/s of RevColV2-B/L
(classification and dense) next to timm ViT-B/L at equal input and batch;
training step time and peak memory, plain vs reversible
(``keep_states_every`` None and 2), of the RevColV2-B backbone, UperNet-
RevColV2-B at 512 and the MIM pre-training step; eager vs compiled. Writes
``DIR/benchmark.json`` (every figure and ratio) and ``DIR/benchmark.png``.
On CUDA: bf16 autocast, synchronised timing, ``max_memory_allocated``; on
the CPU: fp32, process RSS. Rows whose library is missing print
``skipped: <reason>``. ``--quick`` trims repetitions (under 8 minutes on one
GPU, under 15 on 2 CPU cores); ``--tiny`` runs toy-sized models (tests).
See :mod:`analysis_lib.side_by_side`.
"""
import argparse
import importlib.util
import json
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    # Running from a checkout that is not installed: use the checkout.
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from analysis_lib.side_by_side import (RESULT_TAG, format_table,  # noqa
                                       run_benchmark, run_train_row,
                                       write_atomic, write_chart)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='RevColV2 vs ViT, reversible vs plain, compiled vs '
        'eager, in one table')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--quick', action='store_true',
                      help='fewer repetitions, batch 1 for UperNet')
    size.add_argument('--tiny', action='store_true',
                      help='toy-sized models (seconds; for tests)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument('--out', default='work_dirs/benchmark',
                        help='folder of benchmark.json and benchmark.png '
                        '(default: work_dirs/benchmark)')
    parser.add_argument('--no-compile', action='store_true',
                        help='leave out the compiled rows')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    if args.child is not None:  # one training row, in a fresh process
        print(RESULT_TAG + json.dumps(run_train_row(json.loads(args.child))),
              flush=True)
        return None
    profile = 'tiny' if args.tiny else 'quick' if args.quick else 'full'
    try:
        result = run_benchmark(
            profile, args.device, False if args.no_compile else None,
            log=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as err:
        parser.error(str(err))
    table = format_table(result)
    print(table, flush=True)
    result['table'] = table
    png = osp.join(args.out, 'benchmark.png')
    why = write_chart(result, png)
    result['chart'] = png if why is None else f'not written: {why}'
    write_atomic(osp.join(args.out, 'benchmark.json'),
                 lambda f: json.dump(result, f, indent=2), binary=False)
    print(f'wrote {osp.join(args.out, "benchmark.json")} and '
          f'{result["chart"]}', flush=True)
    return result


if __name__ == '__main__':
    main()
