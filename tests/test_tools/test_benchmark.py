"""tools/analysis_tools/benchmark.py: the side-by-side table, its JSON and
PNG, and ``skipped: <reason>`` rows for missing libraries (toy-sized
models, ``--tiny``)."""
import json
import sys

import pytest

import mmrevcol  # noqa: F401  (registered before libraries get hidden)
from tests.helpers import load_script


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis_tools/benchmark.py')


def test_tiny_run_table_json_png_and_skips(tool, tmp_path, monkeypatch,
                                           capsys):
    # hide mmseg and mmpretrain: importing them raises ImportError
    monkeypatch.setitem(sys.modules, 'mmseg', None)
    monkeypatch.setitem(sys.modules, 'mmpretrain', None)
    result = tool.main(['--tiny', '--out', str(tmp_path)])
    out = capsys.readouterr().out
    lines = {line.split('  ')[0].strip(): line for line in out.splitlines()}
    # one table: inference rows next to training rows, with ratios
    assert 'row' in lines and 'img/s' in lines['row']
    assert 'x ViT img/s' in lines['RevColV2-B cls']
    assert 'x ViT FLOP/s' in lines['RevColV2-B dense']
    for mode in ('rev', 'keep2'):
        assert 'x plain' in lines[f'RevColV2-B backbone {mode}']
    for mode in ('plain', 'rev', 'keep2'):
        assert ('skipped: mmseg is not importable'
                in lines[f'UperNet-RevColV2-B {mode}'])
        assert ('skipped: mmpretrain is not importable'
                in lines[f'RevColV2-B MIM {mode}'])

    with open(tmp_path / 'benchmark.json') as f:
        saved = json.load(f)
    assert {'profile', 'device', 'torch', 'precision', 'settings', 'rows',
            'table', 'chart'} <= set(saved)
    assert saved['profile'] == 'tiny' and saved['precision'] == 'fp32'
    assert saved['table'] in out
    rows = {r['name']: r for r in saved['rows']}
    assert rows == {r['name']: r for r in result['rows']}
    vit, v2 = rows['ViT-B/16'], rows['RevColV2-B cls']
    assert vit['img_s'] > 0 and vit['gmacs'] > 0
    assert v2['ratios']['vs_vit_img_s'] == pytest.approx(
        v2['img_s'] / vit['img_s'])
    assert v2['ratios']['vs_vit_flop_s'] == pytest.approx(
        v2['gmacs_s'] / vit['gmacs_s'])
    # dense mode builds all four levels: more work than the pooled top
    assert rows['RevColV2-B dense']['gmacs'] > v2['gmacs']
    plain, rev = (rows['RevColV2-B backbone plain'],
                  rows['RevColV2-B backbone rev'])
    assert plain['step_s'] > 0 and plain['peak_mb'] > 0
    assert rev['ratios']['time_vs_plain'] == pytest.approx(
        rev['step_s'] / plain['step_s'])
    assert rev['ratios']['mem_vs_plain'] == pytest.approx(
        rev['peak_mb'] / plain['peak_mb'])
    assert rows['UperNet-RevColV2-B rev']['skipped'].startswith(
        'mmseg is not importable')
    with open(tmp_path / 'benchmark.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('kind,img', [('seg', 64), ('mim', 64)])
def test_config_training_rows(tool, kind, img):
    """The UperNet and MIM rows' step (what a child process runs), on the
    toy configs."""
    from analysis_lib.side_by_side import run_train_row
    result = run_train_row(dict(kind=kind, device='cpu', tiny=True,
                                warmup=0, steps=1, compile=False, img=img,
                                batch=2, reversible=True, keep=2))
    assert result['step_s'] > 0 and result['warmup_s'] is None
    assert result['peak_mb'] >= 0


def test_bad_arguments(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(['--tiny', '--device', 'tpu'])
    assert ("device must be 'cpu' or 'cuda[:N]', got 'tpu'"
            in capsys.readouterr().err)
    from analysis_lib.side_by_side import run_benchmark
    with pytest.raises(ValueError, match="profile must be one of"):
        run_benchmark('huge')


@pytest.mark.parametrize('counter', ['mmengine', 'torch'])
def test_flops_count_the_in_place_projections(monkeypatch, counter):
    """Without grad RevColV2 accumulates projections with ``addmm_``; both
    counters count it as the ``addmm`` / ``linear`` it replaces (so the
    achieved FLOP/s are not inflated or deflated by the fast path)."""
    import torch
    from analysis_lib.side_by_side import count_macs

    from mmrevcol.models import RevColV2
    from mmrevcol.utils import compat
    from tests.helpers import TINY_V2
    if counter == 'torch':  # the fallback of a machine without mmengine
        monkeypatch.setitem(sys.modules, 'mmengine.analysis', None)
    torch.manual_seed(0)
    model = RevColV2(TINY_V2, img_size=64).eval()
    x = torch.randn(1, 3, 64, 64)
    fast, how = count_macs(model, x)
    assert how == counter
    # the path taken under autocast: plain Linear layers, no addmm_
    monkeypatch.setattr(compat, 'autocast_enabled', lambda device: True)
    plain, _ = count_macs(model, x)
    assert fast == plain > 0
