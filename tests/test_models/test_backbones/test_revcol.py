"""RevCol (V1) backbone: structure, shapes, reversibility, configs and one
train step of a detector and a segmentor on CPU."""
import glob
import math
import os.path as osp

import pytest
import torch

import mmrevcol.engine.optimizers  # noqa: F401 (registers the constructor)
from mmrevcol.models import reconstruction_errors
from mmrevcol.models.backbones.revcol import RevCol
from tests.helpers import ROOT

ROOT = ROOT

#: CPU-sized archs: a plain one and one with the RevCol-H level-0 branch.
TINY = dict(channels=[8, 16, 24, 32], depths=[1, 1, 2, 1], num_columns=3)
TINY_H = dict(TINY, fuse_top=True)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# -------------------------------------------------------------- the model
# Backbone parameter counts from the issue (RevCol, arXiv 2212.11696,
# Table 1 minus the classifier), given to 3-4 significant digits. The
# tolerance is the rounding of each number: half a unit of its last digit
# (<= 0.25%).
@pytest.mark.parametrize('arch,count,unit', [
    ('tiny', 29.9, 0.1), ('small', 60.1, 0.1), ('base', 138.0, 0.1),
    ('large', 272.1, 0.1), ('xlarge', 832, 1), ('huge', 2150, 10)])
def test_param_counts(arch, count, unit):
    with torch.device('meta'):
        model = RevCol(arch)
    millions = n_params(model) / 1e6
    print(f'RevCol-{arch}: {millions:.3f}M parameters (issue: {count}M)')
    assert abs(millions - count) <= unit / 2


def test_arch_zoo_matches_paper_variants():
    # RevCol sec. 3: channels / blocks per level / columns
    expected = {
        'tiny': ((64, 128, 256, 512), (2, 2, 4, 2), 4),
        'small': ((64, 128, 256, 512), (2, 2, 4, 2), 8),
        'base': ((72, 144, 288, 576), (1, 1, 3, 2), 16),
        'large': ((128, 256, 512, 1024), (1, 2, 6, 2), 8),
        'xlarge': ((224, 448, 896, 1792), (1, 2, 6, 2), 8),
        'huge': ((360, 720, 1440, 2880), (1, 2, 6, 2), 8),
    }
    for name, (channels, depths, cols) in expected.items():
        s = RevCol.parse_arch(name)
        assert (s['channels'], s['depths'], s['num_columns']) == (
            channels, depths, cols)
        assert s['fuse_top'] is (name == 'huge')
        assert RevCol.parse_arch(name[0] if name != 'xlarge' else 'xl') == s
        assert RevCol.arch_name(s) == name


