"""RevColV2 in mmseg: registry scopes, configs, a full UperNet train step,
layer-decay groups, and the reversible backbone inside mmengine's optimizer
wrappers (plain, gradient accumulation, AMP)."""
import copy
import os.path as osp
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmrevcol  # noqa: F401
from mmrevcol.registry import installed_registries, register_everywhere

from tests.helpers import TINY_V2
from tests.helpers import ROOT

ROOT = ROOT
CONFIGS = osp.join(ROOT, 'configs')


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_backbones_resolve_in_every_scope(scope):
    init_default_scope(scope)
    from mmengine.registry import MODELS
    for name in ('RevColV2', 'RevCol'):
        # build through the root registry with the default scope: the lookup
        # goes to the scope's registry first
        model = MODELS.build(dict(type=name, arch=dict(TINY_V2)
                                  if name == 'RevColV2' else dict(
                                      channels=[8, 16, 24, 32],
                                      depths=[1, 1, 1, 1], num_columns=1)))
        assert type(model).__name__ == name
    reg = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    assert reg.get('RevColV2') is mmrevcol.models.RevColV2
    opt = __import__(f'{scope}.registry',
                     fromlist=['OPTIM_WRAPPER_CONSTRUCTORS'])
    assert opt.OPTIM_WRAPPER_CONSTRUCTORS.get(
        'RevColLayerDecayOptimWrapperConstructor') is not None


def test_register_everywhere_refuses_a_different_class_under_a_used_name():
    class RevColV2:  # noqa: F811  (same name, another class)
        pass

    with pytest.raises(KeyError, match="'RevColV2' is already registered"):
        register_everywhere('MODELS')(RevColV2)
    # the same class again is a no-op
    register_everywhere('MODELS')(mmrevcol.models.RevColV2)
    with pytest.raises(KeyError, match="no installed OpenMMLab library has "
                       "a registry named 'NOPE'"):
        installed_registries('NOPE')


def tiny_upernet_cfg(name='revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py'):
    cfg = Config.fromfile(osp.join(CONFIGS, 'revcolv2', name))
    cfg.model.backbone.arch = dict(TINY_V2)
    cfg.model.backbone.img_size = 64
    cfg.model.decode_head.in_channels = [32] * 4
    cfg.model.decode_head.channels = 16
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.auxiliary_head.in_channels = 32
    cfg.model.auxiliary_head.channels = 8
    cfg.model.auxiliary_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.data_preprocessor.size = (64, 64)
    return cfg


def build_segmentor(cfg):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    return MODELS.build(copy.deepcopy(cfg.model))


def seg_batch(n=2, hw=(64, 64), num_classes=150):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 255, (3, *hw), dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *hw)))
        s.set_metainfo(dict(img_shape=hw, ori_shape=hw, pad_shape=hw))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', ['revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py',
                                  'revcolv2-l_upernet_8xb2-160k_ade20k-512x512.py'])
def test_upernet_configs_load_and_build(name):
    cfg = Config.fromfile(osp.join(CONFIGS, 'revcolv2', name))
    assert cfg.model.backbone.type == 'RevColV2'
    assert cfg.model.get('neck') is None
    dims = 416 if 'revcolv2-b_' in name else 672
    assert cfg.model.decode_head.in_channels == [dims] * 4
    assert cfg.model.auxiliary_head.in_channels == dims
    # RevColV2 (arXiv 2309.01005) App. B.4
    assert cfg.optim_wrapper.optimizer.lr == 4e-5
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    count = sum(p.numel() for p in model.backbone.parameters())
    # RevColV2 Table 1 (101M / 342M; 512x512 position grids included)
    assert count == pytest.approx(101e6 if dims == 416 else 342e6, rel=0.05)


@pytest.mark.parametrize('name,dims,params', [
    ('revcolv2-b_in22k-pre_upernet_8xb2-160k_ade20k-640x640.py', 416, 101e6),
    ('revcolv2-l_in22k-pre_upernet_8xb2-160k_ade20k-640x640.py', 672, 342e6)])
