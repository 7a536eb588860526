"""model-index.yml, the metafiles, measured complexity and the README table
(.dev_scripts/model_index.py, repository maintenance)."""
import os
import os.path as osp
import re
import shutil

import pytest
import torch.nn as nn
import torch.nn.functional as F
import yaml

from tests.helpers import ROOT, load_script

mi = load_script('.dev_scripts/model_index.py')

REPO = ROOT
TOY_CLS = osp.join(REPO, 'configs', 'toy', 'revcolv2_toy_imagenet.py')


def entry_of(config):
    for model in mi.all_models(mi.load_index(REPO)):
        if model['Config'] == config:
            return model
    raise AssertionError(f'{config} is not in the model index')


def load_tool():
    return mi


# --------------------------------------------------------------- the index


def test_every_config_is_listed_once():
    configs = mi.list_configs(REPO)
    assert 'configs/revcolv2/revcolv2-b_8xb128-100e_in1k.py' in configs
    assert not [c for c in configs if '/toy/' in c or '/_base_/' in c]
    listed = [m['Config'] for m in mi.all_models(mi.load_index(REPO))]
    assert sorted(set(configs) - set(listed)) == []  # a config not indexed
    assert sorted(set(listed) - set(configs)) == []  # an entry w/o config
    assert len(listed) == len(set(listed))


def test_index_and_readme_are_consistent():
    """Everything but the parameter re-count (see the next tests): listed
    configs, paper results, measured numbers present, README table equal to
    the rendering of the metafiles."""
    assert mi.check(REPO, params=False) == []


def test_metafiles_are_valid_for_the_model_index_library():
    import modelindex
    index = modelindex.load(osp.join(REPO, mi.MODEL_INDEX))
    index.check(silent=True)
    assert [e for e in index.collect_check_errors() if e['errors']] == []
    names = {osp.splitext(osp.basename(c))[0] for c in mi.list_configs(REPO)}
    assert {m.name for m in index.models} == names
    tasks = {'Image Classification', 'Semantic Segmentation',
             'Object Detection', 'Instance Segmentation'}
    for model in index.models:
        assert model.in_collection in ('RevCol', 'RevColV2')
        meta = model.metadata
        assert isinstance(meta.parameters, int) and meta.parameters > 1e7
        assert isinstance(meta.flops, int) and meta.flops > 1e9
        assert meta.training_data
        for result in model.results:
            assert result.task in tasks
            assert all(isinstance(v, float) for v in result.metrics.values())


@pytest.mark.parametrize('config', [
    'configs/revcolv2/revcolv2-b_8xb128-100e_in1k.py',
    'configs/revcolv2/revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py',
    'configs/revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py',
    'configs/revcol/revcol-t_upernet_8xb2-80k_ade20k-512x512.py',
])
def test_recorded_parameters_equal_a_fresh_count(config):
    recorded = entry_of(config)['Metadata']
    fresh = mi.measure_config(osp.join(REPO, config), flops=False)
    assert recorded['Parameters'] == fresh['Parameters']
    assert recorded['FLOPs Input'] == fresh['FLOPs Input']


def test_recorded_flops_match_the_papers():
    """Where a paper gives FLOPs (RevColV2, arXiv 2309.01005, Table 2;
    RevCol, arXiv 2212.11696, Tables 2 and 3), the measured ones agree: the
    FLOPs input rules and the detection proposal convention are the
    papers'."""
    compared = 0
    for model in mi.all_models(mi.load_index(REPO)):
        meta = model['Metadata']
        if 'Paper FLOPs' not in meta:
            continue
        paper = float(meta['Paper FLOPs'].rstrip('G')) * 1e9
        assert abs(meta['FLOPs'] - paper) / paper < 0.05, model['Name']
        compared += 1
    assert compared >= 12


def test_paper_sources_cite_papers_by_title_and_arxiv_id():
    """Sources name the paper and its arXiv id, never the file number of a
    paper in the project's folder of paper texts."""
    ids = {'RevCol': 'arXiv 2212.11696', 'RevColV2': 'arXiv 2309.01005'}
    for model in mi.all_models(mi.load_index(REPO)):
        source = model['Metadata']['Paper Source']
        assert not re.search(r'\b00[0-9]\b', source), source
        paper = model['In Collection']
        assert f'{paper} ({ids[paper]})' in source, source


