"""Helpers shared by the package; :mod:`.compat` decides every torch-version
difference."""
from . import compat
from .io import atomic_write

__all__ = ['compat', 'atomic_write']
