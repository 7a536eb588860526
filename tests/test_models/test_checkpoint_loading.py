"""The backbone key policy (:mod:`mmrevcol.models.checkpoint`), the lossless
classifier -> dense step of the RevColV2 chain through the shipped configs,
and the refusal to fine-tune from random weights by accident."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from mmrevcol import apis
from mmrevcol.apis import build_model
from mmrevcol.models import RevCol, RevColV2
from mmrevcol.models.checkpoint import (CheckpointKeyError,
                                        load_backbone_checkpoint,
                                        plan_backbone_load)

from tests.helpers import ROOT, TINY_V2

REPO = ROOT


def tiny(**kwargs):
    return RevColV2(TINY_V2, img_size=32, patch_size=8, **kwargs)


def tiny_cls(**kwargs):
    return tiny(out_type='avg_featmap', out_indices=(3, ), **kwargs)


def pretrained_state(model):
    """A pre-trained backbone's keys: every level, no output norms."""
    return {k: v.clone() for k, v in model.state_dict().items()
            if not k.startswith('out_norm')}


def save(path, state, prefix='backbone.'):
    torch.save({'state_dict': {prefix + k: v for k, v in state.items()},
                'meta': {}}, path)
    return str(path)


def test_pretrained_into_dense_reports_output_norms_as_new():
    pre = tiny()
    merged, report = plan_backbone_load(tiny(), pretrained_state(pre))
    assert report.missing == [] and report.unexpected == []
    assert report.new == sorted(f'out_norm{i}.{p}' for i in range(4)
                                for p in ('bias', 'weight'))
    assert report.filled == [] and report.unused == []


def test_pretrained_into_classifier_skips_the_unbuilt_levels():
    pre = tiny()
    cls = tiny_cls()
    # TINY_V2: the last TD column builds level 3 only, which reads level 2
    # of the TD column before it, so levels 1, 0 of column 2 and 2, 1, 0 of
    # column 3 (and their shortcut scales) are not built
    assert cls.unbuilt_key_prefixes() == tuple(
        f'columns.{c}.{part}' for c, levels in ((2, (1, 0)), (3, (2, 1, 0)))
        for i in levels for part in (f'levels.{i}', f'gamma{i}'))
    _, report = plan_backbone_load(cls, pretrained_state(pre))
    assert report.missing == [] and report.unexpected == []
    assert report.new == ['out_norm3.bias', 'out_norm3.weight']
    assert report.unused and all(
        k.startswith(cls.unbuilt_key_prefixes()) for k in report.unused)
    assert len(report.unused) == len(pretrained_state(pre)) - len(
        report.loaded)


def test_classifier_into_dense_fails_without_fill_and_names_the_levels(
        tmp_path):
    cls_ckpt = save(tmp_path / 'cls.pth', tiny_cls().state_dict())
    dense = tiny()
    with pytest.raises(CheckpointKeyError) as err:
        load_backbone_checkpoint(dense, cls_ckpt)
    msg = str(err.value)
    assert 'Missing backbone keys' in msg
    assert 'columns.3.levels.0' in msg and 'columns.3.gamma2' in msg
    assert 'init_cfg.fill_from' in msg and 'strict=False' in msg
    assert 'out_norm0' not in msg  # new, not missing


def test_classifier_plus_pretrained_fills_exactly_the_missing_levels(
        tmp_path):
    pre, cls = tiny(), tiny_cls()
    pre_state = pretrained_state(pre)
    cls_state = cls.state_dict()
    for v in cls_state.values():  # fine-tuned: differs from pre-trained
        v.add_(1.0)
    ckpt = save(tmp_path / 'cls.pth', cls_state)
    fill = save(tmp_path / 'pre.pth', pre_state)
    dense = tiny()
    report = load_backbone_checkpoint(dense, ckpt, fill_from=fill)
    assert report.missing == [] and report.unexpected == []
    assert set(report.filled) == {
        k for k in pre_state if k.startswith(cls.unbuilt_key_prefixes())}
    assert set(report.loaded) == set(cls_state)
    assert report.new == sorted(f'out_norm{i}.{p}' for i in range(3)
                                for p in ('bias', 'weight'))
    own = dense.state_dict()
    for k in report.loaded:
        torch.testing.assert_close(own[k], cls_state[k], rtol=0, atol=0)
    for k in report.filled:
        torch.testing.assert_close(own[k], pre_state[k], rtol=0, atol=0)


