"""Plain vs reversible training memory and speed of the RevCol backbones.

Prints, for 2..8 columns, the bytes autograd saves for backward (activations,
weights excluded), the peak memory (``torch.cuda.max_memory_allocated`` on a
GPU; the saved bytes on CPU), the median step time and the reconstruction
error of the first column, for plain autograd and the reversible engine, in
one run, with the ratios side by side.

    python tools/analysis_tools/benchmark_memory.py               # V2-B, V1-B
    python tools/analysis_tools/benchmark_memory.py --models v2-b \
        --columns 2 3 4 --img-size 256 --plot mem.png
"""
import argparse
import math
import os
import sys

try:
    import mmrevcol  # noqa: F401
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

from mmrevcol.analysis import benchmark_memory, format_memory_table  # noqa
from mmrevcol.models import RevColV2  # noqa


def v2_builder(arch):
    base = dict(RevColV2.arch_zoo[arch])

    def build(n):
        # n columns in all: ceil(n/2) bottom-up, floor(n/2) top-down
        cfg = dict(base, bu_columns=math.ceil(n / 2), td_columns=n // 2)
        return RevColV2(cfg, img_size=224)

    return build


def v1_builder(arch):
    from mmrevcol.models import RevCol

    def build(n):
        cfg = dict(RevCol.arch_zoo[arch], num_columns=n)
        return RevCol(cfg)

    return build


BUILDERS = {
    'v2-b': lambda: v2_builder('base'),
    'v2-l': lambda: v2_builder('large'),
    'v1-b': lambda: v1_builder('base'),
    'v1-t': lambda: v1_builder('tiny'),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', nargs='+', default=['v2-b', 'v1-b'],
                   choices=sorted(BUILDERS))
    p.add_argument('--columns', nargs='+', type=int,
                   default=[2, 3, 4, 5, 6, 7, 8])
    p.add_argument('--img-size', type=int, default=512)
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--steps', type=int, default=3,
                   help='timed steps per setting (median)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--device', default='cpu')
    p.add_argument('--plot', help='write a PNG plot here')
    args = p.parse_args(argv)
    if any(c < 1 for c in args.columns):
        p.error(f'--columns must be >= 1, got {args.columns}')
    return args


def summarize(results):
    lines = []
    for name in dict.fromkeys(r.model for r in results):
        rs = [r for r in results if r.model == name]
        flat = [r.rev_saved for r in rs if 3 <= r.columns <= 8]
        if flat:
            spread = (max(flat) - min(flat)) / min(flat)
            lines.append(f'{name}: reversible saved bytes vary by '
                         f'{spread * 100:.1f}% over 3..8 columns')
        last = rs[-1]
        lines.append(
            f'{name} @ {last.columns} columns: {last.plain_saved / last.rev_saved:.2f}x'
            f' less saved memory, {last.rev_time / last.plain_time:.2f}x step time')
    return '\n'.join(lines)


def plot(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r.model for r in results):
        rs = [r for r in results if r.model == name]
        cols = [r.columns for r in rs]
        ax.plot(cols, [r.plain_saved / 2**20 for r in rs], 'o--',
                label=f'{name} plain')
        ax.plot(cols, [r.rev_saved / 2**20 for r in rs], 'o-',
                label=f'{name} reversible')
    ax.set_xlabel('columns')
    ax.set_ylabel('saved activations (MiB)')
    ax.legend()
    fig.tight_layout()
    tmp = path + '.tmp.png'
    fig.savefig(tmp)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    builders = {m: BUILDERS[m]() for m in args.models}
    print(f'img {args.img_size}x{args.img_size}, batch {args.batch_size}, '
          f'device {args.device}')
    results = benchmark_memory(builders, args.columns, args.img_size,
                               args.batch_size, args.steps, args.warmup,
                               args.device)
    print('\n' + format_memory_table(results))
    print(summarize(results))
    if args.plot:
        plot(results, args.plot)
        print(f'plot written to {args.plot}')


if __name__ == '__main__':
    main()
