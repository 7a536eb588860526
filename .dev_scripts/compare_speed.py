"""What a change bought: RevColV2-B speed of two revisions (and of the
current tree with single fast paths switched off), side by side in one run.

    python .dev_scripts/compare_speed.py --base cd547aa [--repeat 3]

Rows: inference images/s (eager, no grad, fp32, batch 4, 224) of timm
ViT-B/16 and RevColV2-B in classification and dense mode, and the training
step (batch 2, 224, drop path 0.1, ``keep_states_every=2``) plain and
reversible. Variants: ``base`` (the ``--base`` revision, checked out into a
temporary git worktree), ``head`` (this tree), and ``head`` with one fast
path switched off: ``no-fuse`` (the level input and the residual
projections as separate Linear layers and adds, the autocast path) and
``no-rng-skip`` (the RNG state captured for every level; training rows
only). Every measurement
runs in a fresh process, the variants alternate ``--repeat`` times and the
table keeps each one's fastest, so a slow minute of the machine hits all of
them alike. Run it alone on the machine: two timing jobs on 2 cores slow
each other 5-10x.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROWS = ('vit', 'cls', 'dense', 'train-plain', 'train-rev')
VARIANTS = ('base', 'head', 'no-fuse', 'no-rng-skip')


#: ``--tiny`` (tests): toy sizes, seconds instead of minutes.
TINY = dict(arch=dict(embed_dims=32, num_heads=2, bu_columns=2, bu_depth=4,
                      td_columns=2, td_depth=4), img=64)


def child(src: str, row: str, variant: str, iters: int,
          tiny: bool = False) -> dict:
    """Time one row in this process (imports from ``src``)."""
    sys.path.insert(0, src)
    import torch
    from mmrevcol.models import RevColV2
    if variant == 'no-fuse':
        from mmrevcol.utils import compat
        compat.autocast_enabled = lambda device_type: True
    if variant == 'no-rng-skip':
        from mmrevcol.models import reversible
        reversible.level_uses_rng = lambda level: True
    torch.manual_seed(0)
    arch, img = ('base', 224) if not tiny else (TINY['arch'], TINY['img'])
    if row.startswith('train'):
        model = RevColV2(arch, img_size=img, drop_path_rate=0.1,
                         reversible=row == 'train-rev',
                         keep_states_every=2).train()
        x = torch.randn(2, 3, img, img)

        def step():
            model.zero_grad(set_to_none=True)
            outs = model(x)
            sum(o.float().mean() for o in outs).backward()
    else:
        if row == 'vit':
            import timm
            model = timm.create_model(
                'vit_base_patch16_224', num_classes=0, img_size=img,
                **(dict(embed_dim=32, depth=2, num_heads=2) if tiny else {}))
        elif row == 'cls':
            model = RevColV2(arch, img_size=img, out_type='avg_featmap',
                             out_indices=(3, ))
        else:
            model = RevColV2(arch, img_size=img)
        model.eval()
        x = torch.randn(4, 3, img, img)

        def step():
            with torch.no_grad():
                model(x)
    step()  # warm-up
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return dict(row=row, variant=variant, times=times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--base', help='git revision to compare with')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--rows', default=','.join(ROWS))
    parser.add_argument('--variants', default=','.join(VARIANTS))
    parser.add_argument('--tiny', action='store_true',
                        help='toy-sized models (tests)')
    parser.add_argument('--child', nargs=3, metavar=('SRC', 'ROW', 'VAR'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print('RESULT ' + json.dumps(child(*args.child, args.iters,
                                           args.tiny)))
        return None
    rows = args.rows.split(',')
    variants = args.variants.split(',')
    bad = sorted(set(rows) - set(ROWS)) + sorted(set(variants) -
                                                   set(VARIANTS))
    if bad:
        parser.error(f'unknown rows/variants {bad}; rows: {ROWS}, '
                     f'variants: {VARIANTS}')
    if 'base' in variants and not args.base:
        parser.error('the base variant needs --base REVISION')
    tmp = tempfile.mkdtemp(prefix='compare_speed_')
    srcs = {v: ROOT for v in variants}
    try:
        if 'base' in variants:
            srcs['base'] = osp.join(tmp, 'base')
            subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '-q',
                            '--detach', srcs['base'], args.base], check=True)
        best = {}
        for _ in range(args.repeat):
            for row in rows:
                for variant in variants:
                    if row == 'vit' and variant != 'head':
                        continue
                    if variant == 'no-rng-skip' and not row.startswith(
                            'train'):
                        continue  # inference captures no RNG state
                    out = subprocess.run(
                        [sys.executable, osp.abspath(__file__), '--iters',
                         str(args.iters), '--child', srcs[variant], row,
                         variant] + (['--tiny'] if args.tiny else []),
                        capture_output=True, text=True,
                        cwd=tmp, env=dict(os.environ))
                    line = [x for x in out.stdout.splitlines()
                            if x.startswith('RESULT ')]
                    if out.returncode or not line:
                        sys.stderr.write(out.stderr[-2000:])
                        raise SystemExit(f'{row}/{variant} failed')
                    t = min(json.loads(line[0][7:])['times'])
                    key = (row, variant)
                    best[key] = min(best.get(key, t), t)
                    print(f'  {row:12s} {variant:12s} {t:7.3f} s',
                          flush=True)
    finally:
        if 'base' in variants:
            subprocess.run(['git', '-C', ROOT, 'worktree', 'remove',
                            '--force', srcs['base']])
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    result = {f'{r}/{v}': t for (r, v), t in best.items()}
    print(f'{"row":12s}' + ''.join(f'{v:>13s}' for v in variants)
          + '   (fastest of each, seconds per batch)')
    for row in rows:
        cells = [best.get((row, v)) for v in variants]
        print(f'{row:12s}' + ''.join(
            f'{c:13.3f}' if c is not None else f'{"-":>13s}'
            for c in cells))
    vit = None if args.tiny else best.get(('vit', 'head'))
    # FLOPs per image (mmengine's counter, tools/analysis_tools/benchmark.py)
    flops = dict(vit=17.58e9, cls=18.95e9, dense=21.71e9)
    if vit:
        print('\nachieved FLOP/s / ViT-B\'s:')
        for row in ('cls', 'dense'):
            for v in variants:
                if (row, v) in best:
                    ratio = (flops[row] / best[(row, v)]) / (flops['vit'] /
                                                           vit)
                    print(f'  {row:6s} {v:12s} {ratio:.3f}x')
    for v in variants:
        plain, rev = best.get(('train-plain', v)), best.get(('train-rev', v))
        if plain and rev:
            print(f'reversible / plain step, {v}: {rev / plain:.3f}x')
    return result


if __name__ == '__main__':
    main()
