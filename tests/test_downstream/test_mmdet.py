"""Mask R-CNN / Cascade Mask R-CNN with RevColV2 (no FPN) and RevCol (FPN),
the COCO detection configs, COCO evaluation through ``tools/test.py`` and the
FLOPs / FPS analysis tools (RevColV2, arXiv 2309.01005, sec. 3.1.4, App.
B.5; issue 5).

Everything runs on CPU with tiny archs and images whose sides are not
multiples of the patch or window size.
"""
import importlib.util
import json
import math
import os.path as osp
import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmrevcol  # noqa: F401  (registration)
from analysis_lib.complexity import (dummy_data_batch,
                                          format_complexity, get_complexity,
                                          load_model, normalize_shape,
                                          sdpa_flop_jit)
from analysis_lib.speed import (LatencyResult, benchmark_config,
                                     format_latency, measure_latency)
from mmrevcol.datasets.toy import coco_metainfo, make_toy_data
from mmrevcol.models.backbones.revcol import RevCol  # noqa: F401

from tests.helpers import TINY_V2, data_root_options, run_tool
from tests.helpers import ROOT

REPO = ROOT
CONFIGS = osp.join(REPO, 'configs')
TOY_CONFIG = osp.join(CONFIGS, 'toy', 'mask_rcnn_revcolv2_toy_coco.py')
DIMS = TINY_V2['embed_dims']
HW = (100, 84)  # not a multiple of the 8-px patch nor of the 4x8-px window
STRIDES = (4, 8, 16, 32, 64)
TINY_V1 = dict(channels=(16, 32, 48, 64), depths=(1, 1, 1, 1),
               num_columns=2)


