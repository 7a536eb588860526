"""RevColV2 + Mask2Former (mmseg) on ADE20K: configs, train and predict steps
on CPU with a tiny arch, and the toy config through tools/train.py."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData

import mmrevcol  # noqa: F401  (registers RevColV2 and the constructor)
from mmrevcol.datasets.toy import make_toy_data
from mmrevcol.apis import build_model, count_parameters

from tests.helpers import data_root_options, run_tool
from tests.helpers import ROOT

REPO = ROOT
CFG_B = osp.join(REPO, 'configs', 'revcolv2', 'revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py')
CFG_L = osp.join(REPO, 'configs', 'revcolv2', 'revcolv2-l_mask2former_8xb2-160k_ade20k-640x640.py')
CFG_TOY = osp.join(REPO, 'configs', 'toy',
                   'mask2former_revcolv2_toy_ade20k.py')


def tiny_cfg(size=(64, 64)):
    """The toy config with a smaller training pad size."""
    cfg = Config.fromfile(CFG_TOY)
    cfg.model.data_preprocessor.size = size
    return cfg


def seg_batch(hw=(60, 52), n=2, num_classes=9, seed=0):
    """A batch as the mmseg pipeline packs it (uint8 images, labels with some
    ignored pixels)."""
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, *hw), generator=g,
                                    dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, *hw), generator=g)
        label[:, :4] = 255  # ignored rows
        # the keys PackSegInputs packs after the test pipeline (no Pad)
        s = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw,
                                        scale_factor=(1., 1.), flip=False,
                                        reduce_zero_label=True))
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('path,arch,dims', [(CFG_B, 'base', 416),
                                            (CFG_L, 'large', 672)])
def test_real_configs_follow_the_paper(path, arch, dims):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    bb = cfg.model.backbone
    assert bb.type == 'RevColV2' and bb.arch == arch
    assert bb.out_indices == (0, 1, 2, 3) and bb.out_strides == (4, 8, 16, 32)
    assert bb.drop_path_rate == 0.3  # App. B.4
    assert tuple(bb.img_size) == (640, 640) == tuple(cfg.crop_size)
    head = cfg.model.decode_head
    assert head.type == 'Mask2FormerHead'
    # the four resized levels go straight into the pixel decoder
    assert head.in_channels == [dims] * 4
    assert head.strides == [4, 8, 16, 32]
    assert head.num_classes == 150
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == 2e-5
    assert opt.constructor == 'RevColLayerDecayOptimWrapperConstructor'
    assert opt.paramwise_cfg.layer_decay_rate == 0.9
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    # sliding-window test: Mask2FormerHead resizes its masks to 'pad_shape'
    # when the data preprocessor pads test images, which would break the
    # per-window logits; the configs must not pad at test time
    assert cfg.model.test_cfg.mode == 'slide'
    assert not cfg.model.data_preprocessor.get('test_cfg')


@pytest.mark.parametrize('path,paper', [(CFG_B, 325e6), (CFG_L, 570e6)])
def test_real_configs_reach_the_paper_size(path, paper):
    """The 1024-wide head puts the totals within 6% of Table 3 (a stock
    256-wide head would give ~125M / ~380M)."""
    cfg = Config.fromfile(path)
    model = build_model(cfg, 'meta')
    n = count_parameters(model)
    head = count_parameters(model.decode_head)
    print(f'{osp.basename(path)}: {n / 1e6:.1f}M (paper {paper / 1e6:.0f}M),'
          f' head {head / 1e6:.1f}M')
    assert abs(n - paper) / paper < 0.06
    assert model.decode_head.pixel_decoder.input_convs[0].conv.in_channels \
        == model.backbone.embed_dims


def test_train_step_reaches_the_backbone():
    cfg = tiny_cfg()
    model = build_model(cfg)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(seg_batch(), True)
    assert data['inputs'].shape == (2, 3, 64, 64)  # padded to the pad size
    with DefaultScope.overwrite_default_scope('mmseg'):
        losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss > 0
    assert {'decode.loss_cls', 'decode.loss_mask', 'decode.loss_dice'} <= set(
        log_vars)
    loss.backward()
    missing = [n for n, p in model.backbone.named_parameters()
               if p.requires_grad and (p.grad is None
                                       or not torch.any(p.grad != 0))]
    assert not missing, missing
    head = model.decode_head
    assert torch.any(head.query_feat.weight.grad != 0)
    assert torch.any(
        head.pixel_decoder.input_convs[0].conv.weight.grad != 0)


def test_train_step_with_the_configured_optimizer():
    cfg = tiny_cfg()
    model = build_model(cfg)
    model.init_weights()
    model.train()
    with DefaultScope.overwrite_default_scope('mmseg'):
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    base = cfg.optim_wrapper.optimizer.lr
    depth = model.backbone.num_layers
    embed = [g for g in optim.optimizer.param_groups
             if any(p is model.backbone.patch_embed.weight
                    for p in g['params'])][0]
    assert embed['lr'] == pytest.approx(base * 0.9**(depth - 1))
    query = [g for g in optim.optimizer.param_groups
             if any(p is model.decode_head.query_embed.weight
                    for p in g['params'])][0]
    assert query['lr'] == pytest.approx(base) and query['weight_decay'] == 0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with DefaultScope.overwrite_default_scope('mmseg'):
        log_vars = model.train_step(seg_batch(seed=1), optim)
    assert torch.isfinite(log_vars['loss'])
    changed = [n for n, p in model.named_parameters()
               if not torch.equal(before[n], p.detach())]
    assert any(n.startswith('backbone.columns.0.') for n in changed)
    assert any(n.startswith('decode_head.transformer_decoder')
               for n in changed)


@pytest.mark.parametrize('test_cfg', [
    dict(mode='whole'),
    # the real configs test with a sliding window (crop 640, stride 426)
    dict(mode='slide', crop_size=(32, 32), stride=(21, 21)),
])
def test_predict_step_returns_full_size_maps(test_cfg):
    cfg = tiny_cfg()
    cfg.model.test_cfg = test_cfg
    model = build_model(cfg)
    model.init_weights()
    model.eval()
    hw = (60, 52)  # not a multiple of the 8x8 patches nor of 32
    with DefaultScope.overwrite_default_scope('mmseg'), torch.no_grad():
        outs = model.test_step(seg_batch(hw=hw))
    assert len(outs) == 2
    for out in outs:
        assert out.seg_logits.data.shape == (9, *hw)
        assert out.pred_sem_seg.data.shape == (1, *hw)
        assert torch.isfinite(out.seg_logits.data).all()
        pred = out.pred_sem_seg.data
        assert pred.min() >= 0 and pred.max() < 9
        assert torch.equal(pred[0], out.seg_logits.data.argmax(0))


def test_toy_config_trains_through_train_tool(tmp_path):
    data = make_toy_data('ade20k', str(tmp_path / 'toy_ade20k'), num_train=4,
                         num_val=2, img_size=64)
    work = tmp_path / 'work'
    opts = data_root_options(data) + [
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1'
    ]
    proc = run_tool('train.py', CFG_TOY, '--work-dir', str(work),
                    '--cfg-options', *opts, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'mIoU' in out and 'decode.loss_mask' in out
    assert (work / 'iter_2.pth').is_file()
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]
