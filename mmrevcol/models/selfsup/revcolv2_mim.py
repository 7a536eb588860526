"""Masked image modeling for RevColV2 (RevColV2: Exploring Disentangled
Representations in Masked Image Modeling, arXiv 2309.01005, sec. 2.2-2.3,
3.1.1, App. A, B.1), as an mmpretrain self-supervised algorithm.

The backbone (``RevColV2(out_type='masked')``) encodes the visible patches
with its bottom-up columns and decodes them, with mask tokens, with its
top-down columns; level 0 of the last top-down column goes through
:class:`RevColV2PixelPredictor` (LayerNorm + Linear to ``patch_size**2 *
3`` values per token) and mmpretrain's ``MAEPretrainHead`` computes the MSE
against per-patch normalised pixels on the masked patches only. The whole
autoencoder is the backbone that fine-tuning keeps; export it with
``tools/model_converters/revcolv2_mim_export.py``.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.selfsup import BaseSelfSupervisor

from ...registry import register_everywhere


@register_everywhere('MODELS')
class RevColV2PixelPredictor(BaseModule):
    """LayerNorm + Linear from level-0 tokens to pixel patches.

    Args:
        embed_dims (int): Channels of the tokens.
        patch_size (int): Patch size of the backbone.
        in_channels (int): Image channels. Defaults to 3.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        init_cfg (dict, optional): Defaults to Xavier-uniform Linear with
            zero bias, as MAE's prediction layer.
    """

    def __init__(self, embed_dims: int, patch_size: int,
                 in_channels: int = 3, norm_eps: float = 1e-6,
                 init_cfg=dict(type='Xavier', layer='Linear',
                               distribution='uniform', bias=0.)):
        super().__init__(init_cfg=init_cfg)
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.pred = nn.Linear(embed_dims, patch_size**2 * in_channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` tokens -> ``(B, N, patch_size**2 * in_channels)``."""
        return self.pred(self.norm(tokens))


@register_everywhere('MODELS')
class RevColV2MIM(BaseSelfSupervisor):
    """RevColV2 masked-image-modeling pre-training.

    ``backbone`` must be a ``RevColV2`` with ``out_type='masked'``, ``neck``
    a :class:`RevColV2PixelPredictor`, ``head`` an ``MAEPretrainHead``
    (``norm_pix=True``: per-patch normalised pixel targets, as MAE and the
    paper). The pixel loss reads level 0 of the last top-down column; the
    other levels are returned by the backbone too, the place for a second
    (semantic) target at level 3.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self.backbone, 'out_type', None) != 'masked':
            raise ValueError(
                "RevColV2MIM needs backbone=dict(type='RevColV2', "
                f"out_type='masked', ...), got "
                f'{type(self.backbone).__name__} with out_type='
                f'{getattr(self.backbone, "out_type", None)!r}')
        patch = getattr(self.head, 'patch_size', None)
        if patch != self.backbone.patch_size:
            raise ValueError(f'head.patch_size {patch} must equal the '
                             f'backbone patch_size '
                             f'{self.backbone.patch_size}')
        norm = getattr(self.neck, 'norm', None)
        width = getattr(norm, 'normalized_shape', (None, ))[0]
        if norm is not None and width != self.backbone.embed_dims:
            raise ValueError(
                f'neck.embed_dims {width} must equal the backbone '
                f'embed_dims {self.backbone.embed_dims} (the pixel predictor '
                f'reads the level-0 tokens)')
        pred = getattr(self.neck, 'pred', None)
        in_chans = getattr(self.backbone, 'in_channels', 3)
        if pred is not None and pred.out_features != patch**2 * in_chans:
            raise ValueError(
                f'neck.patch_size and neck.in_channels give '
                f'{pred.out_features} outputs per token, the backbone '
                f'patches need {patch}**2 * {in_chans} = '
                f'{patch**2 * in_chans}: set neck.patch_size={patch}')

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The four levels of the last top-down column, unmasked."""
        levels, _ = self.backbone.forward_masked(inputs, mask_ratio=0.)
        return levels

    def reconstruct(self, inputs: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Predicted pixel patches ``(B, N, p*p*3)`` (in the target's
        normalised space) and the mask ``(B, N)`` (1 = masked)."""
        levels, mask = self.backbone(inputs)
        return self.neck(levels[0]), mask

    def loss(self, inputs: torch.Tensor, data_samples: List,
             **kwargs) -> Dict[str, torch.Tensor]:
        pred, mask = self.reconstruct(inputs)
        return dict(loss=self.head.loss(pred, inputs, mask))
