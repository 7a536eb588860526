"""Plain vs reversible training memory and speed of the RevCol backbones.

Prints, for 2..8 columns, the bytes autograd saves for backward (activations,
weights excluded), the peak memory (``torch.cuda.max_memory_allocated`` on a
GPU; on CPU it is the saved bytes), the median step time, the worst reconstruction
error over the rebuilt columns and the gradient error against plain autograd, in
one run, with the ratios side by side. Modes: ``plain`` autograd, ``rev``
(only the last column's states kept) and ``keepK`` (every K-th column's
states kept too: ``keep_states_every=K``, the backbones' default is 2).
``--frozen-stages F`` adds the reversible modes again with the backbone frozen
at ``frozen_stages=F`` (rows ``rev-fF``, ``keepK-fF``; ``time x`` is still
relative to the unfrozen ``plain`` row): the reversible backward skips the
frozen columns.

    python tools/analysis_tools/benchmark_memory.py               # V2-B, V1-B
    python tools/analysis_tools/benchmark_memory.py --models v2-b \
        --columns 2 3 4 --img-size 256 --keep-states-every 2 4 --plot mem.png
    python tools/analysis_tools/benchmark_memory.py --amp bf16   # autocast
    python tools/analysis_tools/benchmark_memory.py --models v2-b \
        --columns 6 --img-size 224 --frozen-stages 3  # every BU column
    python tools/analysis_tools/benchmark_memory.py --pretrain v2-b \
        --img-size 224 --batch-size 2   # masked pre-training step (75%)

Under ``--amp`` the ``plain`` row's grad err is autocast's own error (plain
autocast against plain fp32), to compare with what the reversible modes add.

``--pretrain MODEL`` measures instead the masked-image-modeling step of the
real arch (``out_type='masked'``): saved bytes, the process's peak resident
memory growth during the step (and ``torch.cuda.max_memory_allocated`` on a
GPU), plain vs reversible, side by side.
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

import torch  # noqa: E402

from analysis_lib import (benchmark_memory, benchmark_pretrain,  # noqa
                               format_memory_table, format_pretrain_table,
                               summarize_memory)
from mmrevcol.apis import float_in, int_at_least  # noqa
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
    p.add_argument('--img-size', type=int_at_least(32), default=512)
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--steps', type=int_at_least(1), default=3,
                   help='timed steps per setting (median)')
    p.add_argument('--warmup', type=int_at_least(0), default=1)
    p.add_argument('--device', default='cpu')
    p.add_argument('--keep-states-every', nargs='*', type=int, default=[2],
                   help='keep_states_every values to measure besides None')
    p.add_argument('--frozen-stages', type=int, metavar='F',
                   help='also measure the reversible modes with the '
                   'backbone frozen at frozen_stages=F (0: the embeddings, '
                   'F > 0: and the first F columns)')
    p.add_argument('--amp', choices=['fp16', 'bf16'],
                   help='run every mode under this autocast dtype')
    p.add_argument('--plot', help='write a PNG plot here')
    p.add_argument('--pretrain', choices=['v2-b', 'v2-l'],
                   help='measure the masked pre-training step of this arch '
                   'instead (--img-size, --batch-size, --mask-ratio)')
    p.add_argument('--mask-ratio', type=float_in(0, 1), default=0.75)
    args = p.parse_args(argv)
    if args.pretrain and args.batch_size < 1:
        p.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if any(c < 1 for c in args.columns):
        p.error(f'--columns must be >= 1, got {args.columns}')
    if any(k < 1 for k in args.keep_states_every):
        p.error(f'--keep-states-every must be >= 1, got '
                f'{args.keep_states_every}')
    if args.frozen_stages is not None and args.frozen_stages < 0:
        p.error(f'--frozen-stages must be >= 0, got {args.frozen_stages}')
    return args


def plot(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r.model for r in results):
        rs = [r for r in results if r.model == name]
        cols = [r.columns for r in rs]
        for mode in rs[0].modes:
            ax.plot(cols, [r.modes[mode].saved / 2**20 for r in rs],
                    'o--' if mode == 'plain' else 'o-',
                    label=f'{name} {mode}')
    ax.set_xlabel('columns')
    ax.set_ylabel('saved activations (MiB)')
    ax.set_yscale('log')
    ax.legend()
    fig.tight_layout()
    tmp = path + '.tmp.png'
    fig.savefig(tmp)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    if args.pretrain:
        arch = {'v2-b': 'base', 'v2-l': 'large'}[args.pretrain]
        kwargs = dict(arch=arch, img_size=args.img_size, out_type='masked',
                      mask_ratio=args.mask_ratio)
        torch.manual_seed(0)
        model = RevColV2(**kwargs)
        print(f'{args.pretrain} masked pre-training step: img '
              f'{args.img_size}x{args.img_size}, batch {args.batch_size}, '
              f'mask {args.mask_ratio}, device {args.device}')
        results = benchmark_pretrain(model, args.img_size, args.batch_size,
                                     args.steps, args.warmup, args.device,
                                     args.keep_states_every, kwargs)
        print(format_pretrain_table(results))
        return
    builders = {m: BUILDERS[m]() for m in args.models}
    print(f'img {args.img_size}x{args.img_size}, batch {args.batch_size}, '
          f'device {args.device}, autocast {args.amp or "off"}')
    dtype = {'fp16': torch.float16, 'bf16': torch.bfloat16}.get(args.amp)
    device_type = torch.device(args.device).type
    with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
        results = benchmark_memory(builders, args.columns, args.img_size,
                                   args.batch_size, args.steps, args.warmup,
                                   args.device, args.keep_states_every,
                                   args.frozen_stages)
    print('\n' + format_memory_table(results,
                                      peaks=device_type == 'cuda'))
    print(summarize_memory(results))
    if args.plot:
        plot(results, args.plot)
        print(f'plot written to {args.plot}')


if __name__ == '__main__':
    main()
