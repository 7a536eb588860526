"""RevColV2 masked-image-modeling pre-training (needs mmpretrain)."""
from .revcolv2_mim import RevColV2MIM, RevColV2PixelPredictor

__all__ = ['RevColV2MIM', 'RevColV2PixelPredictor']
