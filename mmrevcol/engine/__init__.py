from .checkpoint_compat import allow_mmengine_checkpoint_types
from .optimizers import RevColLayerDecayOptimWrapperConstructor

__all__ = [
    'allow_mmengine_checkpoint_types', 'RevColLayerDecayOptimWrapperConstructor'
]
