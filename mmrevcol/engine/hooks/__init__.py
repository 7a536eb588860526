from .kill import KillAfterCheckpointHook
from .nonfinite import NonFiniteGuardHook, NonFiniteTrainingError
from .reconstruction import ReversibleErrorHook
from .rng_state import RngStateHook
from .weights_check import PretrainedWeightsCheckHook

__all__ = [
    'ReversibleErrorHook', 'PretrainedWeightsCheckHook', 'RngStateHook',
    'KillAfterCheckpointHook', 'NonFiniteGuardHook', 'NonFiniteTrainingError'
]
