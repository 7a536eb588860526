"""Draw what a RevColV2 masked-image-modeling model reconstructs.

    python tools/analysis_tools/visualize_mim.py CONFIG CHECKPOINT OUT.png
        [--num-images 4] [--seed 0] [--mask-ratio R]
        [--cfg-options KEY=VALUE ...]

One row per image: the masked input (masked patches grey) | the
reconstruction (predicted pixels on the masked patches, the input on the
visible ones) | the original. The images are the first ones of the config's
training set, resized to the backbone's ``img_size`` (no augmentation).
Predictions are in per-patch normalised space (``norm_pix``); they are drawn
with the mean and variance of the original patch, as MAE does.
"""
import argparse
import importlib.util
import os.path as osp
import sys

if importlib.util.find_spec('mmrevcol') is None:
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mmrevcol.apis import float_in, int_at_least  # noqa: E402


def reconstruction_rows(model, inputs: torch.Tensor, seed: int = 0,
                        mask_ratio=None) -> np.ndarray:
    """``(rows * H, 3 * W, 3)`` uint8 RGB image of (masked | reconstruction
    | original) rows for preprocessed ``inputs``."""
    head = model.head
    torch.manual_seed(seed)
    with torch.no_grad():
        levels, mask = model.backbone.forward_masked(inputs, mask_ratio)
        pred = model.neck(levels[0])
    target = head.patchify(inputs)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    pixels = pred * (var + 1e-6)**.5 + mean if head.norm_pix else pred
    m = mask.unsqueeze(-1)
    recon = head.unpatchify(pixels * m + target * (1 - m))
    masked = head.unpatchify(target * (1 - m))
    pre = model.data_preprocessor
    std = pre.std.view(1, -1, 1, 1)
    mean_px = pre.mean.view(1, -1, 1, 1)

    def to_rgb(t):
        img = (t * std + mean_px).clamp(0, 255).byte()
        return img.permute(0, 2, 3, 1).numpy()  # RGB (to_rgb preprocessor)

    grey = np.full_like(to_rgb(masked), 128)
    keep = (1 - mask).reshape(mask.shape[0], *([int(mask.shape[1]**.5)] * 2))
    keep = keep.repeat_interleave(head.patch_size, 1).repeat_interleave(
        head.patch_size, 2).unsqueeze(-1).numpy().astype(bool)
    masked_img = np.where(keep, to_rgb(masked), grey)
    rows = [np.concatenate([a, b, c], axis=1) for a, b, c in zip(
        masked_img, to_rgb(recon), to_rgb(inputs))]
    return np.concatenate(rows, axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='PNG to write')
    parser.add_argument('--num-images', type=int_at_least(1), default=4)
    parser.add_argument('--seed', type=int_at_least(0), default=0)
    parser.add_argument('--mask-ratio', type=float_in(0, 1), default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')

    import mmcv
    from mmengine.dataset import default_collate
    from mmengine.registry import DATASETS, DefaultScope
    from mmengine.runner import load_checkpoint

    from mmrevcol.apis import load_config
    from mmrevcol.engine import enable_safe_checkpoint_loading
    from mmrevcol.apis import build_model

    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)
    if getattr(model.backbone, 'out_type', None) != 'masked':
        parser.error('CONFIG must be a RevColV2 masked-image-modeling '
                     "config (backbone out_type='masked')")
    enable_safe_checkpoint_loading()
    load_checkpoint(model, args.checkpoint, map_location='cpu',
                    logger='silent')
    size = model.backbone.pos_grid[0] * model.backbone.patch_size
    dataset_cfg = cfg.train_dataloader.dataset.copy()
    dataset_cfg.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(size, size)),
        dict(type='PackInputs')
    ]
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        dataset = DATASETS.build(dataset_cfg)
    batch = default_collate(
        [dataset[i] for i in range(min(args.num_images, len(dataset)))])
    inputs = model.data_preprocessor(batch, False)['inputs']
    grid = reconstruction_rows(model, inputs, args.seed, args.mask_ratio)
    mmcv.imwrite(grid[..., ::-1], args.out)  # BGR on disk
    print(f'wrote {args.out}: {len(batch["inputs"])} rows of masked input | '
          f'reconstruction | original ({grid.shape[1]}x{grid.shape[0]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
