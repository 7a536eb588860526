from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .columns import RevColumn
from .reversible import ColumnStage, reconstruction_errors, run_columns

__all__ = list(_backbones) + [
    'RevColumn', 'ColumnStage', 'run_columns', 'reconstruction_errors'
]
