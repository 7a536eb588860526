"""Tests for RevColLayerDecayOptimWrapperConstructor."""
import logging
import math

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope

from mmrevcol.engine.optimizers import RevColLayerDecayOptimWrapperConstructor

BASE_LR = 1e-3
BASE_WD = 0.05
RATE = 0.5
CONSTRUCTOR = 'RevColLayerDecayOptimWrapperConstructor'


class ToyBlock(nn.Module):
    """Pre-norm residual MLP block with a per-channel scale."""

    def __init__(self, dims):
        super().__init__()
        self.norm = nn.LayerNorm(dims)
        self.fc = nn.Linear(dims, dims)
        self.gamma = nn.Parameter(torch.full((dims, ), 0.5))

    def forward(self, x):
        return x + self.gamma * self.fc(self.norm(x))


class ToyBackbone(nn.Module):
    """Embedding (conv + depth-wise conv + tokens), blocks, final norm.

    Depths: embedding 0, ``blocks.i`` ``i + 1``, everything else (final norm)
    and anything outside ``prefix`` ``num_layers - 1``.
    """

    def __init__(self, dims=8, depth=3):
        super().__init__()
        self.patch_embed = nn.Sequential(
            nn.Conv2d(3, dims, 2, stride=2),
            nn.Conv2d(dims, dims, 3, padding=1, groups=dims))
        self.pos_embed = nn.Parameter(torch.randn(1, 4, dims) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dims) * 0.02)
        self.blocks = nn.ModuleList(ToyBlock(dims) for _ in range(depth))
        self.norm_out = nn.LayerNorm(dims)
        self.num_layers = depth + 2

    def get_layer_depth(self, param_name, prefix=''):
        if not param_name.startswith(prefix):
            return self.num_layers - 1, self.num_layers
        name = param_name[len(prefix):]
        if name.split('.')[0] in ('patch_embed', 'pos_embed', 'cls_token'):
            return 0, self.num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, self.num_layers
        return self.num_layers - 1, self.num_layers

    def no_weight_decay(self):
        return {'pos_embed', 'cls_token'}

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm_out(x).mean(dim=1)


class ToyModel(nn.Module):
    """A backbone plus a head with a norm layer."""

    def __init__(self):
        super().__init__()
        self.backbone = ToyBackbone()
        self.head = nn.Sequential(
            nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))

    def forward(self, x):
        return self.head(self.backbone(x))


class PlainBackbone(nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)


class PlainModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = PlainBackbone()
        self.head = nn.Linear(4, 2)


