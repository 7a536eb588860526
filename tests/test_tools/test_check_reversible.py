"""check_reconstruction / tools/analysis_tools/check_reversible.py: the
reconstruction error of a config's backbone with given weights."""
import os.path as osp

import pytest
import torch

from analysis_lib.complexity import dummy_data_batch, load_model
from analysis_lib.reversible_check import (check_reconstruction,
                                                format_reconstruction,
                                                load_backbone_weights)
from mmrevcol.models import reconstruction_errors

from tests.helpers import ROOT, run_tool

TOY_SEG = osp.join(ROOT, 'configs', 'toy', 'upernet_revcolv2_toy_ade20k.py')
V1_DET = osp.join(ROOT, 'configs', 'revcol', 'revcol-t_cascade-mask-rcnn_fpn_8xb2-3x_coco.py')


@pytest.fixture(scope='module')
def toy_weights(tmp_path_factory):
    """A toy UperNet's weights in three layouts, and the errors the utility
    gives for them directly."""
    torch.manual_seed(3)
    model, _ = load_model(TOY_SEG)
    root = tmp_path_factory.mktemp('ckpt')
    whole = {'state_dict': model.state_dict(), 'meta': {}}
    torch.save(whole, root / 'whole.pth')
    backbone = {f'backbone.{k}': v
                for k, v in model.backbone.state_dict().items()}
    torch.save({'state_dict': backbone}, root / 'converted.pth')
    torch.save(model.backbone.state_dict(), root / 'raw.pth')
    partial = dict(model.backbone.state_dict())
    partial.pop('patch_embed.weight')
    torch.save(partial, root / 'partial.pth')
    inputs = model.data_preprocessor(dummy_data_batch('mmseg', 128),
                                     False)['inputs']
    with torch.no_grad():
        expected = reconstruction_errors(model.backbone.stages(),
                                         model.backbone.embed(inputs))
    return root, expected


@pytest.mark.parametrize('name', ['whole.pth', 'converted.pth', 'raw.pth'])
def test_checkpoint_layouts_give_the_utility_numbers(toy_weights, name):
    root, expected = toy_weights
    rows, note = check_reconstruction(TOY_SEG, str(root / name), shape=128,
                                      keep_every=(None, 1, 2),
                                      precisions=('fp32', ))
    assert [(r.precision, r.keep_every) for r in rows] == [
        ('fp32', None), ('fp32', 1), ('fp32', 2)]
    assert rows[0].errors == pytest.approx(expected, rel=1e-5)
    assert rows[1].errors == [0.0, 0.0, 0.0]  # every column kept
    # 4 columns, keep 2: column 1 kept, 0 and 2 rebuilt from exact states
    assert rows[2].errors[1] == 0.0 and rows[2].errors[2] == rows[0].errors[2]
    assert 0 < rows[2].worst < rows[0].worst
    assert 'loaded' in note and str(root / name) in note
    if name == 'whole.pth':
        assert 'non-backbone' in note and not note.startswith(
            'loaded 0 ')


def test_low_precision_rows_and_table(toy_weights):
    root, _ = toy_weights
    rows, _ = check_reconstruction(TOY_SEG, str(root / 'raw.pth'), shape=128,
                                   keep_every=(None, ),
                                   precisions=('fp32', 'bf16', 'fp16'))
    fp32, bf16, fp16 = (r.worst for r in rows)
    # both 16-bit autocasts rebuild far worse than fp32 (24 mantissa bits).
    # bf16 (8 bits) vs fp16 (11) is not ordered on every CPU build: the
    # fp16 CPU kernels of torch 2.13 (cu130 wheel) measured 1.4e-3 against
    # 1.1e-3 for bf16 on these weights
    assert min(bf16, fp16) > 10 * fp32 > 0
    table = format_reconstruction(rows).splitlines()
    assert table[0].split()[:3] == ['precision', 'keep', 'worst']
    assert table[2].split()[:2] == ['bf16', 'None']
    assert float(table[2].split()[2]) == pytest.approx(bf16, rel=1e-2)


def test_a_checkpoint_that_does_not_fit_is_refused(toy_weights):
    root, _ = toy_weights
    with pytest.raises(KeyError, match=r'Missing backbone keys \(1\): '
                       r'patch_embed \(1\); e.g. patch_embed.weight'):
        check_reconstruction(TOY_SEG, str(root / 'partial.pth'), shape=64)


@pytest.mark.parametrize('kwargs,match', [
    (dict(precisions=('fp8', )), "precisions must be among .*'fp8'"),
    (dict(keep_every=(0, )), 'keep_states_every must be None'),
    (dict(num_batches=0), 'num_batches must be an int >= 1, got 0'),
])
def test_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_reconstruction(TOY_SEG, **kwargs)


def test_v1_detector_config_with_a_converted_backbone(tmp_path):
    """The V1 case the tool is for: a converter-style backbone file for a
    Cascade Mask R-CNN config (RevCol-T, 4 columns)."""
    torch.manual_seed(0)
    model, _ = load_model(V1_DET)
    state = {f'backbone.{k}': v
             for k, v in model.backbone.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {}}, tmp_path / 'revcol_t.pth')
    torch.save(torch.zeros(3), tmp_path / 'tensor.pth')
    with pytest.raises(ValueError, match='not a dict'):
        load_backbone_weights(model.backbone, str(tmp_path / 'tensor.pth'))
    rows, note = check_reconstruction(V1_DET, str(tmp_path / 'revcol_t.pth'),
                                      shape=64, keep_every=(None, 2),
                                      precisions=('fp32', ))
    assert len(rows[0].errors) == 3 and rows[0].worst < 1e-3
    assert rows[1].errors[1] == 0.0
    assert note.startswith(f'loaded {len(state)} backbone entries')


def test_cli(toy_weights):
    root, expected = toy_weights
    proc = run_tool(osp.join('analysis_tools', 'check_reversible.py'),
                    TOY_SEG, str(root / 'raw.pth'), '--shape', '128',
                    '--keep-states-every', 'none', '2', '--precisions',
                    'fp32', env=dict(OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith('precision'))
    assert lines[head - 1].startswith('loaded ')
    assert lines[head + 1].split()[:2] == ['fp32', 'None']
    assert float(lines[head + 1].split()[2]) == pytest.approx(
        max(expected), rel=1e-2)
    assert lines[head + 2].split()[:2] == ['fp32', '2']
    bad = run_tool(osp.join('analysis_tools', 'check_reversible.py'),
                   TOY_SEG, '--keep-states-every', '0')
    assert bad.returncode == 2
    assert "must be 'none' or an int >= 1, got '0'" in bad.stderr
