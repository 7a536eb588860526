from .checkpoint_compat import (allow_mmengine_checkpoint_types,
                                enable_safe_checkpoint_loading)
from .hooks import PretrainedWeightsCheckHook, ReversibleErrorHook
from .optimizers import RevColLayerDecayOptimWrapperConstructor

__all__ = [
    'allow_mmengine_checkpoint_types', 'enable_safe_checkpoint_loading',
    'RevColLayerDecayOptimWrapperConstructor',
    'ReversibleErrorHook', 'PretrainedWeightsCheckHook'
]