class FakeDDP(nn.Module):
    """Stands in for (MM)DistributedDataParallel: exposes ``.module``."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def build(model, paramwise=None, optimizer=None, wrapper_type=None):
    """Build an optim wrapper through the mmengine registry."""
    paramwise_cfg = dict(layer_decay_rate=RATE)
    paramwise_cfg.update(paramwise or {})
    cfg = dict(
        optimizer=optimizer
        or dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
        constructor=CONSTRUCTOR,
        paramwise_cfg=paramwise_cfg)
    if wrapper_type is not None:
        cfg['type'] = wrapper_type
    return build_optim_wrapper(model, cfg)


def group_of(optim_wrapper, param):
    """Return the only group holding ``param``."""
    found = [
        g for g in optim_wrapper.optimizer.param_groups
        if any(p is param for p in g['params'])
    ]
    assert len(found) == 1, f'parameter in {len(found)} groups'
    return found[0]


def expected_scale(model, name, rate=RATE):
    depth, num_layers = model.backbone.get_layer_depth(name, 'backbone.')
    return rate**(num_layers - 1 - depth)


def test_lr_per_parameter_follows_depth():
    torch.manual_seed(0)
    model = ToyModel()
    wrapper = build(model)
    assert isinstance(wrapper, OptimWrapper)
    for name, param in model.named_parameters():
        group = group_of(wrapper, param)
        if name.startswith('backbone.'):
            lr = BASE_LR * expected_scale(model, name)
        else:
            lr = BASE_LR
        assert group['lr'] == pytest.approx(lr, rel=1e-12), name
        assert group['lr_scale'] == pytest.approx(lr / BASE_LR), name
    # a concrete spot check: num_layers = 5, blocks.0 is depth 1
    blk0 = group_of(wrapper, model.backbone.blocks[0].fc.weight)
    assert blk0['lr'] == pytest.approx(BASE_LR * 0.5**3)
    assert blk0['layer_depth'] == 1
    emb = group_of(wrapper, model.backbone.patch_embed[0].weight)
    assert emb['lr'] == pytest.approx(BASE_LR * 0.5**4)
    assert group_of(wrapper, model.head[2].weight)['lr'] == BASE_LR


def test_groups_cover_each_parameter_once_and_are_ordered():
    model = ToyModel()
    wrapper = build(model)
    groups = wrapper.optimizer.param_groups
    all_params = [p for g in groups for p in g['params']]
    assert len(all_params) == len({id(p) for p in all_params})
    assert {id(p) for p in all_params} == {id(p) for p in model.parameters()}

    keys = [(g['layer_depth'], g['group_name'].startswith('others.'),
             g['group_name'].endswith('no_decay')) for g in groups]
    assert keys == sorted(keys)
    assert [k[0] for k in keys][0] == 0 and keys[-1][0] == 4
    # decay and no-decay are kept apart at every depth
    for group in groups:
        decays = {g > 0 for g in [group['weight_decay']]}
        assert decays == {not group['group_name'].endswith('no_decay')}
    names = [g['group_name'] for g in groups]
    assert len(names) == len(set(names))
    assert 'backbone.layer_0.decay' in names
    assert 'backbone.layer_0.no_decay' in names
    assert 'others.layer_4.decay' in names


def test_weight_decay_defaults():
    model = ToyModel()
    wrapper = build(model)
    for name, param in model.named_parameters():
        wd = group_of(wrapper, param)['weight_decay']
        if param.ndim <= 1 or name in ('backbone.pos_embed',
                                       'backbone.cls_token'):
            assert wd == 0, name
        else:
            assert wd == pytest.approx(BASE_WD), name
    # the 1-D per-channel scale and the depth-wise conv bias are no-decay
    assert group_of(wrapper, model.backbone.blocks[2].gamma)['weight_decay'] \
        == 0
    assert group_of(wrapper,
                    model.backbone.patch_embed[1].bias)['weight_decay'] == 0


def test_no_weight_decay_accepts_module_and_suffix_names():

    class Backbone(ToyBackbone):

        def no_weight_decay(self):
            # a module name and a dotted-suffix entry
            return ['blocks.1.fc', 'norm.weight']

    model = ToyModel()
    model.backbone = Backbone()
    wrapper = build(model)
    assert group_of(wrapper,
                    model.backbone.blocks[1].fc.weight)['weight_decay'] == 0
    assert group_of(
        wrapper, model.backbone.blocks[0].fc.weight)['weight_decay'] == \
        pytest.approx(BASE_WD)
    # pos_embed is no longer listed: it is a 3-D tensor, so it decays
    assert group_of(wrapper, model.backbone.pos_embed)['weight_decay'] == \
        pytest.approx(BASE_WD)
    # head parameters are never matched against backbone names
    assert group_of(wrapper, model.head[0].weight)['weight_decay'] == \
        pytest.approx(BASE_WD)

    class BadBackbone(ToyBackbone):

        def no_weight_decay(self):
            return 'pos_embed'

    model.backbone = BadBackbone()
    with pytest.raises(TypeError, match='no_weight_decay'):
        build(model)


def test_frozen_parameters_are_skipped():
    model = ToyModel()
    for param in model.backbone.patch_embed.parameters():
        param.requires_grad = False
    model.backbone.pos_embed.requires_grad = False
    wrapper = build(model)
    in_groups = {
        id(p)
        for g in wrapper.optimizer.param_groups for p in g['params']
    }
    for name, param in model.named_parameters():
        assert (id(param) in in_groups) == param.requires_grad, name
    assert 'backbone.layer_0.decay' not in [
        g['group_name'] for g in wrapper.optimizer.param_groups
    ]


@pytest.mark.parametrize('rate', [0, 1.5, -0.1, 'x', None, True,
                                  float('nan')])
def test_bad_layer_decay_rate(rate):
    with pytest.raises(ValueError) as info:
        build(ToyModel(), dict(layer_decay_rate=rate))
    message = str(info.value)
    assert "paramwise_cfg['layer_decay_rate']" in message
    assert '(0, 1]' in message
    assert repr(rate) in message


def test_missing_layer_decay_rate_and_unknown_keys():
    cfg = dict(optimizer=dict(type='SGD', lr=0.1), constructor=CONSTRUCTOR)
    with pytest.raises(ValueError, match="'layer_decay_rate'] is required"):
        build_optim_wrapper(ToyModel(), cfg)
    with pytest.raises(ValueError, match="'layer_decay_rate'] is required"):
        build_optim_wrapper(ToyModel(), dict(cfg, paramwise_cfg=dict()))
    # an option of mmseg's LayerDecayOptimizerConstructor is not ignored
    with pytest.raises(ValueError, match=r"unsupported.*\['decay_rate'\]"):
        build(ToyModel(), dict(decay_rate=0.9))
    with pytest.raises(ValueError, match="'norm_decay_mult'.*non-negative"):
        build(ToyModel(), dict(norm_decay_mult='0'))
    with pytest.raises(TypeError, match="'backbone_prefix'.*str"):
        build(ToyModel(), dict(backbone_prefix=None))
    with pytest.raises(ValueError, match=r"optimizer\['lr'\]"):
        build(ToyModel(), optimizer=dict(type='SGD'))


def test_rate_one_disables_decay():
    model = ToyModel()
    wrapper = build(model, dict(layer_decay_rate=1))
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {BASE_LR}


def test_backbone_without_get_layer_depth():
    with pytest.raises(TypeError) as info:
        build(PlainModel())
    message = str(info.value)
    assert 'PlainBackbone' in message
    assert 'get_layer_depth' in message
    with pytest.raises(ValueError, match="no submodule 'encoder'"):
        build(ToyModel(), dict(backbone_prefix='encoder.'))


def test_backbone_contract_is_checked():

    class Inconsistent(ToyBackbone):

        def get_layer_depth(self, param_name, prefix=''):
            depth, num = super().get_layer_depth(param_name, prefix)
            return depth, num + (depth == 0)

    class OutOfRange(ToyBackbone):

        def get_layer_depth(self, param_name, prefix=''):
            return self.num_layers, self.num_layers

    class NotATuple(ToyBackbone):

        def get_layer_depth(self, param_name, prefix=''):
            return 1.0

    model = ToyModel()
    model.backbone = Inconsistent()
    with pytest.raises(ValueError, match='must be the same'):
        build(model)
    model.backbone = OutOfRange()
    with pytest.raises(ValueError, match='0 <= depth <= num_layers - 1'):
        build(model)
    model.backbone = NotATuple()
    with pytest.raises(TypeError, match='tuple of two ints'):
        build(model)


def test_wrapped_model_and_other_prefixes():
    model = ToyModel()
    wrapper = build(FakeDDP(model))
    head = group_of(wrapper, model.head[0].weight)
    assert head['lr'] == BASE_LR
    emb = group_of(wrapper, model.backbone.pos_embed)
    assert emb['lr'] == pytest.approx(BASE_LR * RATE**4)

    class Net(nn.Module):

        def __init__(self):
            super().__init__()
            self.encoder = ToyBackbone()
            self.head = nn.Linear(8, 2)

    net = Net()
    # the trailing dot is added when missing
    wrapper = build(net, dict(backbone_prefix='encoder'))
    assert group_of(wrapper, net.encoder.blocks[2].fc.weight)['lr'] == \
        pytest.approx(BASE_LR * RATE)
    assert group_of(wrapper, net.head.weight)['lr'] == BASE_LR

    bare = ToyBackbone()
    wrapper = build(bare, dict(backbone_prefix=''))
    assert group_of(wrapper, bare.cls_token)['lr'] == \
        pytest.approx(BASE_LR * RATE**4)
    assert group_of(wrapper, bare.norm_out.weight)['lr'] == BASE_LR


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_build_from_default_scope(scope):
    registry = __import__(f'{scope}.registry',
                          fromlist=['OPTIM_WRAPPER_CONSTRUCTORS'])
    assert registry.OPTIM_WRAPPER_CONSTRUCTORS.get(CONSTRUCTOR) is \
        RevColLayerDecayOptimWrapperConstructor
    model = ToyModel()
    with DefaultScope.overwrite_default_scope(scope):
        assert DefaultScope.get_current_instance().scope_name == scope
        wrapper = build(model)
    assert isinstance(wrapper, OptimWrapper)
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    assert group_of(wrapper, model.backbone.blocks[1].fc.weight)['lr'] == \
        pytest.approx(BASE_LR * RATE**2)


def test_sgd_step_applies_scaled_learning_rates():
    torch.manual_seed(0)
    model = ToyModel().train()
    wrapper = build(model, optimizer=dict(type='SGD', lr=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = model(torch.randn(4, 3, 4, 4)).pow(2).sum()
    wrapper.backward(loss)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    wrapper.step()
    wrapper.zero_grad()
    for name, param in model.named_parameters():
        scale = (
            expected_scale(model, name) if name.startswith('backbone.') else
            1.)
        expected = before[name] - 0.1 * scale * grads[name]
        torch.testing.assert_close(param.detach(), expected, msg=name)
    assert not torch.equal(before['backbone.patch_embed.0.weight'],
                           model.backbone.patch_embed[0].weight)


def test_update_params_with_adamw():
    torch.manual_seed(0)
    model = ToyModel().train()
    wrapper = build(model)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        loss = model(torch.randn(4, 3, 4, 4)).pow(2).sum()
        wrapper.update_params(loss)
    after = list(model.parameters())
    assert all(not torch.equal(b, a) for b, a in zip(before, after))
    state = wrapper.state_dict()
    assert len(state['param_groups']) == len(wrapper.optimizer.param_groups)
    # reloading the state keeps the per-group learning rates
    fresh = build(ToyModel())
    fresh.load_state_dict(state)
    assert [g['lr'] for g in fresh.optimizer.param_groups] == \
        [g['lr'] for g in wrapper.optimizer.param_groups]


def test_amp_optim_wrapper_on_cpu(monkeypatch):
    # AmpOptimWrapper refuses to build without an accelerator; pretend one
    # exists so that the CPU test exercises the loss-scaler step path.
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module
    monkeypatch.setattr(amp_module, 'is_cuda_available', lambda: True)
    torch.manual_seed(0)
    model = ToyModel().train()
    cfg = dict(
        type='AmpOptimWrapper',
        dtype='bfloat16',
        optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
        constructor=CONSTRUCTOR,
        paramwise_cfg=dict(layer_decay_rate=RATE))
    wrapper = build_optim_wrapper(model, cfg)
    assert isinstance(wrapper, AmpOptimWrapper)
    assert group_of(wrapper, model.backbone.blocks[0].fc.weight)['lr'] == \
        pytest.approx(BASE_LR * RATE**3)
    before = model.backbone.blocks[0].fc.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(torch.randn(4, 3, 4, 4)).float().pow(2).sum()
    wrapper.update_params(loss)
    assert not torch.equal(before, model.backbone.blocks[0].fc.weight)
    assert 'loss_scaler' in wrapper.state_dict()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_amp_optim_wrapper_on_cuda():
    torch.manual_seed(0)
    model = ToyModel().cuda().train()
    wrapper = build(model, wrapper_type='AmpOptimWrapper')
    before = model.backbone.blocks[0].fc.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(torch.randn(4, 3, 4, 4, device='cuda')).float().pow(
            2).sum()
    wrapper.update_params(loss)
    assert not torch.equal(before, model.backbone.blocks[0].fc.weight)


def test_group_table_is_logged():
    records = []

    class Capture(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Capture(level=logging.INFO)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        model = ToyModel()
        model.backbone.blocks[0].fc.weight.requires_grad = False
        wrapper = build(model)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    tables = [r for r in records if r.startswith('Layer-wise lr decay')]
    assert len(tables) == 1
    lines = tables[0].splitlines()
    groups = wrapper.optimizer.param_groups
    assert 'ToyBackbone' in lines[0] and 'num_layers=5' in lines[0]
    assert '1 frozen parameter(s) skipped' in lines[0]
    assert lines[1].split() == [
        'group', 'depth', 'lr_scale', 'lr', 'weight_decay', '#tensors',
        '#params'
    ]
    assert len(lines) == 2 + len(groups)
    for line, group in zip(lines[2:], groups):
        cells = line.split()
        assert cells[0] == group['group_name']
        assert int(cells[1]) == group['layer_depth']
        assert float(cells[2]) == pytest.approx(group['lr_scale'], rel=1e-3)
        assert int(cells[5]) == len(group['params'])
        assert int(cells[6]) == sum(p.numel() for p in group['params'])


# --------------------------------------------------------------------- #
# the mmengine paramwise options this constructor claims to support
# --------------------------------------------------------------------- #
def test_custom_keys():
    model = ToyModel()
    wrapper = build(
        model,
        dict(
            custom_keys={
                'head': dict(lr_mult=10., decay_mult=0.5),
                'blocks.1.fc': dict(lr_mult=0.1),
                # longer key wins over 'blocks.1.fc'
                'blocks.1.fc.weight': dict(lr_mult=0.2, betas=(0.8, 0.9)),
                'pos_embed': dict(decay_mult=1.),
            }))
    for name, param in model.head.named_parameters():
        group = group_of(wrapper, param)
        assert group['lr'] == pytest.approx(BASE_LR * 10), name
        # an explicit decay_mult beats the no-decay rule for 1-D params
        assert group['weight_decay'] == pytest.approx(BASE_WD * 0.5), name
    scale = RATE**2  # blocks.1 is depth 2 of 5
    weight = group_of(wrapper, model.backbone.blocks[1].fc.weight)
    assert weight['lr'] == pytest.approx(BASE_LR * 0.2 * scale)
    assert weight['betas'] == (0.8, 0.9)
    assert weight['weight_decay'] == pytest.approx(BASE_WD)
    bias = group_of(wrapper, model.backbone.blocks[1].fc.bias)
    assert bias['lr'] == pytest.approx(BASE_LR * 0.1 * scale)
    assert bias['betas'] == (0.9, 0.999)  # AdamW default
    # a custom key without decay_mult means decay_mult=1, as in mmengine
    assert bias['weight_decay'] == pytest.approx(BASE_WD)
    assert 'lr_mult' not in bias and 'decay_mult' not in weight
    # custom decay_mult overrides the backbone's no_weight_decay()
    assert group_of(wrapper, model.backbone.pos_embed)['weight_decay'] == \
        pytest.approx(BASE_WD)
    names = [g['group_name'] for g in wrapper.optimizer.param_groups]
    assert len(names) == len(set(names))
    # still trains
    wrapper.update_params(model(torch.randn(2, 3, 4, 4)).sum())

    with pytest.raises(TypeError, match=r"\['custom_keys'\]\['head'\]"):
        build(model, dict(custom_keys=dict(head=0.1)))
    with pytest.raises(ValueError, match="'lr_mult'.*non-negative"):
        build(model, dict(custom_keys=dict(head=dict(lr_mult=-1))))


def test_norm_decay_mult():
    model = ToyModel()
    wrapper = build(model, dict(norm_decay_mult=1.))
    for norm in (model.backbone.blocks[0].norm, model.backbone.norm_out,
                 model.head[1]):
        for param in norm.parameters():
            assert group_of(wrapper, param)['weight_decay'] == \
                pytest.approx(BASE_WD)
    assert group_of(wrapper, model.backbone.blocks[0].fc.bias)[
        'weight_decay'] == 0
    assert group_of(wrapper, model.backbone.blocks[0].gamma)[
        'weight_decay'] == 0


@pytest.mark.parametrize('key,replacement', [
    ('bias_lr_mult', "custom_keys={'.bias'"),
    ('bias_decay_mult', "custom_keys={'.bias'"),
    ('dwconv_decay_mult', 'custom_keys entry'),
    ('dcn_offset_lr_mult', "custom_keys={'conv_offset'"),
    ('bypass_duplicate', 'always added once'),
])
def test_removed_keys_name_their_replacement(key, replacement):
    with pytest.raises(ValueError) as info:
        build(ToyModel(), {key: 1.})
    message = str(info.value)
    assert f"paramwise_cfg['{key}'] was removed; use" in message
    assert replacement in message


def test_flat_decay_mult():
    model = ToyModel()
    wrapper = build(model, dict(flat_decay_mult=1.))
    for name, param in model.named_parameters():
        wd = group_of(wrapper, param)['weight_decay']
        if name in ('backbone.pos_embed', 'backbone.cls_token'):
            assert wd == 0, name
        else:
            assert wd == pytest.approx(BASE_WD), name


def test_shared_parameter_added_once():
    model = ToyModel()
    model.aux = nn.Linear(8, 8)
    model.aux.weight = model.head[0].weight  # tied
    wrapper = build(model)
    group_of(wrapper, model.head[0].weight)  # exactly one group
    listed = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(listed) == len({id(p) for p in listed}) == len(
        list(model.parameters()))
    wrapper.update_params(model(torch.randn(2, 3, 4, 4)).sum())


def test_weight_decay_left_to_optimizer_default():
    model = ToyModel()
    wrapper = build(model, optimizer=dict(type='AdamW', lr=BASE_LR))
    weight = group_of(wrapper, model.backbone.blocks[0].fc.weight)
    assert weight['weight_decay'] == pytest.approx(0.01)  # AdamW default
    assert group_of(wrapper, model.backbone.blocks[0].fc.bias)[
        'weight_decay'] == 0
    assert math.isclose(weight['lr'], BASE_LR * RATE**3)
    with pytest.raises(ValueError, match="sets no 'weight_decay'"):
        build(model, dict(flat_decay_mult=0.5),
              optimizer=dict(type='AdamW', lr=BASE_LR))


# --------------------------------------------------------------------- #
# real OpenMMLab models whose backbone implements get_layer_depth
# --------------------------------------------------------------------- #
TINY_VIT = dict(
    type='mmpretrain.VisionTransformer',
    arch=dict(
        embed_dims=16, num_layers=3, num_heads=2, feedforward_channels=32),
    img_size=32,
    patch_size=16)


def test_mmpretrain_classifier_matches_mmpretrain_constructor():
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=TINY_VIT,
                head=dict(
                    type='VisionTransformerClsHead',
                    num_classes=3,
                    in_channels=16)))
        optimizer = dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)
        ours = build(model, dict(layer_decay_rate=0.7))
        reference = build_optim_wrapper(
            model,
            dict(
                optimizer=optimizer,
                constructor='LearningRateDecayOptimWrapperConstructor',
                paramwise_cfg=dict(layer_decay_rate=0.7, flat_decay_mult=0.)))
    checked = 0
    for name, param in model.named_parameters():
        mine, theirs = group_of(ours, param), group_of(reference, param)
        assert mine['lr'] == pytest.approx(theirs['lr'], rel=1e-12), name
        assert mine['weight_decay'] == pytest.approx(
            theirs['weight_decay']), name
        checked += 1
    assert checked == len(list(model.parameters())) > 10
    # 3 blocks -> num_layers 5: the patch embedding is 4 levels down
    assert group_of(ours, model.backbone.patch_embed.projection.weight)[
        'lr'] == pytest.approx(BASE_LR * 0.7**4)
    assert group_of(ours, model.head.layers.head.weight)['lr'] == BASE_LR
    # the mmpretrain constructor has one group per tensor, ours one per
    # (depth, decay) pair
    assert len(ours.optimizer.param_groups) < len(
        reference.optimizer.param_groups)
    loss = model(torch.randn(2, 3, 32, 32), mode='tensor').sum()
    ours.update_params(loss)


def test_mmseg_segmentor_with_layer_depth_backbone():
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(
            dict(
                type='EncoderDecoder',
                backbone=dict(TINY_VIT, out_type='featmap'),
                decode_head=dict(
                    type='FCNHead',
                    in_channels=16,
                    channels=8,
                    num_convs=1,
                    concat_input=False,
                    norm_cfg=dict(type='BN'),
                    num_classes=2)))
        wrapper = build(model)
    num_layers = model.backbone.get_layer_depth('x', 'backbone.')[1]
    assert num_layers == 5
    for name, param in model.named_parameters():
        group = group_of(wrapper, param)
        if name.startswith('backbone.'):
            depth = model.backbone.get_layer_depth(name, 'backbone.')[0]
            assert group['layer_depth'] == depth, name
            assert group['lr'] == pytest.approx(
                BASE_LR * RATE**(num_layers - 1 - depth)), name
        else:
            assert group['lr'] == BASE_LR, name
    # the decode head's BatchNorm and conv bias get no weight decay
    assert group_of(wrapper, model.decode_head.convs[0].norm.weight)[
        'weight_decay'] == 0
    assert group_of(wrapper, model.decode_head.conv_seg.bias)[
        'weight_decay'] == 0
    assert group_of(wrapper, model.decode_head.conv_seg.weight)[
        'weight_decay'] == pytest.approx(BASE_WD)
    out = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, 2, 2, 2)
    wrapper.update_params(out.sum())


def test_mmdet_detector_without_layer_depth_is_refused():
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            dict(
                type='RetinaNet',
                backbone=dict(
                    type='ResNet', depth=18, num_stages=4,
                    out_indices=(3, )),
                neck=dict(
                    type='FPN', in_channels=[512], out_channels=8,
                    num_outs=1),
                bbox_head=dict(
                    type='RetinaHead',
                    num_classes=2,
                    in_channels=8,
                    feat_channels=8,
                    stacked_convs=1,
                    anchor_generator=dict(
                        type='AnchorGenerator',
                        octave_base_scale=4,
                        scales_per_octave=1,
                        ratios=[1.0],
                        strides=[32]),
                    bbox_coder=dict(type='DeltaXYWHBBoxCoder'))))
        with pytest.raises(TypeError) as info:
            build(model)
    assert 'mmdet.models.backbones.resnet.ResNet' in str(info.value)
    # the same detector works once its backbone reports depths
    model.backbone.get_layer_depth = lambda name, prefix='': (
        (0, 2) if name.startswith(prefix + 'conv1') else (1, 2))
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build(model)
    assert group_of(wrapper, model.backbone.conv1.weight)['lr'] == \
        pytest.approx(BASE_LR * RATE)
    assert group_of(wrapper, model.backbone.layer4[0].conv1.weight)['lr'] \
        == BASE_LR
    assert group_of(wrapper, model.bbox_head.retina_cls.weight)['lr'] == \
        BASE_LR
