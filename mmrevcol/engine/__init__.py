from .checkpoint_compat import allow_mmengine_checkpoint_types
from .hooks import PretrainedWeightsCheckHook, ReversibleErrorHook
from .optimizers import RevColLayerDecayOptimWrapperConstructor

__all__ = [
    'allow_mmengine_checkpoint_types', 'RevColLayerDecayOptimWrapperConstructor',
    'ReversibleErrorHook', 'PretrainedWeightsCheckHook'
]