def _tool(name):
    """Import ``tools/analysis_tools/<name>.py`` as a module."""
    path = osp.join(REPO, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(model_cfg):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(model_cfg)


def _tiny_heads(model, in_channels, cascade):
    """Shrink the heads of a stock/mmrevcol detector config in place."""
    gn = dict(type='GN', num_groups=8, requires_grad=True)
    model.rpn_head.in_channels = in_channels
    model.rpn_head.feat_channels = in_channels
    roi = model.roi_head
    roi.bbox_roi_extractor.out_channels = in_channels
    roi.mask_roi_extractor.out_channels = in_channels
    heads = roi.bbox_head if cascade else [roi.bbox_head]
    for head in heads:
        head.update(in_channels=in_channels, fc_out_channels=64,
                    num_classes=4)
        if 'conv_out_channels' in head or 'num_shared_convs' in head:
            head.update(conv_out_channels=in_channels, norm_cfg=gn)
    roi.mask_head.update(in_channels=in_channels,
                         conv_out_channels=in_channels, num_classes=4,
                         norm_cfg=gn)
    model.train_cfg.rpn_proposal.max_per_img = 64
    rcnn = model.train_cfg.rcnn if cascade else [model.train_cfg.rcnn]
    for stage in rcnn:
        stage.sampler.num = 32
    model.test_cfg.rpn.max_per_img = 64
    # no size-divisor padding: the backbone itself sees the odd sizes
    model.data_preprocessor.pad_size_divisor = 1


def v2_model_cfg(cascade, window_size=4):
    piece = ('cascade_mask_rcnn_revcolv2.py'
             if cascade else 'mask_rcnn_revcolv2.py')
    cfg = Config.fromfile(osp.join(CONFIGS, '_base_', 'models', piece))
    model = cfg.model
    model.backbone.update(arch=dict(TINY_V2), img_size=64, patch_size=8,
                          window_size=window_size, drop_path_rate=0.1,
                          init_cfg=None)
    _tiny_heads(model, DIMS, cascade)
    return model


def v1_model_cfg(cascade, tmp_path):
    if cascade:
        # the RevCol (V1) Cascade Mask R-CNN + FPN piece of the V1 configs
        cfg = Config.fromfile(osp.join(CONFIGS, '_base_', 'models',
                                       'cascade_mask_rcnn_revcol_fpn.py'))
    else:
        path = tmp_path / 'mask_rcnn_revcol_fpn.py'
        path.write_text(
            "_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']\n"
            "model = dict(backbone=dict(_delete_=True, type='RevCol'))\n")
        cfg = Config.fromfile(str(path))
    model = cfg.model
    model.backbone = dict(type='RevCol', arch=dict(TINY_V1),
                          drop_path_rate=0.1, init_cfg=None)
    model.neck.update(in_channels=list(TINY_V1['channels']),
                      out_channels=32)
    _tiny_heads(model, 32, cascade)
    return model


def _batch(hw=HW, n=2, seed=0):
    """A training/test batch with two boxes and masks per image."""
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    h, w = hw
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    boxes = [(8, 10, 40, 60), (44, 30, 80, 95)]
    for i in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                                    generator=gen))
        sample = DetDataSample(metainfo=dict(
            img_id=i, img_shape=hw, ori_shape=hw, scale_factor=(1., 1.)))
        masks = np.zeros((len(boxes), h, w), dtype=np.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            masks[k, y1:y2, x1:x2] = 1
        gt = InstanceData()
        gt.bboxes = torch.tensor(boxes, dtype=torch.float32)
        gt.labels = torch.tensor([0, 2])
        gt.masks = BitmapMasks(masks, h, w)
        sample.gt_instances = gt
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _train_and_predict(model, backbone_is_v2):
    model.train()
    data = model.data_preprocessor(_batch(), True)
    assert tuple(data['inputs'].shape[-2:]) == HW
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss.item() > 0
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_mask'):
        assert any(k.endswith(key) for k in log_vars), sorted(log_vars)
    loss.backward()
    backbone = model.backbone
    missing = [n for n, p in backbone.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]
    for name, p in backbone.named_parameters():
        assert torch.isfinite(p.grad).all(), name
    # every column (and the embedding/stem) is reached by the gradient
    first = backbone.patch_embed if backbone_is_v2 else backbone.stem
    assert any(p.grad.abs().sum() > 0 for p in first.parameters())
    for c, column in enumerate(backbone.columns):
        assert any(p.grad.abs().sum() > 0
                   for p in column.parameters()), f'column {c}'

    model.eval()
    with torch.no_grad():
        results = model.test_step(_batch(n=1, seed=1))
    assert len(results) == 1
    pred = results[0].pred_instances
    n = len(pred)
    assert 0 < n <= 100
    assert pred.bboxes.shape == (n, 4)
    assert pred.masks.shape == (n, *HW)
    assert pred.masks.dtype == torch.bool
    assert ((pred.scores >= 0) & (pred.scores <= 1)).all()
    assert ((pred.labels >= 0) & (pred.labels < 4)).all()
    assert (pred.bboxes[:, 0::2] >= 0).all()
    assert (pred.bboxes[:, 0::2] <= HW[1]).all()
    assert (pred.bboxes[:, 1::2] <= HW[0]).all()


@pytest.mark.parametrize('cascade', [False, True],
                         ids=['mask_rcnn', 'cascade'])
def test_revcolv2_detector_train_step_and_predict(cascade):
    model = _build(v2_model_cfg(cascade))
    assert not model.with_neck
    # five levels of embed_dims channels, strides 4..64, cropped to
    # ceil(H / stride) although 100x84 is no multiple of patch or window
    with torch.no_grad():
        feats = model.eval().extract_feat(
            model.data_preprocessor(_batch(), False)['inputs'])
    assert [tuple(f.shape) for f in feats] == [
        (2, DIMS, math.ceil(HW[0] / s), math.ceil(HW[1] / s))
        for s in STRIDES
    ]
    _train_and_predict(model, backbone_is_v2=True)


@pytest.mark.parametrize('cascade', [False, True],
                         ids=['mask_rcnn', 'cascade'])
def test_revcol_v1_detector_train_step_and_predict(cascade, tmp_path):
    model = _build(v1_model_cfg(cascade, tmp_path))
    assert type(model.backbone).__name__ == 'RevCol'
    assert model.with_neck
    _train_and_predict(model, backbone_is_v2=False)


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_roi_heads_read_the_feature_maps_correctly(version, tmp_path):
    # mmcv's RoIAlign indexes its input as contiguous NCHW memory; a
    # channels-last map (what a permute of (B, H, W, C) tokens or a
    # channels-last LayerNorm gives, and what convs of the FPN keep) is read
    # as garbage. The features the RoI heads see must be contiguous, and RoI
    # features must equal those taken from a contiguous copy.
    from mmdet.structures.bbox import bbox2roi
    cfg = (v2_model_cfg(False)
           if version == 'v2' else v1_model_cfg(False, tmp_path))
    model = _build(cfg).eval()
    data = model.data_preprocessor(_batch(), True)
    rois = bbox2roi([d.gt_instances.bboxes for d in data['data_samples']])
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        assert all(f.is_contiguous() for f in feats), [
            f.stride() for f in feats
        ]
        for ext in (model.roi_head.bbox_roi_extractor,
                    model.roi_head.mask_roi_extractor):
            n = ext.num_inputs
            got = ext(feats[:n], rois)
            want = ext(tuple(f.contiguous() for f in feats[:n]), rois)
            torch.testing.assert_close(got, want)


def test_window_detector_equals_global_when_window_covers_image():
    # 100x84 at patch 8 is 13x11 tokens: a 16-token window covers them all
    glob = _build(v2_model_cfg(False, window_size=0)).eval()
    win = _build(v2_model_cfg(False, window_size=16)).eval()
    win.load_state_dict(glob.state_dict())
    batch = _batch(n=1, seed=2)
    with torch.no_grad():
        a = glob.test_step(batch)[0].pred_instances
        b = win.test_step(batch)[0].pred_instances
        fa = glob.extract_feat(glob.data_preprocessor(batch)['inputs'])
        fb = win.extract_feat(win.data_preprocessor(batch)['inputs'])
    for x, y in zip(fa, fb):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    assert len(a) == len(b) > 0
    torch.testing.assert_close(a.bboxes, b.bboxes, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ configs
PAPER = {
    # config: (arch, embed_dims, drop path, epochs, batch, lr, milestones,
    #          paper params (Table 4), detector type)
    'revcolv2-b_mask-rcnn_8xb4-50e_coco.py':
    ('base', 416, 0.2, 50, 32, 1e-4, [44, 48], 119e6, 'MaskRCNN'),
    'revcolv2-l_mask-rcnn_8xb4-50e_coco.py':
    ('large', 672, 0.3, 50, 32, 1e-4, [44, 48], 363e6, 'MaskRCNN'),
    'revcolv2-b_cascade-mask-rcnn_16xb4-100e_coco.py':
    ('base', 416, 0.2, 100, 64, 1e-4, [89, 96], 156e6, 'CascadeRCNN'),
}


def _gpus_for(cfg, batch):
    per_gpu = cfg.train_dataloader.batch_size
    assert batch % per_gpu == 0
    return batch // per_gpu


@pytest.mark.parametrize('name', sorted(PAPER))
def test_paper_configs_follow_app_b5_and_build(name):
    arch, dims, dpr, epochs, batch, lr, milestones, paper, det = PAPER[name]
    cfg = Config.fromfile(osp.join(CONFIGS, 'revcolv2', name))
    m = cfg.model
    assert m.type == det
    assert m.neck is None
    bb = m.backbone
    assert (bb.type, bb.arch, bb.drop_path_rate) == ('RevColV2', arch, dpr)
    assert bb.img_size == (1024, 1024) and bb.window_size == 14
    assert tuple(bb.extra_strides) == (64, )
    assert tuple(bb.out_strides) == (4, 8, 16, 32)
    assert m.rpn_head.in_channels == dims
    assert m.rpn_head.anchor_generator.strides == [4, 8, 16, 32, 64]
    roi = m.roi_head
    for ext in (roi.bbox_roi_extractor, roi.mask_roi_extractor):
        assert ext.featmap_strides == [4, 8, 16, 32]
        assert ext.out_channels == dims
    heads = roi.bbox_head if det == 'CascadeRCNN' else [roi.bbox_head]
    assert len(heads) == (3 if det == 'CascadeRCNN' else 1)
    assert all(h.in_channels == dims and h.num_classes == 80 for h in heads)
    assert roi.mask_head.in_channels == dims
    # no soft-NMS (App. B.5)
    assert m.test_cfg.rcnn.nms.type == 'nms'
    # LSJ at 1024 with scale range [0.1, 2.0] (App. B.5, sec. 3.1.4)
    pipeline = cfg.train_dataloader.dataset.dataset.pipeline
    resize = [t for t in pipeline if t.type == 'RandomResize'][0]
    crop = [t for t in pipeline if t.type == 'RandomCrop'][0]
    assert tuple(resize.ratio_range) == (0.1, 2.0)
    assert tuple(resize.scale) == (1024, 1024)
    assert tuple(crop.crop_size) == (1024, 1024)
    assert m.data_preprocessor.batch_augments[0].size == (1024, 1024)
    load = [t for t in pipeline if t.type == 'LoadAnnotations'][0]
    assert load.with_mask and load.get('poly2mask', True)
    # schedule and optimizer (App. B.5)
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_dataloader.dataset.times == 1
    assert cfg.param_scheduler[-1].milestones == milestones
    assert cfg.auto_scale_lr.base_batch_size == batch
    assert _gpus_for(cfg, batch) in (8, 16)
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == lr
    assert opt.constructor == 'RevColLayerDecayOptimWrapperConstructor'
    assert opt.paramwise_cfg.layer_decay_rate == 0.9
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert set(cfg.val_evaluator.metric) == {'bbox', 'segm'}

    with torch.device('meta'):
        model = _build(cfg.model)
    count = sum(p.numel() for p in model.parameters())
    heads_count = count - sum(p.numel() for p in model.backbone.parameters())
    print(f'{name}: {count / 1e6:.1f}M params (backbone '
          f'{(count - heads_count) / 1e6:.1f}M, heads '
          f'{heads_count / 1e6:.1f}M); paper {paper / 1e6:.0f}M')
    # within 8% of RevColV2 Table 4 (the backbone, not the heads, makes
    # most of the difference; see the README)
    assert abs(count - paper) / paper < 0.08
    assert model.backbone.embed_dims == dims


def test_layer_decay_optimizer_on_detector():
    cfg = Config.fromfile(osp.join(CONFIGS, 'revcolv2',
                                   'revcolv2-b_mask-rcnn_8xb4-50e_coco.py'))
    model = _build(v2_model_cfg(False))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lrs[id(p)] = group['lr']
    base = cfg.optim_wrapper.optimizer.lr
    head = [lrs[id(p)] for p in model.roi_head.parameters()]
    assert head and all(lr == pytest.approx(base) for lr in head)
    embed = lrs[id(model.backbone.patch_embed.weight)]
    last = lrs[id(model.backbone.columns[-1].parameters().__next__())]
    assert embed < last <= base
    num_layers = round(math.log(embed / base, 0.9)) + 1
    assert embed == pytest.approx(base * 0.9**(num_layers - 1))


def test_toy_config_inherits_the_real_recipe():
    cfg = Config.fromfile(TOY_CONFIG)
    m = cfg.model
    assert m.neck is None and tuple(m.backbone.extra_strides) == (64, )
    assert m.backbone.window_size > 0
    assert m.roi_head.bbox_head.num_classes == 4
    assert cfg.train_dataloader.dataset.dataset.metainfo.classes == \
        coco_metainfo()['classes']
    assert cfg.optim_wrapper.constructor == \
        'RevColLayerDecayOptimWrapperConstructor'
    model = _build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) < 3e6


# ------------------------------------------------------- COCO evaluation
@pytest.fixture(scope='module')
def toy_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_coco') / 'coco'
    make_toy_data('coco', str(root), num_train=4, num_val=3, seed=1)
    return str(root)


def _data_options(root):
    ann = osp.join(root, 'annotations', 'instances_val2017.json')
    return data_root_options(root, 'train_dataloader.dataset.dataset') + [
        f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}',
    ]


