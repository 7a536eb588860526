from .reconstruction import ReversibleErrorHook
from .weights_check import PretrainedWeightsCheckHook

__all__ = ['ReversibleErrorHook', 'PretrainedWeightsCheckHook']
