from .revcolv2 import RevColV2

__all__ = ['RevColV2']