@pytest.mark.parametrize('hw', [(64, 64), (70, 45), (33, 97), (224, 160)])
def test_output_shapes_strides_and_odd_sizes(hw):
    model = RevCol(TINY).eval()
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        outs = model(x)
    h, w = hw[0] // 4, hw[1] // 4  # stem: k4 s4; then k2 s2 per level
    for lvl, out in enumerate(outs):
        assert out.shape == (2, TINY['channels'][lvl], h, w)
        assert torch.isfinite(out).all()
        h, w = h // 2, w // 2
    if hw[0] % 32 == 0 and hw[1] % 32 == 0:
        for out, stride in zip(outs, (4, 8, 16, 32)):
            assert out.shape[-2:] == (hw[0] // stride, hw[1] // stride)


def test_out_indices_and_out_norms():
    x = torch.randn(1, 3, 64, 64)
    plain = RevCol(TINY, out_indices=(1, -1)).eval()
    assert plain.out_indices == (1, 3)
    assert not any(k.startswith('out_norm') for k in plain.state_dict())
    outs = plain(x)
    assert [o.shape[1] for o in outs] == [16, 32]
    normed = RevCol(TINY, out_indices=(1, 3), out_norms=True).eval()
    assert sorted(k for k in normed.state_dict() if 'out_norm' in k) == [
        'out_norm1.bias', 'out_norm1.weight', 'out_norm3.bias',
        'out_norm3.weight']
    normed.load_state_dict(plain.state_dict(), strict=False)
    for out, ref in zip(normed(x), outs):
        expected = torch.nn.functional.layer_norm(
            ref.permute(0, 2, 3, 1), (ref.shape[1], ), eps=1e-6)
        torch.testing.assert_close(out, expected.permute(0, 3, 1, 2))


def test_column_structure_and_fusion_reads():
    model = RevCol(TINY)
    first = model.columns[0]
    assert first.first and not any(
        n.startswith('gamma') for n, _ in first.named_parameters())
    assert model.columns[0].levels[0].down is None
    for j, column in enumerate(model.columns):
        for lvl, level in enumerate(column.levels):
            expected = () if j == 0 or lvl == 3 else (lvl + 1, )
            assert level.prev_levels == expected
            assert hasattr(level, 'up') == bool(expected)
            assert not hasattr(level, 'up2')
            assert (level.down is None) == (lvl == 0)
            if j:
                assert column.gamma(lvl).shape == (1, TINY['channels'][lvl],
                                                   1, 1)
                assert torch.all(column.gamma(lvl) == 0.5)
            for block in level.blocks:
                assert torch.all(block.layer_scale.weight == 1e-6)
                assert block.depthwise_conv.kernel_size == (3, 3)
    huge = RevCol(TINY_H, kernel_size=5)
    level0 = huge.columns[1].levels[0]
    assert level0.prev_levels == (1, 3)
    assert level0.up.proj.weight.shape == (8, 16)
    assert level0.up2.proj.weight.shape == (8, 32)
    assert not hasattr(huge.columns[0].levels[0], 'up2')
    assert huge.columns[2].levels[1].prev_levels == (2, )
    assert huge.columns[1].levels[0].blocks[0].depthwise_conv.padding == (2,
                                                                          2)


def test_shortcut_scales_clamped_with_sign_every_forward():
    model = RevCol(TINY).eval()
    with torch.no_grad():
        g = model.columns[1].gamma0
        values = torch.tensor([0., -1e-5, 2e-4, -0.5, 0.7, -2e-3, 1e-3, 3.])
        g.copy_(values.view(1, 8, 1, 1))
        model(torch.randn(1, 3, 32, 32))
    got = model.columns[1].gamma0.flatten()
    expected = torch.tensor([1e-3, -1e-3, 1e-3, -0.5, 0.7, -2e-3, 1e-3, 3.])
    torch.testing.assert_close(got, expected)


def test_drop_path_linear_within_column_same_in_every_column():
    model = RevCol(TINY, drop_path_rate=0.4)
    n = sum(TINY['depths'])
    expected = [0.4 * k / (n - 1) for k in range(n)]
    for column in model.columns:
        rates = [b.drop_path.drop_prob for lvl in column.levels
                 for b in lvl.blocks]
        assert rates == pytest.approx(expected)
    assert expected[-1] == pytest.approx(0.4)


def _grads(model, x, reversible, seed=7):
    model.reversible = reversible
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    torch.manual_seed(seed)
    outs = model(x)
    loss = sum((o**2).mean() * (k + 1) for k, o in enumerate(outs))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in
                           model.named_parameters() if p.grad is not None}, \
        x.grad.clone()


@pytest.mark.parametrize('arch,hw,frozen', [(TINY, (64, 96), -1),
                                            (TINY_H, (70, 45), -1),
                                            (TINY, (64, 64), 1)])
def test_reversible_gradients_equal_plain_autograd(arch, hw, frozen):
    model = RevCol(arch, drop_path_rate=0.3, frozen_stages=frozen)
    with torch.no_grad():  # non-trivial layer scales
        for name, p in model.named_parameters():
            if name.endswith('.layer_scale.weight'):
                p.uniform_(0.2, 0.8)
    model = model.double().train()
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    loss_p, g_p, gx_p = _grads(model, x, reversible=False)
    loss_r, g_r, gx_r = _grads(model, x, reversible=True)
    torch.testing.assert_close(loss_r, loss_p, rtol=1e-12, atol=0)
    assert g_p.keys() == g_r.keys()
    for name in g_p:
        torch.testing.assert_close(g_r[name], g_p[name], rtol=1e-8,
                                   atol=1e-12, msg=name)
    torch.testing.assert_close(gx_r, gx_p, rtol=1e-8, atol=1e-12)
    # drop path really dropped something (the seed differs -> loss differs)
    loss_other, _, _ = _grads(model, x, reversible=False, seed=8)
    assert not torch.isclose(loss_other, loss_p)
    if frozen >= 0:
        assert 'stem.0.weight' not in g_r
        assert not any(n.startswith('columns.0.') for n in g_r)
    assert 'columns.2.gamma1' in g_r and 'columns.1.levels.0.up.proj.weight' \
        in g_r


