"""mmrevcol: Reversible Column Networks (RevCol, RevColV2) for OpenMMLab 2.0.

Importing the package registers its backbones, optimizer constructors and
hooks into the registries of every installed OpenMMLab library (mmengine,
mmdet, mmseg, mmpretrain), and allow-lists the types that mmengine's own
checkpoints contain for ``torch.load(weights_only=True)`` so that resuming
works on torch >= 2.6.
"""
from .version import __version__
from . import engine, models  # noqa: F401,E402  (registration)
from .engine import allow_mmengine_checkpoint_types  # noqa: E402

allow_mmengine_checkpoint_types()

__all__ = ['__version__', 'allow_mmengine_checkpoint_types']
