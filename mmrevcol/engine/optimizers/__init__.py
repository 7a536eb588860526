"""Optimizer wrapper constructors for mmrevcol backbones."""
from .layer_decay import RevColLayerDecayOptimWrapperConstructor

__all__ = ['RevColLayerDecayOptimWrapperConstructor']
