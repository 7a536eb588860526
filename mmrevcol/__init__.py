"""mmrevcol: Reversible Column Networks (RevCol, RevColV2) for OpenMMLab 2.0.

Importing the package registers its backbones, optimizer constructors and
hooks, with mmengine's public ``register_module``, into mmengine's root
registries (found from the mmdet, mmseg, mmpretrain and mmengine scopes:
``type='RevColV2'``) and into mmrevcol's child registries
(``type='mmrevcol.RevColV2'``); see :mod:`mmrevcol.registry`. It does
nothing else. Weights-only loading of mmengine checkpoints is an explicit
call, :func:`mmrevcol.engine.enable_safe_checkpoint_loading`, which the tools
make.
"""
from .version import __version__
from . import engine, models  # noqa: F401,E402  (registration)
from .engine import (allow_mmengine_checkpoint_types,  # noqa: E402
                     enable_safe_checkpoint_loading)

__all__ = [
    '__version__', 'allow_mmengine_checkpoint_types',
    'enable_safe_checkpoint_loading'
]
