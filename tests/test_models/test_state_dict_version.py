"""State-dict versions of RevCol / RevColV2: a state dict with the key names
of version 1 (before mmcv's LayerScale / FFN, issue 11) loads into today's
backbones with no missing or unexpected key and the same outputs, through
``load_state_dict`` and through ``init_cfg=dict(type='Pretrained')``."""
import re
from collections import OrderedDict

import pytest
import torch

from mmrevcol.models import RevCol, RevColV2
from mmrevcol.models.columns import STATE_DICT_VERSION, upgrade_key
from tests.helpers import TINY_V2

V1_ARCH = dict(channels=[4, 8, 8, 8], depths=[1, 1, 2, 1], num_columns=3)
BUILD = {
    'v1': (lambda: RevCol(V1_ARCH, out_norms=True), (1, 3, 64, 64)),
    'v2': (lambda: RevColV2(TINY_V2, img_size=32, patch_size=8),
           (1, 3, 32, 32)),
}


def to_version_1(state_dict):
    """Today's keys renamed to the version-1 names (written from the names
    of the code before issue 11, independently of the key map)."""
    old = OrderedDict()
    for key, value in state_dict.items():
        key = re.sub(r'\.layer_scale\.weight$', '.gamma', key)
        key = key.replace('.mlp.layers.0.0.', '.mlp.fc1.')
        key = key.replace('.mlp.layers.1.', '.mlp.fc2.')
        old[key] = value
    old._metadata = OrderedDict({'': dict(version=1)})
    return old


def _randomized(build):
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        for p in model.parameters():  # layer scales 1e-6 would hide MLPs
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize('name', sorted(BUILD))
def test_version_1_state_dict_loads_with_equal_outputs(name):
    build, shape = BUILD[name]
    model = _randomized(build)
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = model(x)
    state = model.state_dict()
    assert state._metadata['']['version'] == STATE_DICT_VERSION == 2
    old = to_version_1(state)
    renamed = [k for k in old if k not in state]
    assert renamed, 'the fixture must contain version-1 names'
    if name == 'v1':
        assert any(k.endswith('blocks.0.gamma') for k in renamed)
    assert any('.mlp.fc1.' in k for k in renamed)

    torch.manual_seed(1)
    fresh = build().eval()
    result = fresh.load_state_dict(old, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    with torch.no_grad():
        outs = fresh(x)
    for out, r in zip(outs, ref):
        torch.testing.assert_close(out, r, rtol=1e-6, atol=0)
    # the same names without any version (a plain dict) are version 1 too
    fresh2 = build().eval()
    fresh2.load_state_dict(dict(old), strict=True)
    for a, b in zip(fresh2.state_dict().values(), state.values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize('name', sorted(BUILD))
def test_version_1_checkpoint_through_pretrained_init(name, tmp_path):
    build, shape = BUILD[name]
    model = _randomized(build)
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = model(x)
    old = {f'backbone.{k}': v for k, v in to_version_1(
        model.state_dict()).items()}
    path = tmp_path / 'old.pth'
    torch.save(dict(state_dict=old, meta=dict()), path)

    torch.manual_seed(1)
    cls = type(model)
    fresh = cls(**{**_kwargs(name), 'init_cfg': dict(
        type='Pretrained', checkpoint=str(path))}).eval()
    fresh.init_weights()
    report = fresh.load_report
    assert report.missing == [] and report.unexpected == []
    with torch.no_grad():
        outs = fresh(x)
    for out, r in zip(outs, ref):
        torch.testing.assert_close(out, r, rtol=1e-6, atol=0)


def _kwargs(name):
    if name == 'v1':
        return dict(arch=V1_ARCH, out_norms=True)
    return dict(arch=TINY_V2, img_size=32, patch_size=8)


def test_upgrade_key_is_the_one_map():
    assert upgrade_key('columns.1.levels.2.blocks.0.gamma') == \
        'columns.1.levels.2.blocks.0.layer_scale.weight'
    assert upgrade_key('columns.0.levels.0.blocks.3.mlp.fc1.bias') == \
        'columns.0.levels.0.blocks.3.mlp.layers.0.0.bias'
    assert upgrade_key('columns.0.levels.0.blocks.3.mlp.fc2.weight') == \
        'columns.0.levels.0.blocks.3.mlp.layers.1.weight'
    # the column shortcut scales keep their name, as do current keys
    for key in ('columns.1.gamma2', 'columns.0.levels.0.blocks.3.mlp.'
                'layers.1.weight', 'pos_embed', 'stem.0.weight'):
        assert upgrade_key(key) == key
        assert upgrade_key(key, version=STATE_DICT_VERSION) == key
    # version-2 state dicts are not renamed
    assert upgrade_key('columns.1.levels.2.blocks.0.gamma',
                       version=2) == 'columns.1.levels.2.blocks.0.gamma'
