"""RevColV2 joint pre-training (pixels at level 0 + the features of a frozen
teacher at level 3): the teacher stays frozen and outside the student, the
feature loss reads masked tokens only, grids are matched or refused, the
reversible backward equals the plain one with both losses, the toy run
lowers both losses and its export holds the backbone only."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmrevcol import apis
from mmrevcol.apis import build_model
from mmrevcol.converters import export_mim_backbone
from mmrevcol.models.checkpoint import CheckpointKeyError
from mmrevcol.models.selfsup import (RevColV2FeaturePredictor,
                                     save_teacher_checkpoint)

from tests.helpers import ROOT

TOY_JOINT = osp.join(ROOT, 'configs', 'toy', 'revcolv2_toy_joint_imagenet.py')
JOINT_DIR = osp.join(ROOT, 'configs', 'revcolv2')
STAGE1 = 'revcolv2-{}_joint-openclip-l_800e-laion400m.py'
STAGE2 = 'revcolv2-{}_joint-openclip-l_800e-laion400m_300e-in1k.py'


@pytest.fixture(autouse=True, scope='module')
def _mmpretrain_scope():
    """Build what these tests build in mmpretrain's scope, whatever scope
    the tests before them left as the default."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    cfg = Config.fromfile(TOY_JOINT)
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    return save_teacher_checkpoint(cfg.model.teacher, str(path), seed=1)


def toy_cfg(teacher_ckpt, **model):
    cfg = Config.fromfile(TOY_JOINT)
    cfg.model.teacher_ckpt = teacher_ckpt
    for key, value in model.items():  # replaced, not merged
        cfg.model[key] = value
    return cfg


def toy_model(teacher_ckpt, **model):
    return build_model(toy_cfg(teacher_ckpt, **model))


@pytest.fixture(scope='module')
def model(teacher_ckpt):
    return toy_model(teacher_ckpt)


def images(b=2, size=64):
    return torch.randn(b, 3, size, size)


# ---------------------------------------------------------------------------
# the frozen teacher
def test_teacher_is_loaded_frozen_and_outside_the_student(teacher_ckpt):
    model = toy_model(teacher_ckpt)
    teacher = model.teacher
    saved = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, saved['backbone.' + key]), key
    assert all(not p.requires_grad for p in teacher.parameters())
    # not a submodule: not in the state dict, the parameters, the modules
    own = set(model.state_dict())
    heads = {k.split('.', 1)[0] for k in own}
    assert heads == {'backbone', 'neck', 'feature_predictor'}
    assert not any('teacher' in k for k in own)
    student = {id(p) for p in model.parameters()}
    assert not student & {id(p) for p in teacher.parameters()}
    assert all(m is not teacher for m in model.modules())
    # train() leaves it in eval mode
    model.train()
    assert model.training and model.backbone.training
    assert not teacher.training
    assert not any(m.training for m in teacher.modules())
    # ... while .to() / .double() move it with the student
    model.double()
    assert all(p.dtype == torch.float64 for p in teacher.parameters())
    assert model.teacher_mean.dtype == torch.float64
    model.float()
    assert all(p.dtype == torch.float32 for p in teacher.parameters())
    # the feature width comes from the teacher
    assert isinstance(model.feature_predictor, RevColV2FeaturePredictor)
    assert model.feature_predictor.out_channels == teacher.embed_dims == 48


def test_teacher_gets_no_gradient_and_no_optimizer_state(teacher_ckpt):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.structures import DataSample
    cfg = toy_cfg(teacher_ckpt)
    model = build_model(cfg).train()
    model.init_weights()
    teacher = model.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    grad_on = []
    teacher.register_forward_hook(
        lambda m, a, out: grad_on.append(torch.is_grad_enabled()))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    proj = model.feature_predictor.pred.weight.clone()
    data = dict(inputs=torch.randint(0, 255, (2, 3, 64, 64),
                                     dtype=torch.uint8),
                data_samples=[DataSample() for _ in range(2)])
    for _ in range(2):
        log = model.train_step(data, optim)
    assert set(log) == {'loss', 'loss_pixel', 'loss_feature'}
    torch.testing.assert_close(log['loss'],
                               log['loss_pixel'] + log['loss_feature'])
    assert grad_on == [False, False]  # ran under no_grad
    assert all(p.grad is None for p in teacher.parameters())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the optimizer holds exactly the student's parameters
    teacher_ids = {id(p) for p in teacher.parameters()}
    in_groups = [p for g in optim.optimizer.param_groups for p in g['params']]
    assert {id(p) for p in in_groups} == {id(p) for p in model.parameters()}
    assert not teacher_ids & set(map(id, optim.optimizer.state))
    assert len(optim.optimizer.state) == len(list(model.parameters()))
    # the student did learn: the projection moved
    assert not torch.equal(model.feature_predictor.pred.weight, proj)