def test_flops_input_follows_the_task_rules():
    cases = {
        'configs/revcolv2/revcolv2-b_8xb128-100e_in1k.py': (224, 224),
        'configs/revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py': (512, 2048),
        'configs/revcolv2/revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py': (640, 2560),
        'configs/revcol/revcol-b_in22k-pre_upernet_8xb2-80k_ade20k-640x640.py': (640, 2560),
        'configs/revcol/revcol-t_cascade-mask-rcnn_fpn_8xb2-3x_coco.py': (800, 1280),
        # no test pipeline (IN-22K has no validation split): the default
        'configs/revcolv2/revcolv2-b_32xb128-90e_in22k.py': (224, 224),
        'configs/revcolv2/revcolv2-b_in22k-pre_8xb64-30e_in1k-384px.py': (384, 384),
        'configs/revcolv2/revcolv2-b_in22k-pre_upernet_8xb2-160k_ade20k-640x640.py': (640, 2560),
    }
    for config, hw in cases.items():
        assert mi.flops_input_hw(mi.load_config(osp.join(REPO, config))) == hw


class _AttnClassifier(nn.Module):
    """4x4 patch conv + one self-attention (2 heads of 4 channels)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 4, stride=4, bias=False)

    def forward(self, inputs, mode='tensor'):
        x = self.proj(inputs).flatten(2).transpose(1, 2)  # (1, N, 8)
        q = x.reshape(1, -1, 2, 4).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q)


def test_flop_counter_counts_attention():
    flops = mi.measure_flops(_AttnClassifier(), 'classification', (16, 16))
    n = 16  # 4x4 tokens
    conv = n * 8 * 3 * 4 * 4
    attention = 2 * n * n * (4 + 4)  # q k^T and the weighted sum of v
    assert flops == conv + attention


def test_measure_config_counts_what_it_builds():
    cfg = mi.load_config(TOY_CLS)
    numbers = mi.measure_config(TOY_CLS)
    assert numbers['Parameters'] == mi.count_parameters(mi.build_model(cfg))
    assert numbers['FLOPs Input'] == [64, 64]
    # ~0.1 GFLOPs for the tiny arch at 64x64; FLOPs grow with the input
    assert 1e7 < numbers['FLOPs'] < 1e9
    model = mi.build_model(cfg)
    assert mi.measure_flops(model, 'classification', (128, 128)) > \
        3 * numbers['FLOPs']


def test_build_model_rejects_unknown_device():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'meta'"):
        mi.build_model(mi.load_config(TOY_CLS), 'cuda:7')


# ---------------------------------------------------------------- README


README = '''# title

intro

<!-- model-table:start -->
old table
<!-- model-table:end -->

## after
text
'''


def test_update_readme_rewrites_only_the_table(tmp_path):
    path = tmp_path / 'README.md'
    path.write_text(README)
    assert mi.update_readme(str(path), '| a | b |\n') is True
    text = path.read_text()
    assert text == README.replace('old table\n', '| a | b |\n')
    assert mi.readme_table(str(path)) == '| a | b |\n'
    assert mi.update_readme(str(path), '| a | b |') is False  # unchanged
    assert os.listdir(tmp_path) == ['README.md']  # no temporary files left


@pytest.mark.parametrize('bad', [
    README.replace('<!-- model-table:end -->\n', ''),
    README + '<!-- model-table:start -->\n',
    README.replace('<!-- model-table:start -->\nold table\n'
                   '<!-- model-table:end -->',
                   '<!-- model-table:end -->\n<!-- model-table:start -->'),
])
def test_update_readme_needs_one_pair_of_markers(tmp_path, bad):
    path = tmp_path / 'README.md'
    path.write_text(bad)
    with pytest.raises(ValueError, match='model-table:start'):
        mi.update_readme(str(path), 'x\n')
    assert path.read_text() == bad


def test_render_table_lists_every_model():
    metafiles = mi.load_index(REPO)
    table = mi.render_table(metafiles)
    for model in mi.all_models(metafiles):
        row = [line for line in table.splitlines()
               if line.startswith(f'| [{model["Name"]}]({model["Config"]})')]
        assert len(row) == 1
        params = model['Metadata']['Parameters'] / 1e6
        assert f'| {params:.1f}M |' in row[0]
        for result in model['Results']:
            for name, value in result['Metrics'].items():
                assert f'{name} {value}' in row[0]


# ------------------------------------------------------- drift detection


def fake_root(tmp_path):
    """A copy of the index and README with an empty file per listed config
    (enough for check(params=False))."""
    root = tmp_path / 'repo'
    (root / 'configs').mkdir(parents=True)
    shutil.copy(osp.join(REPO, mi.MODEL_INDEX), root / mi.MODEL_INDEX)
    for rel in mi.load_index(REPO):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(osp.join(REPO, rel), root / rel)
        readme = osp.join(osp.dirname(rel), 'README.md')
        shutil.copy(osp.join(REPO, readme), root / readme)
    shutil.copy(osp.join(REPO, 'README.md'), root / 'README.md')
    for model in mi.all_models(mi.load_index(REPO)):
        (root / model['Config']).write_text('')
    return root


def test_check_reports_configs_missing_from_the_index(tmp_path):
    root = fake_root(tmp_path)
    assert mi.check(str(root), params=False) == []
    new = root / 'configs' / 'revcolv2' / 'revcolv2-x_upernet_ade20k.py'
    new.write_text('')
    # neither a deprecated top-level alias nor a pre-training config
    (root / 'configs' / 'upernet_revcolv2_x_ade20k.py').write_text('')
    (root / 'configs' / 'revcolv2' / 'revcolv2-x_mim_in1k.py').write_text('')
    problems = mi.check(str(root), params=False)
    assert len(problems) == 1
    assert ('configs/revcolv2/revcolv2-x_upernet_ade20k.py is not listed'
            in problems[0])
    new.unlink()
    (root / 'configs' / 'revcolv2' / 'revcolv2-l_8xb128-50e_in1k.py').unlink()
    problems = mi.check(str(root), params=False)
    assert problems == [
        "configs/revcolv2/metafile.yml: model 'revcolv2-l_8xb128-50e_in1k': "
        'config configs/revcolv2/revcolv2-l_8xb128-50e_in1k.py does not exist'
    ]


def test_check_reports_stale_readme_and_missing_results(tmp_path):
    root = fake_root(tmp_path)
    readme = root / 'README.md'
    readme.write_text(readme.read_text().replace('84.7', '99.9'))
    assert any('model table differs' in p
               for p in mi.check(str(root), params=False))
    mi.update_readme(str(readme), mi.render_table(mi.load_index(str(root))))
    assert mi.check(str(root), params=False) == []
    family_readme = root / 'configs' / 'revcolv2' / 'README.md'
    family_readme.write_text(family_readme.read_text().replace('84.7', '9'))
    assert mi.check(str(root), params=False) == [
        f'{family_readme}: the model table differs from the metafiles; run '
        '.dev_scripts/model_index.py --update-readme']
    tool = load_tool()
    assert tool.main(['--update-readme', '--root', str(root)]) == 0
    assert mi.check(str(root), params=False) == []
    meta = root / 'configs' / 'revcolv2' / 'metafile.yml'
    content = yaml.safe_load(meta.read_text())
    content['Models'][0]['Results'] = []
    del content['Models'][1]['Metadata']['FLOPs']
    meta.write_text(mi.dump_metafile(content))
    problems = mi.check(str(root), params=False, readme='')
    assert len(problems) == 3
    assert 'has no paper Results' in problems[0]
    assert "'revcolv2-l_8xb128-50e_in1k' has no measured 'FLOPs'" in problems[1]
    # readme='' leaves out the repository README, not the family's
    assert problems[2].startswith(f'{family_readme}: the model table differs')


def test_update_metafiles_adds_and_refreshes_entries(tmp_path):
    root = tmp_path / 'repo'
    for folder in mi.CONFIG_DIRS:
        (root / folder).mkdir(parents=True)
    (root / mi.MODEL_INDEX).write_text(
        'Import:\n  - configs/revcolv2/metafile.yml\n'
        '  - configs/revcol/metafile.yml\n')
    for family, (name, rel) in mi.FAMILIES.items():
        (root / rel).write_text(f'Collections:\n- Name: {name}\nModels: []\n')
        (root / osp.dirname(rel) / 'README.md').write_text(
            f'{mi.TABLE_START}\n{mi.TABLE_END}\n')
    config = 'configs/revcolv2/tiny_revcolv2_cls.py'
    (root / config).write_text(f'_base_ = [{TOY_CLS!r}]\n')
    logs = []
    measured = mi.update_metafiles(str(root), log=logs.append)
    numbers = measured[config]
    assert any('add its paper result' in line for line in logs)
    content = yaml.safe_load((root / 'configs/revcolv2/metafile.yml')
                             .read_text())
    (model, ) = content['Models']
    assert model['Name'] == 'tiny_revcolv2_cls'
    assert model['In Collection'] == 'RevColV2' and model['Config'] == config
    assert model['Metadata']['Parameters'] == numbers['Parameters'] > 0
    assert model['Metadata']['FLOPs'] == numbers['FLOPs'] > 0
    assert model['Metadata']['Training Data'] == ['ImageNet-1k']
    mi.update_readme(str(root / 'configs/revcolv2/README.md'),
                     mi.render_table({'configs/revcolv2/metafile.yml': content},
                                     'configs/revcolv2'))
    mi.update_readme(str(root / 'configs/revcol/README.md'),
                     mi.render_table(
                         {'configs/revcol/metafile.yml': dict(
                             Collections=[dict(Name='RevCol')], Models=[])},
                         'configs/revcol'))
    problems = mi.check(str(root), readme='')
    assert len(problems) == 2 and 'Paper Source' in problems[0]
    # the paper result is added by hand and survives the next update
    meta_file = root / 'configs/revcolv2/metafile.yml'
    model['Metadata']['Paper Source'] = 'a test'
    model['Results'] = [dict(Task='Image Classification',
                             Dataset='ImageNet-1k',
                             Metrics={'Top 1 Accuracy': 50.0})]
    meta_file.write_text(mi.dump_metafile(content))
    assert mi.check(str(root), readme='') == [
        f'{root}/configs/revcolv2/README.md: the model table differs from the '
        'metafiles; run .dev_scripts/model_index.py --update-readme']
    mi.update_metafiles(str(root), flops=False, log=None)
    again = yaml.safe_load(meta_file.read_text())['Models'][0]
    assert again == model  # same model and input: the FLOPs stay
    # a parameter count that drifted is reported, and a params-only update
    # drops the FLOPs that no longer belong to the model
    model['Metadata']['Parameters'] = 1
    meta_file.write_text(mi.dump_metafile(content))
    assert any('metafile says 1 parameters' in p
               for p in mi.check(str(root), readme=''))
    mi.update_metafiles(str(root), flops=False, log=None)
    again = yaml.safe_load(meta_file.read_text())['Models'][0]
    assert again['Results'] == model['Results']
    assert again['Metadata']['Parameters'] == numbers['Parameters']
    assert 'FLOPs' not in again['Metadata']
    assert sorted(os.listdir(root / 'configs' / 'revcolv2')) == [
        'README.md', 'metafile.yml', 'tiny_revcolv2_cls.py'
    ]
    with pytest.raises(ValueError, match='not an indexed config'):
        mi.update_metafiles(str(root), configs=['configs/nope.py'])


# ------------------------------------------------------------------- CLI


def test_tool_check_and_usage_errors(tmp_path, capsys):
    tool = load_tool()
    root = fake_root(tmp_path)
    assert tool.main(['--check', '--no-params', '--root', str(root)]) == 0
    assert 'model index check: OK' in capsys.readouterr().out
    (root / 'configs' / 'revcolv2' / 'new_revcolv2_cfg.py').write_text('')
    assert tool.main(['--check', '--no-params', '--root', str(root)]) == 1
    out = capsys.readouterr().out
    assert 'configs/revcolv2/new_revcolv2_cfg.py is not listed' in out
    with pytest.raises(SystemExit) as err:
        tool.main([])
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        tool.main(['--check', '--no-flops'])
    assert '--no-flops' in capsys.readouterr().err


def test_tool_update_readme(tmp_path, capsys):
    tool = load_tool()
    root = fake_root(tmp_path)
    readme = root / 'README.md'
    before = readme.read_text()
    readme.write_text(before.replace('84.7', '99.9'))
    assert tool.main(['--update-readme', '--root', str(root)]) == 0
    assert readme.read_text() == before
    assert 'updated' in capsys.readouterr().out