def test_reconstruction_is_accurate():
    model = RevCol(TINY_H).double().eval()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    errors = reconstruction_errors(model.stages(), model.stem(x))
    assert len(errors) == TINY['num_columns'] - 1
    assert max(errors) < 1e-10


def test_frozen_stages():
    model = RevCol(TINY, frozen_stages=2).train()
    assert not model.stem.training
    assert all(not p.requires_grad for p in model.stem.parameters())
    for j, column in enumerate(model.columns):
        assert column.training == (j >= 2)
        assert all(p.requires_grad == (j >= 2) for p in column.parameters())
    model = RevCol(TINY, frozen_stages=0).train()
    assert all(not p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for p in model.columns.parameters())


def test_layer_depth():
    model = RevCol(TINY)
    # deepest block: column 2, 5 blocks per column -> depth 2 + 5 = 7; +2
    assert model.num_layers == 9
    cases = {
        'backbone.stem.0.weight': 0,
        'backbone.columns.0.levels.0.blocks.0.mlp.layers.0.0.weight': 1,
        'backbone.columns.0.levels.1.down.0.weight': 2,
        'backbone.columns.2.levels.2.blocks.1.layer_scale.weight':
        2 + 2 + 1 + 1,
        'backbone.columns.1.levels.2.up.proj.weight': 1 + 2 + 1,
        # official rule: the shortcut scales of column j sit at depth j + 1
        'backbone.columns.1.gamma3': 1 + 1,
        'backbone.columns.2.gamma0': 2 + 1,
        'neck.lateral_convs.0.conv.weight': 8,
    }
    for name, depth in cases.items():
        assert model.get_layer_depth(name, 'backbone.') == (depth, 9), name


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='giant'), "arch 'giant' is not one of"),
    (dict(arch=dict(channels=[8] * 4, depths=[1] * 4)),
     r"missing: \['num_columns'\]"),
    (dict(arch=dict(TINY, width=3)), r"unknown: \['width'\]"),
    (dict(arch=dict(TINY, channels=[8, 16, 24])), 'must be 4 ints'),
    (dict(arch=dict(TINY, depths=[1, 0, 1, 1])), 'must be 4 ints >= 1'),
    (dict(arch=dict(TINY, num_columns=0)), 'num_columns'),
    (dict(arch=dict(TINY, fuse_top='yes')), 'fuse_top'),
    (dict(kernel_size=4), 'kernel_size must be an odd int'),
    (dict(in_channels=0), 'in_channels must be an int >= 1'),
    (dict(out_indices=(0, 4)), 'out_indices must hold level indices'),
    (dict(out_indices=(1, 1)), 'non-empty and unique'),
    (dict(drop_path_rate=1.0), 'drop_path_rate must be a float in'),
    (dict(frozen_stages=4), r'frozen_stages must be an int in \[-1, 3\]'),
])
def test_bad_arguments(kwargs, match):
    kwargs = dict(dict(arch=TINY), **kwargs)
    with pytest.raises(ValueError, match=match):
        RevCol(**kwargs)


def test_bad_inputs():
    model = RevCol(TINY, in_channels=4)
    with pytest.raises(ValueError, match=r'expects \(B, 4, H, W\).*'
                       r'\(1, 3, 64, 64\)'):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match='at least 32x32'):
        model(torch.randn(1, 4, 31, 64))
    assert len(model(torch.randn(1, 4, 32, 32))) == 4


