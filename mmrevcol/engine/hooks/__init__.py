from .reconstruction import ReversibleErrorHook

__all__ = ['ReversibleErrorHook']