def test_teacher_inherits_autocast(model):
    dtypes = []
    handle = model.teacher.layers[0].attn.qkv.register_forward_hook(
        lambda m, a, out: dtypes.append(out.dtype))
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            target = model.teacher_targets(images(), (8, 8))
        model.teacher_targets(images(), (8, 8))
    finally:
        handle.remove()
    assert dtypes == [torch.bfloat16, torch.float32]
    assert target.shape == (2, 64, 48) and not target.requires_grad


def test_teacher_sees_its_own_normalisation(model):
    dp = model.data_preprocessor
    raw = torch.rand(1, 3, 8, 8) * 255
    student = (raw - dp.mean) / dp.std
    clip_mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]) * 255
    clip_std = torch.tensor([0.26862954, 0.26130258, 0.27577711]) * 255
    expected = (raw - clip_mean.view(3, 1, 1)) / clip_std.view(3, 1, 1)
    torch.testing.assert_close(model.teacher_inputs(student), expected)


# ---------------------------------------------------------------------------
# the feature loss
def test_feature_loss_ignores_visible_tokens(model, monkeypatch):
    x = images()
    torch.manual_seed(5)
    _, mask = model.backbone(x)  # the mask model.loss draws with seed 5
    target = model.teacher_targets(x, (8, 8))
    visible = (mask == 0).unsqueeze(-1)

    def loss_with(tgt):
        monkeypatch.setattr(model, 'teacher_targets', lambda *a: tgt)
        torch.manual_seed(5)
        with torch.no_grad():
            return model.loss(x, None)['loss_feature']

    base = loss_with(target)
    # 1 - cos, averaged over the masked tokens
    torch.manual_seed(5)
    with torch.no_grad():
        levels, again = model.backbone(x)
        pred = model.feature_predictor(levels[3])
    assert torch.equal(again, mask)
    cos = F.cosine_similarity(pred, target, dim=-1)
    expected = ((1 - cos) * mask).sum() / mask.sum()
    torch.testing.assert_close(base, expected)
    # other targets on the visible tokens: the same loss
    other = torch.where(visible, torch.randn_like(target) * 9, target)
    assert not torch.equal(other, target)
    torch.testing.assert_close(loss_with(other), base, rtol=0, atol=0)
    # the prediction as the target of one masked token: that token's term
    # drops to 0, the mean by its old value over the masked count
    b, n = map(int, (mask == 1).nonzero()[0])
    moved = target.clone()
    moved[b, n] = pred[b, n]
    drop = float((1 - cos[b, n]) / mask.sum())
    assert drop > 5e-3
    assert float(base - loss_with(moved)) == pytest.approx(drop, rel=1e-3)


def test_loss_weights_scale_the_logged_terms(teacher_ckpt, model):
    weighted = toy_model(teacher_ckpt, pixel_loss_weight=0.5,
                         feature_loss_weight=3.0)
    weighted.load_state_dict(model.state_dict())
    x = images()
    with torch.no_grad():
        torch.manual_seed(2)
        plain = model.loss(x, None)
        torch.manual_seed(2)
        scaled = weighted.loss(x, None)
    torch.testing.assert_close(scaled['loss_pixel'],
                               0.5 * plain['loss_pixel'])
    torch.testing.assert_close(scaled['loss_feature'],
                               3.0 * plain['loss_feature'])


# ---------------------------------------------------------------------------
# grids
def test_teacher_grid_is_resampled_bilinearly(model):
    # a /14 teacher at 224 (16x16) onto a /16 student (14x14)
    feat = torch.randn(2, 48, 16, 16)
    out = model.match_grid((feat, ), (14, 14), 2)
    ref = F.interpolate(feat, size=(14, 14), mode='bilinear',
                        align_corners=False)
    assert out.shape == (2, 196, 48)
    torch.testing.assert_close(out, ref.flatten(2).transpose(1, 2))
    # a constant map stays constant; token order is row-major
    const = torch.ones(1, 48, 16, 16) * torch.arange(48.).view(1, 48, 1, 1)
    torch.testing.assert_close(
        model.match_grid(const, (14, 14), 1),
        torch.arange(48.).expand(1, 196, 48))
    same = model.match_grid(feat, (16, 16), 2)
    assert torch.equal(same, feat.flatten(2).transpose(1, 2))
    # raw tokens: the CLS token (num_extra_tokens of the ViT) is dropped
    assert model.teacher.num_extra_tokens == 1
    raw = torch.randn(2, 1 + 16 * 32, 48)
    tokens = model.match_grid(raw, (8, 16), 2)
    grid = raw[:, 1:].transpose(1, 2).reshape(2, 48, 16, 32)
    ref = F.interpolate(grid, size=(8, 16), mode='bilinear',
                        align_corners=False)
    torch.testing.assert_close(tokens, ref.flatten(2).transpose(1, 2))


