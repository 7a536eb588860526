from .revcol import RevCol
from .revcolv2 import RevColV2

__all__ = ['RevCol', 'RevColV2']
