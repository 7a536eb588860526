"""mmrevcol's registries: public registration into mmengine's root registries
(``type='RevColV2'`` from every scope, through the parent look-up) and into
mmrevcol's child registries (``type='mmrevcol.RevColV2'``); nothing written
into the mmdet / mmseg / mmpretrain registries."""
import importlib

import pytest
import torch.nn as nn
from mmengine import registry as mmengine_registry
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, init_default_scope

import mmrevcol
from mmrevcol import registry as mmrevcol_registry
from mmrevcol.engine import (ReversibleErrorHook,
                             RevColLayerDecayOptimWrapperConstructor)
from mmrevcol.registry import register_everywhere

from tests.helpers import TINY_V2

SCOPES = ('mmdet', 'mmseg', 'mmpretrain', 'mmengine')
REVCOL_V1 = dict(channels=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                 num_columns=1)


@pytest.fixture
def scope(request):
    """Run with ``request.param`` as the default scope, restoring the
    previous one after."""
    name = request.param
    previous = DefaultScope.get_current_instance()
    init_default_scope(name)
    yield name
    if previous is not None:
        init_default_scope(previous.scope_name)


def _types(name):
    return (name, f'mmrevcol.{name}')


@pytest.mark.parametrize('scope', SCOPES, indirect=True)
def test_backbones_build_from_every_scope(scope):
    own = importlib.import_module(f'{scope}.registry').MODELS
    for registry in (mmengine_registry.MODELS, own):
        for type_ in _types('RevColV2'):
            model = registry.build(dict(type=type_, arch=dict(TINY_V2)))
            assert type(model) is mmrevcol.models.RevColV2
        for type_ in _types('RevCol'):
            model = registry.build(dict(type=type_, arch=dict(REVCOL_V1)))
            assert type(model) is mmrevcol.models.RevCol
        assert registry.get('RevColV2') is mmrevcol.models.RevColV2
        assert registry.get('mmrevcol.RevColV2') is mmrevcol.models.RevColV2


@pytest.mark.parametrize('scope', SCOPES, indirect=True)
def test_hooks_build_from_every_scope(scope):
    own = importlib.import_module(f'{scope}.registry').HOOKS
    for registry in (mmengine_registry.HOOKS, own):
        for type_ in _types('ReversibleErrorHook'):
            hook = registry.build(dict(type=type_, interval=7))
            assert type(hook) is ReversibleErrorHook and hook.interval == 7


class _Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = mmrevcol.models.RevColV2(arch=dict(TINY_V2))
        self.head = nn.Linear(TINY_V2['embed_dims'], 3)


@pytest.mark.parametrize('scope', SCOPES, indirect=True)
def test_optimizer_constructor_builds_from_every_scope(scope):
    model = _Detector()
    for type_ in _types('RevColLayerDecayOptimWrapperConstructor'):
        wrapper = build_optim_wrapper(
            model,
            dict(optimizer=dict(type='AdamW', lr=1e-3),
                 constructor=type_,
                 paramwise_cfg=dict(layer_decay_rate=0.5)))
        scales = {g['lr_scale'] for g in wrapper.optimizer.param_groups}
        assert len(scales) > 2 and max(scales) == 1.0


def test_mmrevcol_default_scope():
    previous = DefaultScope.get_current_instance()
    init_default_scope('mmrevcol')
    try:
        model = mmengine_registry.MODELS.build(
            dict(type='RevColV2', arch=dict(TINY_V2)))
        assert type(model) is mmrevcol.models.RevColV2
        # mmengine's own modules stay reachable through the parent
        assert mmengine_registry.OPTIM_WRAPPER_CONSTRUCTORS.build(
            dict(type='DefaultOptimWrapperConstructor',
                 optim_wrapper_cfg=dict(optimizer=dict(type='SGD', lr=1))))
    finally:
        if previous is not None:
            init_default_scope(previous.scope_name)


def test_children_of_the_mmengine_roots():
    for kind in ('MODELS', 'HOOKS', 'OPTIM_WRAPPER_CONSTRUCTORS'):
        child = getattr(mmrevcol_registry, kind)
        root = getattr(mmengine_registry, kind)
        assert child.scope == 'mmrevcol' and child.parent is root
        assert root.children['mmrevcol'] is child
    assert mmrevcol_registry.MODELS.get('RevColV2') is \
        mmrevcol.models.RevColV2
    assert mmrevcol_registry.OPTIM_WRAPPER_CONSTRUCTORS.get(
        'RevColLayerDecayOptimWrapperConstructor') is \
        RevColLayerDecayOptimWrapperConstructor


def test_downstream_registries_are_not_written():
    for pkg in ('mmdet', 'mmseg', 'mmpretrain'):
        module = importlib.import_module(f'{pkg}.registry')
        for kind, name in (('MODELS', 'RevColV2'), ('MODELS', 'RevCol'),
                           ('HOOKS', 'ReversibleErrorHook'),
                           ('OPTIM_WRAPPER_CONSTRUCTORS',
                            'RevColLayerDecayOptimWrapperConstructor')):
            assert name not in getattr(module, kind).module_dict, (pkg, name)
    assert 'RevColV2' in mmengine_registry.MODELS.module_dict


def test_register_everywhere_is_public_and_checks_names():

    class _OnlyForThisTest(nn.Module):
        pass

    register_everywhere('MODELS')(_OnlyForThisTest)
    register_everywhere('MODELS')(_OnlyForThisTest)  # again: a no-op
    assert mmengine_registry.MODELS.get('_OnlyForThisTest') is \
        _OnlyForThisTest
    assert mmrevcol_registry.MODELS.get('_OnlyForThisTest') is \
        _OnlyForThisTest

    class RevCol:  # noqa: F811  (a used name, another class)
        pass

    with pytest.raises(KeyError, match="'RevCol' is already registered in "
                       'mmengine.MODELS by mmrevcol.models'):
        register_everywhere('MODELS')(RevCol)
    # refused before anything was registered
    assert mmrevcol_registry.MODELS.get('RevCol') is mmrevcol.models.RevCol
