"""(lr, weight decay) of every parameter of every shipped config with a
paramwise optimizer stay what they were before the constructor rewrite
(issue 11): ``tests/data/layer_decay_pins.json.gz`` was written by
``.dev_scripts/make_layer_decay_pins.py`` from the code before it.

Pinned names are those of the state-dict version of that code (version 1);
they are mapped through the backbones' one key map
(:func:`mmrevcol.models.columns.upgrade_key`) to today's names."""
import importlib.util
import os.path as osp

import pytest

from mmrevcol.models.columns import upgrade_key
from tests.helpers import ROOT

SCRIPT = osp.join(ROOT, '.dev_scripts', 'make_layer_decay_pins.py')


def _pins_module():
    spec = importlib.util.spec_from_file_location('make_layer_decay_pins',
                                                  SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PINS = _pins_module()
CONFIGS = sorted(PINS.load_pins())


def _today(name: str) -> str:
    prefix = 'backbone.'
    if not name.startswith(prefix):
        return name
    return prefix + upgrade_key(name[len(prefix):], version=1)


def test_pins_cover_the_shipped_configs():
    # every config the pins were written from is still shipped
    assert len(CONFIGS) >= 30
    assert 'configs/toy/revcolv2_toy_imagenet.py' in CONFIGS
    for config in CONFIGS:
        assert osp.isfile(osp.join(ROOT, config)), config


@pytest.mark.parametrize('config', CONFIGS)
def test_lr_and_weight_decay_of_every_parameter(config):
    pinned = PINS.expand(PINS.load_pins()[config])
    expected = {_today(name): value for name, value in pinned.items()}
    assert len(expected) == len(pinned)
    problems = PINS.compare(expected, PINS.param_settings(config),
                            rel=1e-12)
    assert problems == [], '\n'.join(problems[:20])
