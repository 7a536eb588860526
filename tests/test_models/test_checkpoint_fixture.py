"""Checkpoints stay loadable: tiny RevCol / RevColV2 weights saved from main
at commit a68765b (.dev_scripts/make_backbones_fixture.py wrote them) must
load with no missing or unexpected key and give the same outputs."""
import os.path as osp

import pytest
import torch

from mmrevcol.models import RevCol, RevColV2
from mmrevcol.models.checkpoint import plan_backbone_load
from tests.helpers import ROOT

FIXTURE = osp.join(ROOT, 'tests', 'data',
                   'backbones_a68765b.pth')
V2_ARCH = dict(embed_dims=8, num_heads=2, mlp_ratio=2, bu_columns=2,
               bu_depth=4, td_columns=2, td_depth=4)
BUILD = {
    'v1': lambda: RevCol(dict(channels=[4, 8, 8, 8], depths=[1, 1, 1, 1],
                              num_columns=3), out_norms=True),
    'v2': lambda: RevColV2(V2_ARCH, img_size=32, patch_size=8),
    'v2_cls': lambda: RevColV2(V2_ARCH, img_size=32, patch_size=8,
                               out_type='avg_featmap', out_indices=(3, )),
}


@pytest.fixture(scope='module')
def saved():
    return torch.load(FIXTURE, map_location='cpu', weights_only=True)


@pytest.mark.parametrize('name', sorted(BUILD))
def test_old_checkpoint_loads_and_gives_the_same_outputs(saved, name):
    entry = saved[name]
    torch.manual_seed(123)  # different random init: the weights must load
    model = BUILD[name]().eval()
    _, report = plan_backbone_load(model, entry['state_dict'])
    assert report.missing == [] and report.unexpected == []
    assert report.new == []
    model.load_state_dict(entry['state_dict'], strict=True)
    with torch.no_grad():
        outs = model(entry['input'])
    assert len(outs) == len(entry['outputs'])
    for out, ref in zip(outs, entry['outputs']):
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
