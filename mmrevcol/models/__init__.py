import importlib.util

from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .columns import RevColumn
from .reversible import ColumnStage, reconstruction_errors, run_columns

if importlib.util.find_spec('mmpretrain') is not None:
    # masked-image-modeling pre-training is an mmpretrain algorithm; the
    # backbones work without mmpretrain
    from .selfsup import RevColV2MIM, RevColV2PixelPredictor  # noqa: F401

__all__ = list(_backbones) + [
    'RevColumn', 'ColumnStage', 'run_columns', 'reconstruction_errors'
]