def test_coco_evaluation_through_train_and_test_tools(toy_coco, tmp_path):
    work = str(tmp_path / 'work')
    proc = run_tool(
        'train.py', TOY_CONFIG, '--work-dir', work,
        '--cfg-options', *_data_options(toy_coco),
        'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    proc = run_tool('test.py', TOY_CONFIG, ckpt, '--work-dir', work,
                    '--cfg-options', *_data_options(toy_coco))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines()
             if ln.startswith('metrics: ')]
    assert len(lines) == 1, proc.stdout[-2000:]
    metrics = json.loads(lines[0][len('metrics: '):])
    for kind in ('bbox', 'segm'):
        for key in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l'):
            value = metrics[f'coco/{kind}_{key}']
            assert value == -1 or 0 <= value <= 1, (kind, key, value)
    # the stock COCO evaluation ran (pycocotools' summary in the log)
    assert 'Average Precision' in proc.stdout + proc.stderr


# --------------------------------------------------------------- analysis
class _Attn(nn.Module):

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_sdpa_flop_handle_counts_both_matmuls():
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 7, 4), \
        torch.randn(1, 2, 7, 3)
    analyzer = FlopAnalyzer(_Attn(), (q, k, v))
    analyzer.set_op_handle('aten::scaled_dot_product_attention',
                           sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    assert analyzer.total() == 2 * 5 * 7 * (4 + 3)


def test_get_complexity_detector(capsys):
    result = get_complexity(TOY_CONFIG, shape=HW)
    # padded to the toy config's size divisor 32
    assert result['input_shape'] == (1, 3, 128, 96)
    model, _ = load_model(TOY_CONFIG)
    assert result['params'] == sum(p.numel() for p in model.parameters())
    per = result['per_module']
    assert per['backbone'][1] == sum(
        p.numel() for p in model.backbone.parameters())
    assert per['backbone'][0] > 0 and per['roi_head'][0] > 0
    assert sum(f for f, _ in per.values()) <= result['flops']
    assert 'aten::scaled_dot_product_attention' not in \
        result['unsupported_ops']
    assert not any('matmul' in op or 'conv' in op or 'linear' in op
                   for op in result['unsupported_ops'])
    # the backbone costs exactly twice as much for two images
    assert result['activations'] > 0
    double = get_complexity(TOY_CONFIG, shape=HW, batch_size=2, model=model,
                            activations=False)
    assert double['per_module']['backbone'][0] == 2 * per['backbone'][0]
    assert double['activations'] is None
    text = format_complexity(result)
    assert 'FLOPs:' in text and 'backbone' in text

    get_flops = _tool('get_flops')
    get_flops.main([TOY_CONFIG, '--shape', '64', '48', '--no-activations'])
    out = capsys.readouterr().out
    assert 'Input shape: 1x3x64x64' in out and 'Params:' in out


def test_get_complexity_segmentor_and_classifier():
    seg = get_complexity(
        osp.join(CONFIGS, 'toy', 'upernet_revcolv2_toy_ade20k.py'),
        shape=64, activations=False)
    assert seg['input_shape'][-2:] == (64, 64)
    assert seg['flops'] > seg['per_module']['backbone'][0] > 0
    cls_cfg = Config(dict(
        default_scope='mmpretrain',
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='RevColV2', arch=dict(TINY_V2), img_size=64,
                          out_type='avg_featmap', out_indices=(3, )),
            head=dict(type='LinearClsHead', num_classes=4,
                      in_channels=DIMS))))
    cls = get_complexity(cls_cfg, shape=(56, 40), activations=False)
    # the linear head: one multiply-add per weight
    assert cls['per_module']['head'] == (DIMS * 4, DIMS * 4 + 4)
    assert cls['flops'] > cls['per_module']['backbone'][0] > 0