@pytest.mark.parametrize('out,grid,match', [
    (torch.randn(2, 48), (8, 8), r"2-D output of shape \(2, 48\).*"
     r"not 'cls_token'"),
    (torch.randn(2, 1 + 15, 48), (8, 8),
     r'15 patch tokens per image \(after dropping 1 extra tokens of 16\)'),
    (torch.randn(2, 1 + 32, 48), (8, 8), r'form no grid with the aspect'),
    (torch.randn(2, 48, 4, 8), (8, 8),
     r'grid 4x8 and the student grid 8x8 have different aspect ratios'),
    (torch.randn(2, 32, 8, 8), (8, 8),
     r'32-channel features but feature_predictor.out_channels is 48'),
    (torch.randn(3, 48, 8, 8), (8, 8), r'returned 3 samples for 2 images'),
    ((), (8, 8), 'returned no output'),
])
def test_teacher_outputs_that_cannot_be_matched(model, out, grid, match):
    with pytest.raises(ValueError, match=match):
        model.match_grid(out, grid, 2)


def test_a_pooled_teacher_fails_at_the_first_step(teacher_ckpt):
    cfg = toy_cfg(teacher_ckpt)
    cfg.model.teacher.out_type = 'cls_token'  # the same weights
    model = build_model(cfg)
    with pytest.raises(ValueError, match=r"out_type='featmap', not "
                       r"'cls_token'"):
        model.loss(images(), None)


# ---------------------------------------------------------------------------
# configuration errors
def test_teacher_checkpoint_is_required_and_must_fit(teacher_ckpt, tmp_path):
    cfg = Config.fromfile(TOY_JOINT)
    with pytest.raises(ValueError, match=r'teacher_ckpt is None: .* give the '
                       r'path of a VisionTransformer checkpoint with '
                       r'--cfg-options model.teacher_ckpt=PATH'):
        build_model(cfg)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build_model(toy_cfg(str(tmp_path / 'nope.pth')))
    # a teacher of another size: missing and unexpected keys named
    state = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    state.pop('backbone.ln1.weight')
    state['backbone.extra.weight'] = torch.zeros(1)
    torch.save(dict(state_dict=state), tmp_path / 'bad.pth')
    with pytest.raises(CheckpointKeyError,
                       match=r'missing keys \(1\): ln1.weight unexpected '
                       r'keys \(1\): extra.weight'):
        build_model(toy_cfg(str(tmp_path / 'bad.pth')))
    with pytest.raises(CheckpointKeyError, match="teacher_ckpt_prefix='t.'"):
        build_model(toy_cfg(teacher_ckpt, teacher_ckpt_prefix='t.'))


@pytest.mark.parametrize('model_opts,match', [
    (dict(pixel_loss_weight=-1), r'pixel_loss_weight must be a finite '
     r'number >= 0, got -1'),
    (dict(feature_loss_weight=float('nan')), 'feature_loss_weight'),
    (dict(pixel_loss_weight=0, feature_loss_weight=0), 'both 0'),
    (dict(teacher_norm=dict(mean=[0, 0, 0])), r'teacher_norm must be None '
     r'or dict\(mean=\[...\], std=\[...\]\)'),
    (dict(teacher_norm=dict(mean=[0, 0], std=[1, 1])), r'teacher_norm.mean '
     r'must be a list of 1 or 3 numbers'),
    (dict(teacher_norm=dict(mean=[0], std=[0])), r'teacher_norm.std must be '
     r'> 0'),
    (dict(teacher='VisionTransformer'), 'teacher must be a config dict'),
    (dict(feature_predictor=dict(type='RevColV2FeaturePredictor',
                                 embed_dims=32)),
     r"feature_predictor.embed_dims 32 must equal the width of the "
     r"backbone's level 3, 64"),
])
def test_bad_joint_arguments(teacher_ckpt, model_opts, match):
    with pytest.raises(ValueError, match=match):
        toy_model(teacher_ckpt, **model_opts)