def test_unexpected_keys_fail_unless_allowed(tmp_path):
    state = pretrained_state(tiny())
    state['mask_token'] = torch.zeros(1, 1, 32)
    ckpt = save(tmp_path / 'x.pth', state)
    with pytest.raises(CheckpointKeyError,
                       match=r'Unexpected keys \(1\): mask_token'):
        load_backbone_checkpoint(tiny(), ckpt)
    report = load_backbone_checkpoint(tiny(), ckpt, strict=False)
    assert report.unexpected == ['mask_token']


def test_raw_backbone_files_and_v1():
    v1 = RevCol(dict(channels=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                     num_columns=2), out_norms=True)
    state = {k: v for k, v in v1.state_dict().items()
             if not k.startswith('out_norm')}
    _, report = plan_backbone_load(v1, state)
    assert report.missing == [] and len(report.new) == 8
    del state['stem.0.weight']
    _, report = plan_backbone_load(v1, state)
    assert report.missing == ['stem.0.weight']


def test_init_cfg_pretrained_with_fill_and_unknown_keys(tmp_path):
    pre, cls = tiny(), tiny_cls()
    ckpt = save(tmp_path / 'cls.pth', cls.state_dict())
    fill = save(tmp_path / 'pre.pth', pretrained_state(pre))
    dense = tiny(init_cfg=dict(type='Pretrained', checkpoint=ckpt,
                               fill_from=fill))
    dense.init_weights()
    torch.testing.assert_close(dense.columns[3].levels[0].norm_same.weight,
                               pre.columns[3].levels[0].norm_same.weight)
    bad = tiny(init_cfg=dict(type='Pretrained', checkpoint=ckpt, fill=fill))
    with pytest.raises(ValueError, match=r"init_cfg keys \['fill'\] are not"):
        bad.init_weights()


# ---------------------------------------------------------------------------
# the real configs: classifier (+ pre-trained) -> dense backbones
DENSE_CONFIGS = ['revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py',
                 'revcolv2-b_mask-rcnn_8xb4-50e_coco.py',
                 'revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py']


@pytest.fixture(scope='module')
def chain_checkpoints(tmp_path_factory):
    """A classification checkpoint written from the real ImageNet config's
    classifier (tiny arch) and the pre-trained backbone it started from."""
    root = tmp_path_factory.mktemp('chain')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'revcolv2', 'revcolv2-b_8xb128-100e_in1k.py'))
    cfg.model.backbone.arch = TINY_V2
    cfg.model.head.in_channels = TINY_V2['embed_dims']
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(1)
    classifier = build_model(cfg)
    pre = RevColV2(TINY_V2, img_size=224)
    # mmengine checkpoint layout: the whole classifier under state_dict
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}},
               root / 'cls.pth')
    save(root / 'pre.pth', pretrained_state(pre))
    return root, classifier, pre


@pytest.mark.parametrize('name', DENSE_CONFIGS)
def test_dense_configs_load_the_classifier_with_no_missing_backbone_keys(
        name, chain_checkpoints):
    root, classifier, pre = chain_checkpoints
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'revcolv2', name))
    backbone_cfg = cfg.model.backbone
    assert backbone_cfg.init_cfg.type == 'Pretrained'
    assert backbone_cfg.init_cfg.checkpoint is None  # weights still to come
    backbone_cfg.arch = TINY_V2
    backbone_cfg.init_cfg.checkpoint = str(root / 'cls.pth')
    backbone_cfg.init_cfg.fill_from = str(root / 'pre.pth')
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    report = backbone.load_report
    assert report.missing == [] and report.unexpected == []
    assert report.filled and all(
        k.startswith(classifier.backbone.unbuilt_key_prefixes())
        for k in report.filled)
    own = backbone.state_dict()
    cls_state = classifier.backbone.state_dict()
    for k in report.loaded:
        if 'pos_embed' in k:  # resized from the 224 grid
            continue
        torch.testing.assert_close(own[k], cls_state[k], rtol=0, atol=0)
    assert backbone.pos_embed.shape[1] == backbone.pos_grid[0] * \
        backbone.pos_grid[1]