def test_complexity_arguments_are_checked():
    assert normalize_shape(7) == (7, 7)
    with pytest.raises(ValueError, match=r'shape must be .*\(1, 2, 3\)'):
        normalize_shape((1, 2, 3))
    with pytest.raises(ValueError, match='batch_size must be an int >= 1'):
        dummy_data_batch('mmdet', 32, batch_size=0)
    with pytest.raises(ValueError, match="scope must be one of.*'mmfoo'"):
        dummy_data_batch('mmfoo', 32)
    cfg = Config(dict(model=dict(type='X')))
    with pytest.raises(ValueError, match="default_scope must be one of"):
        get_complexity(cfg)
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        get_complexity('no_such.py')
    get_flops = _tool('get_flops')
    with pytest.raises(SystemExit):
        get_flops.main([TOY_CONFIG, '--shape', '1', '2', '3'])


def test_measure_latency_times_every_step():
    calls = []

    def step(batch):
        calls.append(batch)
        time.sleep(0.01)

    result = measure_latency(step, ['a', 'b'], batch_size=3, num_warmup=2,
                             num_iters=4)
    assert calls == ['a', 'b', 'a', 'b', 'a', 'b']  # batches are cycled
    assert isinstance(result, LatencyResult) and result.iters == 4
    assert 10 <= result.min_ms <= result.median_ms <= result.p90_ms
    assert result.mean_ms >= 10
    assert result.fps == pytest.approx(3e3 / result.mean_ms)
    assert 'FPS' in format_latency(result)
    with pytest.raises(ValueError, match='num_iters must be an int >= 1'):
        measure_latency(step, ['a'], 1, num_iters=0)


def test_benchmark_config_dummy_and_dataset(toy_coco, capsys):
    result = benchmark_config(TOY_CONFIG, shape=HW, batch_size=2,
                              num_warmup=1, num_iters=2)
    assert result.batch_size == 2 and result.iters == 2
    assert result.fps > 0 and result.device == 'cpu'
    options = {
        'test_dataloader.dataset.data_root': toy_coco,
    }
    result = benchmark_config(TOY_CONFIG, source='dataset', num_warmup=1,
                              num_iters=3, cfg_options=options)
    assert result.iters == 3 and result.fps > 0
    with pytest.raises(ValueError, match="source must be one of"):
        benchmark_config(TOY_CONFIG, source='video')
    with pytest.raises(ValueError, match="shape is only used"):
        benchmark_config(TOY_CONFIG, source='dataset', shape=64)
    benchmark_fps = _tool('benchmark_fps')
    benchmark_fps.main([TOY_CONFIG, '--shape', '64', '--warmup', '0',
                        '--iters', '1'])
    assert 'images/s (FPS)' in capsys.readouterr().out