def test_masking_is_required(teacher_ckpt):
    cfg = toy_cfg(teacher_ckpt)
    cfg.model.backbone.mask_ratio = 0.
    with pytest.raises(ValueError, match=r'backbone.mask_ratio must be > 0, '
                       r'got 0.0'):
        build_model(cfg)


def test_teacher_without_embed_dims_needs_out_channels(tmp_path):
    from mmengine.model import BaseModule
    from mmpretrain.registry import MODELS

    @MODELS.register_module(force=True)
    class _PoolTeacher(BaseModule):  # a teacher with no embed_dims

        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Conv2d(3, 5, 8, 8)

        def forward(self, x):
            return self.proj(x)

    ckpt = save_teacher_checkpoint(dict(type='_PoolTeacher'),
                                   str(tmp_path / 'pool.pth'))
    opts = dict(teacher=dict(type='_PoolTeacher'), teacher_norm=None)
    with pytest.raises(ValueError, match=r'no int embed_dims: give its '
                       r'feature width as feature_predictor.out_channels'):
        toy_model(ckpt, **opts)
    model = toy_model(ckpt, **opts, feature_predictor=dict(
        type='RevColV2FeaturePredictor', embed_dims=64, out_channels=5))
    with torch.no_grad():
        losses = model.loss(images(), None)  # an 8x8 conv grid, no resampling
    assert torch.isfinite(losses['loss_feature'])


# ---------------------------------------------------------------------------
# reversible backward with both losses
@pytest.mark.parametrize('bu,td,keep', [(2, 2, None), (3, 3, 2)])
def test_reversible_grads_equal_plain_with_both_losses(teacher_ckpt, bu, td,
                                                       keep):
    cfg = toy_cfg(teacher_ckpt)
    cfg.model.backbone.arch.update(bu_columns=bu, td_columns=td)
    cfg.model.backbone.keep_states_every = keep
    model = build_model(cfg).train()
    model.init_weights()
    x = images()
    grads, losses = {}, {}
    for rev in (False, True):
        model.backbone.reversible = rev
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)  # the same mask in both runs
        out = model.loss(x, None)
        sum(out.values()).backward()
        losses[rev] = {k: float(v) for k, v in out.items()}
        grads[rev] = {n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None}
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
    # every student parameter gets a gradient, from both losses
    assert grads[False].keys() == dict(model.named_parameters()).keys()
    assert grads[True].keys() == grads[False].keys()
    for name, g in grads[False].items():
        err = (grads[True][name] - g).norm() / g.norm().clamp_min(1e-30)
        assert err < 1e-4, f'{name}: {err:.2e}'
    assert all(p.grad is None for p in model.teacher.parameters())


# ---------------------------------------------------------------------------
# the paper's configs
@pytest.mark.parametrize('size', ['b', 'l'])
def test_joint_configs_follow_the_paper(size):
    import math
    pre = Config.fromfile(osp.join(ROOT, 'configs', 'revcolv2',
                                   f'revcolv2-{size}_mim_8xb512-amp-1600e_in1k.py'))
    one = Config.fromfile(osp.join(JOINT_DIR, STAGE1.format(size)))
    two = Config.fromfile(osp.join(JOINT_DIR, STAGE2.format(size)))
    for cfg in (one, two):
        model = cfg.model
        assert model.type == 'RevColV2JointMIM'
        # the student and the pixel loss of the MIM recipe
        assert model.backbone == pre.model.backbone
        assert model.neck == pre.model.neck and model.head == pre.model.head
        assert cfg.optim_wrapper == pre.optim_wrapper
        assert cfg.train_dataloader.batch_size * 8 == 4096
        assert model.feature_predictor.embed_dims == pre.model.neck.embed_dims
        # OpenCLIP ViT-L/14: 16x16 tokens at 224, CLS dropped
        teacher = model.teacher
        assert (teacher.type, teacher.arch, teacher.patch_size,
                teacher.img_size) == ('VisionTransformer', 'large', 14, 224)
        assert teacher.pre_norm and teacher.out_type == 'featmap'
        assert model.teacher_ckpt is None
        assert model.feature_loss == dict(type='CosineSimilarityLoss',
                                          shift_factor=1.0, scale_factor=1.0)
        # fails clearly (and at once) until a teacher checkpoint is given
        with pytest.raises(ValueError, match='model.teacher_ckpt=PATH'):
            build_model(cfg)
    # 800 ImageNet-1K epochs of Laion400M images, then 300 IN-1K epochs
    assert one.train_dataloader.dataset.type == 'CustomDataset'
    assert one.train_dataloader.dataset.data_root == 'data/laion400m'
    assert one.train_cfg.max_iters == math.ceil(800 * 1281167 / 4096)
    assert one.param_scheduler[0].end == math.ceil(40 * 1281167 / 4096)
    assert one.param_scheduler[1].end == one.train_cfg.max_iters
    assert two.train_dataloader.dataset.type == 'ImageNet'
    def plain(pipeline):
        return [{k: v for k, v in t.items() if k != '_scope_'}
                for t in pipeline]

    assert plain(one.train_dataloader.dataset.pipeline) == \
        plain(pre.train_dataloader.dataset.pipeline)
    assert plain(two.train_dataloader.dataset.pipeline) == \
        plain(pre.train_dataloader.dataset.pipeline)
    assert two.train_cfg.max_epochs == 300
    assert two.param_scheduler[1].end == 300
    stage1_dir = apis.default_work_dir(one)
    assert osp.normpath(two.load_from) == osp.normpath(
        osp.join(stage1_dir, 'iter_250228.pth'))


