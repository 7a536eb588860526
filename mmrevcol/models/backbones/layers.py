"""Small building blocks shared by the RevCol backbones.

Stochastic depth (:class:`~mmcv.cnn.bricks.DropPath`), the MLP
(:func:`build_mlp`, mmcv's ``FFN``) and the layer scale
(:class:`~mmcv.cnn.bricks.LayerScale`) are mmcv's; what mmcv and mmengine
lack is here: a channels-first LayerNorm and the window partition of the
masked window attention. Nothing is looked up in a registry by name, so a
foreign default scope cannot redirect them.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath, LayerScale
from mmcv.cnn.bricks.transformer import FFN

__all__ = ['DropPath', 'LayerScale', 'build_mlp', 'LayerNorm2d',
           'init_trunc_normal_', 'window_partition', 'window_unpartition']


def build_mlp(in_features: int, hidden_features: int) -> FFN:
    """Linear -> GELU -> Linear, as mmcv's :class:`~mmcv.cnn.bricks.
    transformer.FFN` without identity, dropout or layer scale (parameters
    ``layers.0.0.*`` and ``layers.1.*``).

    Args:
        in_features (int): Input (and output) channels.
        hidden_features (int): Hidden channels.
    """
    return FFN(embed_dims=in_features, feedforward_channels=hidden_features,
               num_fcs=2, act_cfg=dict(type=nn.GELU), ffn_drop=0.,
               add_identity=False)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, H, W)`` map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


def init_trunc_normal_(module: nn.Module, types=(nn.Linear, ),
                       std: float = .02) -> None:
    """Truncated-normal weights and zero biases for ``types``, (1, 0) for
    every LayerNorm (the ViT/ConvNeXt initialisation of both backbones)."""
    from mmengine.model.weight_init import trunc_normal_
    for m in module.modules():
        if any(p.is_meta for p in m.parameters(recurse=False)):
            continue  # built on the meta device: nothing to initialise
        if isinstance(m, types):
            trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def window_partition(x: torch.Tensor,
                     window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split ``(B, H, W, C)`` into ``(B * nW, ws, ws, C)`` windows, padding H
    and W with zeros up to multiples of ``window_size``.

    Returns:
        tuple: The windows and the padded ``(Hp, Wp)``.
    """
    B, H, W, C = x.shape
    pad_h, pad_w = (-H) % window_size, (-W) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window_size, window_size, Wp // window_size,
               window_size, C)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size,
                                                  window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int,
                       pad_hw: Tuple[int, int],
                       hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`, dropping the padding."""
    Hp, Wp = pad_hw
    H, W = hw
    C = windows.shape[-1]
    B = windows.shape[0] // ((Hp // window_size) * (Wp // window_size))
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size,
                     window_size, C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
    return x[:, :H, :W, :].contiguous()