# ---------------------------------------------------------------------------
# no fine-tuning from random weights by accident
TOY_SOURCE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from torch.utils.data import Dataset

from mmrevcol.registry import register_everywhere


@register_everywhere('MODELS')
class WeightsCheckToyClassifier(BaseModel):

    def __init__(self, backbone):
        super().__init__()
        self.backbone = MODELS.build(backbone)
        self.head = nn.Linear(self.backbone.embed_dims, 2)

    def forward(self, inputs, target=None, mode='tensor'):
        logits = self.head(self.backbone(inputs)[0])
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, target))
        return logits


@register_everywhere('DATASETS')
class WeightsCheckToyData(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(inputs=torch.randn(3, 32, 32, generator=gen),
                    target=torch.tensor(index % 2))
'''

TOY_CONFIG = '''
custom_imports = dict(imports=['mmrevcol_weights_toy'],
                      allow_failed_imports=False)
default_scope = 'mmengine'
model = dict(
    type='WeightsCheckToyClassifier',
    backbone=dict(
        type='RevColV2',
        arch=dict(embed_dims=32, num_heads=2, bu_columns=2, bu_depth=4,
                  td_columns=2, td_depth=4),
        img_size=32, patch_size=8, out_type='avg_featmap', out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint=None)))
train_dataloader = dict(
    dataset=dict(type='WeightsCheckToyData'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
train_cfg = dict(by_epoch=False, max_iters=2)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
    logger=dict(type='LoggerHook', interval=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
'''


@pytest.fixture(scope='module')
def weights_toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('weights_toy')
    (root / 'mmrevcol_weights_toy.py').write_text(TOY_SOURCE)
    (root / 'cfg.py').write_text(TOY_CONFIG)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


def test_training_forward_refuses_random_weights():
    model = tiny(init_cfg=dict(type='Pretrained', checkpoint=None))
    model.init_weights()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        model.eval()(x)  # evaluation is not refused
    with pytest.raises(RuntimeError,
                       match='model.backbone.init_cfg.checkpoint=PATH'):
        model.train()(x)
    # weights that arrive later (load_from / resume) lift the refusal
    model.load_state_dict(tiny().state_dict())
    model.train()(x)
    scratch = tiny(init_cfg=None)
    scratch.init_weights()
    scratch.train()(x)


def test_train_tool_stops_before_the_first_iteration(weights_toy):
    work = weights_toy / 'w1'
    with pytest.raises(RuntimeError, match='init_cfg.checkpoint=PATH'):
        apis.train(str(weights_toy / 'cfg.py'), work_dir=str(work))
    assert not list(work.rglob('*.pth'))
    log = next(work.rglob('*.log')).read_text()
    assert 'Iter(train)' not in log  # no iteration ran


def test_load_from_or_resume_or_scratch_are_accepted(weights_toy):
    scratch = apis.train(str(weights_toy / 'cfg.py'),
                         work_dir=str(weights_toy / 'scratch'),
                         cfg_options={'model.backbone.init_cfg': None})
    assert scratch.iter == 2
    ckpt = weights_toy / 'scratch' / 'iter_2.pth'
    assert ckpt.is_file()
    loaded = apis.train(str(weights_toy / 'cfg.py'),
                        work_dir=str(weights_toy / 'load_from'),
                        cfg_options={'load_from': str(ckpt)})
    assert loaded.iter == 2
    resumed = apis.train(str(weights_toy / 'cfg.py'),
                         work_dir=str(weights_toy / 'scratch'),
                         resume='auto',
                         cfg_options={'train_cfg.max_iters': 3})
    assert resumed.iter == 3
