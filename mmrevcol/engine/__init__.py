from .checkpoint_compat import allow_mmengine_checkpoint_types
from .hooks import ReversibleErrorHook
from .optimizers import RevColLayerDecayOptimWrapperConstructor

__all__ = [
    'allow_mmengine_checkpoint_types', 'RevColLayerDecayOptimWrapperConstructor',
    'ReversibleErrorHook'
]