def test_upernet_640_configs_follow_the_paper(name, dims, params):
    """The ImageNet-22K UperNet rows of RevColV2 (arXiv 2309.01005) Table 3:
    640x640 inputs (sec. 3.1.3), the one UperNet setting of App. B.4."""
    cfg = Config.fromfile(osp.join(CONFIGS, 'revcolv2', name))
    crop = (640, 640)
    model = cfg.model
    assert model.backbone.type == 'RevColV2'
    assert model.backbone.arch == ('base' if dims == 416 else 'large')
    assert model.backbone.img_size == crop
    assert model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=None, prefix='backbone.',
        fill_from=None)  # classifier checkpoint + the MIM one it lacks
    assert model.data_preprocessor.size == crop
    assert model.test_cfg.mode == 'slide' and model.test_cfg.crop_size == crop
    steps = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['RandomCrop'].crop_size == crop
    assert steps['RandomResize'].scale == (2560, 640)
    test_steps = {t.type: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test_steps['Resize'].scale == (2560, 640)
    # unchanged from the 512 configs (same head, same Table 3 params)
    assert model.get('neck') is None
    assert model.decode_head.in_channels == [dims] * 4
    assert model.decode_head.channels == 512
    assert model.auxiliary_head.in_channels == dims
    # App. B.4
    assert cfg.optim_wrapper.optimizer.lr == 4e-5
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    assert model.backbone.drop_path_rate == 0.1
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    counts = {}
    for size, path in ((640, name), (512, name.replace('_in22k-pre', '')
                                     .replace('640x640', '512x512'))):
        with torch.device('meta'):
            seg = MODELS.build(
                Config.fromfile(osp.join(CONFIGS, 'revcolv2', path)).model)
        counts[size] = sum(p.numel() for p in seg.backbone.parameters())
    # the same backbone as at 512 but for its two 40x40 position grids
    assert counts[640] - counts[512] == 2 * (40 * 40 - 32 * 32) * dims
    # RevColV2 Table 1 (101M / 342M; 640x640 position grids included)
    assert counts[640] == pytest.approx(params, rel=0.06)


def test_upernet_train_step_and_layer_decay_groups():
    cfg = tiny_upernet_cfg()
    model = build_segmentor(cfg).train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    grads = []
    real_step = optim.optimizer.step
    optim.optimizer.step = lambda *a, **k: (grads.extend(
        p.grad.clone() for p in model.backbone.parameters()
        if p.grad is not None), real_step(*a, **k))[1]
    before = model.backbone.columns[0].levels[0].blocks[0].attn.qkv.weight
    before = before.detach().clone()
    losses = model.train_step(seg_batch(), optim)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    n_params = len(list(model.backbone.parameters()))
    assert len(grads) == n_params  # reversible backward reached every one
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    after = model.backbone.columns[0].levels[0].blocks[0].attn.qkv.weight
    assert not torch.equal(before, after)
    groups = optim.optimizer.param_groups
    depths = [g['layer_depth'] for g in groups]
    assert depths == sorted(depths)
    n = model.backbone.num_layers
    base = cfg.optim_wrapper.optimizer.lr
    for g in groups:
        assert g['lr'] == pytest.approx(
            base * 0.65**(n - 1 - g['layer_depth']))
    by_name = {id(p): g for g in groups for p in g['params']}
    assert by_name[id(model.backbone.pos_embed)]['weight_decay'] == 0
    assert by_name[id(model.backbone.columns[1].gamma0)]['weight_decay'] == 0
    assert by_name[id(model.backbone.patch_embed.weight)]['lr'] == \
        pytest.approx(base * 0.65**(n - 1))
    assert by_name[id(model.decode_head.conv_seg.weight)]['lr'] == \
        pytest.approx(base)


def _grads_after(cfg, reversible, steps, accumulate=1, amp=False):
    torch.manual_seed(0)
    model = build_segmentor(cfg).train()
    model.backbone.reversible = reversible
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    optim_cfg.optimizer.lr = 0.0  # keep weights fixed: compare raw grads
    optim_cfg.accumulative_counts = accumulate
    if amp:
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.dtype = 'bfloat16'
    with mock.patch('mmengine.optim.optimizer.amp_optimizer_wrapper.'
                    'is_cuda_available', return_value=True):
        optim = build_optim_wrapper(model, optim_cfg)
    seen = []
    real_step = optim.optimizer.step

    def record_step(*args, **kwargs):
        seen.append({n: p.grad.clone() for n, p in
                     model.backbone.named_parameters() if p.grad is not None})
        return real_step(*args, **kwargs)

    optim.optimizer.step = record_step
    for i in range(steps):
        torch.manual_seed(100 + i)
        batch = seg_batch()
        torch.manual_seed(200 + i)  # same drop-path draws in both runs
        model.train_step(batch, optim)
    return seen


@pytest.mark.parametrize('accumulate', [1, 2])
def test_reversible_in_optim_wrapper_matches_plain(accumulate):
    cfg = tiny_upernet_cfg()
    cfg.model.backbone.drop_path_rate = 0.2
    plain = _grads_after(cfg, False, 2, accumulate)
    rev = _grads_after(cfg, True, 2, accumulate)
    assert len(plain) == len(rev) == 2 // accumulate
    for a, b in zip(plain, rev):
        assert a.keys() == b.keys() and a
        for name in a:
            err = (a[name] - b[name]).norm() / a[name].norm().clamp_min(1e-30)
            assert err < 1e-4, (name, err)


def test_reversible_in_amp_optim_wrapper():
    """mmengine's AmpOptimWrapper (bf16 autocast on CPU here): the reversible
    backbone re-enters autocast in its backward; gradients agree with plain
    autograd within a few bf16 steps (2**-8)."""
    cfg = tiny_upernet_cfg()
    plain = _grads_after(cfg, False, 1, amp=True)[0]
    rev = _grads_after(cfg, True, 1, amp=True)[0]
    total_err = sum((plain[n] - rev[n]).square().sum() for n in plain).sqrt()
    total = sum(plain[n].square().sum() for n in plain).sqrt()
    assert total_err / total < 5e-2
    fp32 = _grads_after(cfg, True, 1)[0]
    diff = sum((fp32[n] - rev[n]).square().sum() for n in fp32).sqrt()
    assert diff / total > 1e-4  # autocast really changed the computation