def test_registered_in_every_library():
    from mmengine.registry import MODELS
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as PRE
    from mmseg.registry import MODELS as SEG
    for registry in (MODELS, DET, SEG, PRE):
        model = registry.build(dict(type='RevCol', arch=TINY))
        assert isinstance(model, RevCol)


# ---------------------------------------------------------------- configs
DET_CONFIGS = {
    # name: arch, drop path, lr, layer decay (RevCol Table 13)
    'cascade_mask_rcnn_revcol_t_coco': ('tiny', 0.3, 2e-4, 0.85),
    'cascade_mask_rcnn_revcol_s_coco': ('small', 0.4, 2e-4, 0.8),
    'cascade_mask_rcnn_revcol_b_coco': ('base', 0.4, 2e-4, 0.8),
    'cascade_mask_rcnn_revcol_b_in22k_coco': ('base', 0.5, 1e-4, 0.9),
    'cascade_mask_rcnn_revcol_l_coco': ('large', 0.6, 1e-4, 0.8),
    'cascade_mask_rcnn_revcol_b_k7_coco': ('base', 0.4, 2e-4, 0.8),
}
SEG_CONFIGS = {
    # name: arch, crop, layer decay (RevCol Table 14)
    'upernet_revcol_t_ade20k': ('tiny', 512, 1.0),
    'upernet_revcol_s_ade20k': ('small', 512, 1.0),
    'upernet_revcol_b_ade20k': ('base', 512, 1.0),
    'upernet_revcol_b_in22k_ade20k': ('base', 640, 0.9),
    'upernet_revcol_l_ade20k': ('large', 640, 0.9),
    'upernet_revcol_b_k13_ade20k': ('base', 512, 1.0),
}


def _config(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, 'configs', name + '.py'))


def test_every_v1_config_is_covered():
    found = {osp.basename(p)[:-3] for p in glob.glob(
        osp.join(ROOT, 'configs', '*_revcol_*.py'))}
    assert found == set(DET_CONFIGS) | set(SEG_CONFIGS)


def _common_checks(cfg, arch, decay):
    backbone = cfg.model.backbone
    assert backbone.type == 'RevCol' and backbone.arch == arch
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=None,
                                     prefix='backbone.')
    assert cfg.custom_imports == dict(imports=['mmrevcol'],
                                      allow_failed_imports=False)
    ow = cfg.optim_wrapper
    assert ow.type == 'OptimWrapper'
    assert ow.constructor == 'RevColLayerDecayOptimWrapperConstructor'
    assert ow.paramwise_cfg == dict(layer_decay_rate=decay)
    assert ow.optimizer.type == 'AdamW'
    assert tuple(ow.optimizer.betas) == (0.9, 0.999)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel',
                                         find_unused_parameters=False)
    assert cfg.train_dataloader.batch_size * 8 == 16
    warmup = cfg.param_scheduler[0]
    assert warmup.type == 'LinearLR' and warmup.end == 1500
    assert not warmup.by_epoch
    channels = list(RevCol.parse_arch(arch)['channels'])
    return channels


@pytest.mark.parametrize('name', sorted(DET_CONFIGS))
def test_detection_configs(name):
    arch, dpr, lr, decay = DET_CONFIGS[name]
    cfg = _config(name)
    channels = _common_checks(cfg, arch, decay)
    assert cfg.model.type == 'CascadeRCNN'
    assert cfg.model.backbone.drop_path_rate == dpr
    assert cfg.model.backbone.kernel_size == (7 if '_k7' in name else 3)
    assert list(cfg.model.neck.in_channels) == channels
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.param_scheduler[1].milestones == [27, 33]


@pytest.mark.parametrize('name', sorted(SEG_CONFIGS))
def test_segmentation_configs(name):
    arch, crop, decay = SEG_CONFIGS[name]
    cfg = _config(name)
    channels = _common_checks(cfg, arch, decay)
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.drop_path_rate == 0.3
    assert cfg.model.backbone.kernel_size == (13 if '_k13' in name else 3)
    assert list(cfg.model.decode_head.in_channels) == channels
    assert cfg.model.auxiliary_head.in_channels == channels[2]
    assert cfg.model.auxiliary_head.in_index == 2
    assert tuple(cfg.model.data_preprocessor.size) == (crop, crop)
    crops = [t for t in cfg.train_dataloader.dataset.pipeline
             if t.type == 'RandomCrop']
    assert tuple(crops[0].crop_size) == (crop, crop)
    assert cfg.optim_wrapper.optimizer.lr == 4e-5
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.01
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.param_scheduler[1].end == 80000


