"""Install metadata (setup.py, requirements/*.txt), the ``.mim`` package
data and :mod:`mmrevcol.resources`. The clean-venv wheel install itself is
checked by ``.dev_scripts/ci/wheel_check.sh``."""
import importlib.util
import os
import os.path as osp
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from mmrevcol import resources
from tests.helpers import ROOT, load_script

REPO = ROOT

#: Packages whose build depends on the machine: never installed by mmrevcol.
NOT_INSTALLED = {'torch', 'torchvision', 'mmcv', 'mmcv-full'}
DOWNSTREAM = {'mmdet', 'mmsegmentation', 'mmpretrain'}


@pytest.fixture(scope='module')
def setup_module_():
    """setup.py imported as a module: its ``setup()`` call only runs as
    ``__main__``."""
    spec = importlib.util.spec_from_file_location('mmrevcol_setup',
                                                  osp.join(REPO, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reqs(lines):
    return [Requirement(line) for line in lines]


def _pins():
    """name -> version of the verified stack (tools/bootstrap.sh files)."""
    pins = {}
    for name in ('runtime.txt', 'mmcv.txt'):
        with open(osp.join(REPO, 'requirements', name)) as f:
            for line in f:
                line = line.split('#')[0].strip()
                if '==' in line:
                    req = Requirement(line)
                    pins[req.name.lower()] = Version(
                        str(req.specifier).lstrip('='))
    return pins


def test_install_requires_are_ranges_without_torch_or_mmcv(setup_module_):
    reqs = _reqs(setup_module_.install_requires())
    names = {r.name.lower() for r in reqs}
    assert names >= {'mmengine', 'numpy'}
    assert not names & (NOT_INSTALLED | DOWNSTREAM | {'timm'})
    for req in reqs:
        assert not any(s.operator in ('==', '===') for s in req.specifier), \
            f'{req} is an exact pin'
    mmengine = next(r for r in reqs if r.name == 'mmengine')
    assert {s.operator for s in mmengine.specifier} == {'>=', '<'}


def test_extras(setup_module_):
    extras = {k: _reqs(v) for k, v in setup_module_.extras_require().items()}
    assert set(extras) == {'mmdet', 'mmseg', 'mmpretrain', 'all', 'tests',
                           'mim'}
    assert {r.name for r in extras['mmdet']} == {'mmdet'}
    assert {r.name for r in extras['mmseg']} == {'mmsegmentation', 'ftfy',
                                                 'regex'}
    assert {r.name for r in extras['mmpretrain']} == {'mmpretrain'}
    assert {str(r) for r in extras['all']} == {
        str(r) for key in ('mmdet', 'mmseg', 'mmpretrain')
        for r in extras[key]
    }
    assert 'pytest' in {r.name for r in extras['tests']}
    assert {r.name for r in extras['mim']} == {'torch', 'mmcv', 'mmengine'}


def test_verified_stack_satisfies_every_range(setup_module_):
    pins = _pins()
    assert {'torch', 'mmengine', 'mmdet', 'mmsegmentation', 'mmpretrain',
            'mmcv'} <= set(pins)
    extras = setup_module_.extras_require()
    ranges = _reqs(setup_module_.install_requires() +
                   [line for lines in extras.values() for line in lines])
    for req in ranges:
        version = pins.get(req.name.lower())
        if version is not None:
            assert req.specifier.contains(version, prereleases=True), \
                f'the verified {req.name} {version} is outside {req}'


def test_mminstall_matches_install_requires(setup_module_):
    mim = {r.name: r for r in _reqs(setup_module_.read_requirements(
        'mminstall.txt'))}
    install = {r.name: r for r in _reqs(setup_module_.install_requires())}
    assert set(mim) == {'torch', 'mmcv', 'mmengine'}
    assert str(mim['mmengine'].specifier) == \
        str(install['mmengine'].specifier)


@pytest.mark.parametrize('argv,kind', [('bdist_wheel', 'copy'),
                                       ('sdist', 'copy'),
                                       ('editable_wheel', 'symlink'),
                                       ('develop', 'symlink'),
                                       ('egg_info', None)])
def test_add_mim_extension(setup_module_, tmp_path, monkeypatch, argv, kind):
    (tmp_path / 'configs' / 'toy').mkdir(parents=True)
    (tmp_path / 'configs' / 'toy' / 'a.py').write_text('x = 1\n')
    (tmp_path / 'tools' / '__pycache__').mkdir(parents=True)
    (tmp_path / 'tools' / 'train.py').write_text('')
    (tmp_path / 'tools' / '__pycache__' / 'train.cpython-311.pyc').write_text(
        '')
    (tmp_path / 'model-index.yml').write_text('Import: []\n')
    (tmp_path / 'demo').mkdir()
    (tmp_path / 'demo' / 'toy_demo.py').write_text('')
    (tmp_path / 'mmrevcol').mkdir()
    monkeypatch.setattr(setup_module_, 'HERE', str(tmp_path))
    monkeypatch.setattr(sys, 'argv', ['setup.py', argv])
    for _ in range(2):  # a second build replaces what the first one left
        setup_module_.add_mim_extension()
    mim = tmp_path / 'mmrevcol' / '.mim'
    if kind is None:
        assert not mim.exists()
        return
    for name in ('configs', 'tools', 'demo', 'model-index.yml'):
        assert (mim / name).is_symlink() == (kind == 'symlink')
    assert (mim / 'configs' / 'toy' / 'a.py').read_text() == 'x = 1\n'
    assert (mim / 'model-index.yml').read_text() == 'Import: []\n'
    if kind == 'copy':
        assert not (mim / 'tools' / '__pycache__').exists()
    else:
        assert os.readlink(mim / 'configs') == osp.join('..', '..', 'configs')


def test_manifest_and_gitignore_cover_mim():
    with open(osp.join(REPO, 'MANIFEST.in')) as f:
        manifest = f.read()
    for line in ('include mmrevcol/.mim/model-index.yml',
                 'recursive-include mmrevcol/.mim/configs *.py *.yml *.md',
                 'recursive-include mmrevcol/.mim/demo *.py',
                 'recursive-include mmrevcol/.mim/tools *.py *.sh',
                 'include requirements/*.txt'):
        assert line in manifest
    with open(osp.join(REPO, '.gitignore')) as f:
        assert '/mmrevcol/.mim/' in f.read().split()


def test_resources_prefer_the_checkout():
    assert resources.resource_root() == REPO
    demo = load_script('demo/toy_demo.py')
    assert demo.DEFAULT_CONFIG == osp.join(REPO, 'configs', 'toy',
                                           'upernet_revcolv2_toy_ade20k.py')
    assert osp.isfile(resources.resource_path('model-index.yml',
                                              must_exist=True))


def test_resources_fall_back_to_mim(tmp_path, monkeypatch):
    site = tmp_path / 'site-packages'
    mim = site / 'mmrevcol' / '.mim'
    (mim / 'configs' / 'toy').mkdir(parents=True)
    (mim / 'model-index.yml').write_text('Import: []\n')
    (site / 'configs').mkdir()  # a stray folder of another package
    monkeypatch.setattr(resources, 'CHECKOUT_DIR', str(site))
    monkeypatch.setattr(resources, 'MIM_DIR', str(mim))
    assert resources.resource_root() == str(mim)
    assert resources.resource_path('configs', 'toy') == str(mim / 'configs' /
                                                            'toy')
    with pytest.raises(FileNotFoundError) as err:
        resources.resource_path('configs', 'x.py', must_exist=True)
    assert str(site) in str(err.value) and str(mim) in str(err.value)