def test_laion_stage_reads_an_image_list(tmp_path):
    from mmpretrain.registry import DATASETS
    from PIL import Image
    cfg = Config.fromfile(osp.join(JOINT_DIR, STAGE1.format('b')))
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'shard0').mkdir()
    for i in range(2):
        Image.new('RGB', (40, 30), (i * 90, 20, 30)).save(
            tmp_path / 'shard0' / f'{i}.jpg')
    (tmp_path / 'meta' / 'train.txt').write_text('shard0/0.jpg\n'
                                                 'shard0/1.jpg\n')
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 2
    assert dataset[1]['inputs'].shape == (3, 224, 224)


# ---------------------------------------------------------------------------
# the toy run and the export
@pytest.fixture(scope='module')
def toy_run(teacher_ckpt, tmp_path_factory):
    from mmrevcol.datasets.toy import make_toy_data
    root = tmp_path_factory.mktemp('toy_joint')
    make_toy_data('imagenet', str(root / 'data'), num_train=16, num_val=8)
    iters = 24
    runner = apis.train(TOY_JOINT, work_dir=str(root / 'work'), cfg_options={
        'model.teacher_ckpt': teacher_ckpt,
        'train_dataloader.dataset.data_root': str(root / 'data'),
        'train_dataloader.batch_size': 8,
        'train_cfg': dict(_delete_=True, type='IterBasedTrainLoop',
                          max_iters=iters),
        'param_scheduler': [],  # the toy lr 1.5e-3 from the first step
        'default_hooks.logger': dict(type='LoggerHook', interval=iters),
        'default_hooks.checkpoint': dict(type='CheckpointHook',
                                         interval=iters, by_epoch=False)})
    assert runner.iter == iters
    return root / 'work', runner


def test_toy_joint_run_lowers_both_losses(toy_run):
    _, runner = toy_run
    hub = runner.message_hub
    first, last = {}, {}
    for key in ('loss_pixel', 'loss_feature'):
        values = hub.get_scalar('train/' + key).data[0]
        assert len(values) == 24
        first[key], last[key] = values[:4].mean(), values[-4:].mean()
    # measured (mean of the first / last 4 of 24 iterations of 8 images):
    # pixel 1.31 -> 0.76 (x0.58), feature 0.90 -> 0.39 (x0.43)
    assert last['loss_pixel'] < 0.8 * first['loss_pixel'], (first, last)
    assert last['loss_feature'] < 0.7 * first['loss_feature'], (first, last)


def test_checkpoint_and_export_hold_no_teacher(toy_run, tmp_path):
    work, runner = toy_run
    ckpt = torch.load(work / 'iter_24.pth', map_location='cpu',
                      weights_only=False)
    state = ckpt['state_dict']
    assert set(state) == set(runner.model.state_dict())
    assert not any(k.startswith('teacher') or '.teacher' in k for k in state)
    assert any(k.startswith('feature_predictor.') for k in state)
    # the optimizer state covers the student's parameters only
    params = list(runner.model.parameters())
    assert len(ckpt['optimizer']['state']) == len(params)
    report = export_mim_backbone(str(work / 'iter_24.pth'),
                                 str(tmp_path / 'joint.pth'))
    exported = torch.load(tmp_path / 'joint.pth',
                          weights_only=True)['state_dict']
    own = {'backbone.' + k for k in runner.model.backbone.state_dict()}
    assert set(exported) == own - {'backbone.mask_token'}
    assert report.dropped_other == {'feature_predictor.': 4, 'neck.': 4}
    assert 'feature_predictor.* (4)' in report.summary()