@pytest.mark.parametrize('name', ['cascade_mask_rcnn_revcol_l_coco',
                                  'upernet_revcol_b_k13_ade20k'])
def test_config_backbones_build(name):
    from mmengine.registry import MODELS
    cfg = _config(name)
    with torch.device('meta'):
        backbone = MODELS.build(cfg.model.backbone)
    assert isinstance(backbone, RevCol)
    assert backbone.kernel_size == cfg.model.backbone.kernel_size


def _train_step(cfg, data):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()  # Pretrained without checkpoint: kept random
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    log_vars = model.train_step(data, optim_wrapper)
    assert log_vars and all(math.isfinite(float(v))
                            for v in log_vars.values())
    changed = [n for n, p in model.named_parameters()
               if not torch.equal(before[n], p.detach())]
    assert any(n.startswith('backbone.columns.2.levels.0.blocks')
               for n in changed)
    assert 'backbone.stem.0.weight' in changed
    # (optim_wrapper.param_groups also holds mmengine's base-lr record)
    depths = {g['layer_depth'] for g in optim_wrapper.optimizer.param_groups}
    assert len(depths) > 3
    return log_vars


def test_detector_train_step_from_config():
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData
    register_all_modules(init_default_scope=True)
    cfg = _config('cascade_mask_rcnn_revcol_t_coco')
    cfg.model.backbone.arch = dict(TINY)
    cfg.model.backbone.drop_path_rate = 0.1
    cfg.model.backbone.init_cfg = None  # from scratch, on purpose
    cfg.model.neck.in_channels = TINY['channels']
    cfg.model.neck.out_channels = 32
    cfg.model.rpn_head.in_channels = 32
    cfg.model.rpn_head.feat_channels = 32
    cfg.model.roi_head.bbox_roi_extractor.out_channels = 32
    cfg.model.roi_head.mask_roi_extractor.out_channels = 32
    cfg.model.roi_head.mask_head.in_channels = 32
    cfg.model.roi_head.mask_head.conv_out_channels = 32
    for head in cfg.model.roi_head.bbox_head:
        head.in_channels = head.conv_out_channels = 32
        head.fc_out_channels = 64
    h, w = 96, 128
    inputs, samples = [], []
    for i in range(2):
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
            scale_factor=(1., 1.), img_id=i))
        boxes = torch.tensor([[10., 12., 60., 70.], [40., 30., 120., 90.]])
        masks = torch.zeros(2, h, w, dtype=torch.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            masks[k, y1:y2, x1:x2] = 1
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.tensor([1, 5]),
            masks=BitmapMasks(masks.numpy(), h, w))
        samples.append(sample)
    log_vars = _train_step(cfg, dict(inputs=inputs, data_samples=samples))
    for key in ('loss_rpn_cls', 's0.loss_cls', 's2.loss_mask'):
        assert key in log_vars


def test_segmentor_train_step_from_config():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = _config('upernet_revcol_t_ade20k')
    cfg.model.backbone.arch = dict(TINY)
    cfg.model.backbone.drop_path_rate = 0.1
    cfg.model.backbone.init_cfg = None  # from scratch, on purpose
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.model.decode_head.in_channels = TINY['channels']
    cfg.model.decode_head.channels = 16
    cfg.model.auxiliary_head.in_channels = TINY['channels'][2]
    cfg.model.auxiliary_head.channels = 16
    # one sample per GPU does not train BN; use two
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64),
                                             ori_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(sample)
    log_vars = _train_step(cfg, dict(inputs=inputs, data_samples=samples))
    assert 'decode.loss_ce' in log_vars and 'aux.loss_ce' in log_vars
