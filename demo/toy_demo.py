"""README command 1: toy data -> train a CPU RevColV2 UperNet -> mIoU + PNG.

    python demo/toy_demo.py [--work-dir work_dirs/demo] [--max-iters N]

:func:`run_demo` writes the
toy ADE20K set if it is absent, trains the CPU-sized RevColV2 UperNet of
``configs/toy/`` with the mmengine Runner (the same path as
``tools/train.py``), evaluates it on the toy validation split, prints the
mIoU and saves a PNG with input / ground truth / prediction rows.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Optional

import numpy as np

try:
    import mmrevcol  # noqa: F401
except ImportError:  # running from a checkout without installation
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmrevcol.apis import int_at_least  # noqa: E402
from mmrevcol.resources import resource_path, resource_root  # noqa: E402

#: The checkout, or ``mmrevcol/.mim`` of a wheel install (see
#: :mod:`mmrevcol.resources`).
ROOT = resource_root()
DEFAULT_CONFIG = resource_path('configs', 'toy',
                               'upernet_revcolv2_toy_ade20k.py')


def colorize(label: np.ndarray, palette, ignore_index: int = 255):
    """Map a label map to RGB with ``palette``; ignored pixels are black."""
    out = np.zeros(label.shape + (3, ), dtype=np.uint8)
    for idx, color in enumerate(palette):
        out[label == idx] = color
    out[label == ignore_index] = 0
    return out


def save_prediction_grid(rows, path: str) -> str:
    """Stack ``[(image, gt_rgb, pred_rgb), ...]`` rows into one PNG, written
    atomically."""
    from PIL import Image
    pad = 4
    tiles = [np.concatenate([np.pad(t, ((pad, pad), (pad, pad), (0, 0)),
                                    constant_values=255) for t in row], 1)
             for row in rows]
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)),
                    constant_values=255) for t in tiles]
    grid = np.concatenate(tiles, 0)
    from mmrevcol.utils.io import atomic_write
    return atomic_write(
        path, lambda f: Image.fromarray(grid).save(f, format='PNG'))


def run_demo(work_dir: str = 'work_dirs/demo',
             data_root: str = 'data/toy_ade20k',
             config: str = DEFAULT_CONFIG,
             max_iters: Optional[int] = None,
             seed: int = 0,
             num_vis: int = 4) -> Dict[str, float]:
    """Run the toy demo and return the evaluation metrics.

    Args:
        work_dir (str): Logs, checkpoint and ``demo_predictions.png``.
        data_root (str): Toy ADE20K folder; written when absent.
        config (str): The toy config.
        max_iters (int, optional): Override the training iterations.
        seed (int): Data and training seed.
        num_vis (int): Validation images drawn in the PNG.

    Returns:
        dict: The metrics of the final evaluation (``mIoU`` ...).
    """
    import torch
    from mmengine.runner import Runner
    from PIL import Image

    from mmrevcol.apis import build_train_config
    from mmrevcol.datasets.toy import make_toy_data

    if max_iters is not None and max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    if not osp.isdir(data_root):
        print(f'[demo] writing the toy ADE20K set to {data_root}')
        make_toy_data('ade20k', data_root, seed=seed)
    options = {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'randomness': dict(seed=seed),
    }
    if max_iters is not None:
        warmup = max(1, min(50, max_iters // 10))
        options.update({
            'param_scheduler.0.end': warmup,
            'param_scheduler.1.begin': warmup,
            'train_cfg.max_iters': max_iters,
            'train_cfg.val_interval': max_iters,
            'default_hooks.checkpoint.interval': max_iters,
            'param_scheduler.1.end': max_iters,
        })
    cfg = build_train_config(config, work_dir=work_dir, cfg_options=options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    print(f"[demo] toy ADE20K val mIoU: {metrics['mIoU']:.2f} "
          f"(aAcc {metrics['aAcc']:.2f}, mAcc {metrics['mAcc']:.2f})")

    palette = cfg.metainfo['palette']
    rows = []
    model = runner.model.eval()
    with torch.no_grad():
        for batch in runner.test_dataloader:
            for sample in model.test_step(batch):
                img = np.asarray(Image.open(sample.img_path).convert('RGB'))
                gt = sample.gt_sem_seg.data[0].cpu().numpy()
                pred = sample.pred_sem_seg.data[0].cpu().numpy()
                pred = pred.astype(np.int64)
                pred[gt == 255] = 255  # unlabeled pixels are not scored
                rows.append((img, colorize(gt, palette),
                             colorize(pred, palette)))
            if len(rows) >= num_vis:
                break
    path = save_prediction_grid(rows[:num_vis],
                                osp.join(cfg.work_dir,
                                         'demo_predictions.png'))
    print(f'[demo] predictions (input | ground truth | prediction): {path}')
    return metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--data-root', default='data/toy_ade20k')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--max-iters', type=int, default=None)
    p.add_argument('--seed', type=int_at_least(0), default=0)
    args = p.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        p.error(f'--max-iters must be >= 1, got {args.max_iters}')
    run_demo(args.work_dir, args.data_root, args.config, args.max_iters,
             args.seed)


if __name__ == '__main__':
    main()
