"""Helpers shared by the package; :mod:`.compat` decides every torch-version
difference."""
from . import compat

__all__ = ['compat']
