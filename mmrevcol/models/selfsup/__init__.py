"""RevColV2 masked-image-modeling pre-training (needs mmpretrain)."""
from .revcolv2_joint import (RevColV2FeaturePredictor, RevColV2JointMIM,
                             save_teacher_checkpoint)
from .revcolv2_mim import RevColV2MIM, RevColV2PixelPredictor

__all__ = [
    'RevColV2MIM', 'RevColV2PixelPredictor', 'RevColV2JointMIM',
    'RevColV2FeaturePredictor', 'save_teacher_checkpoint'
]
