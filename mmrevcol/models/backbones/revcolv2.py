"""RevColV2 ("RevColV2: Exploring Disentangled Representations in Masked
Image Modeling", arXiv 2309.01005): isotropic ViT columns, bottom-up columns
followed by top-down columns, joined by reversible connections."""
import math
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from ...registry import register_everywhere
from ...utils import compat
from ..columns import (NUM_LEVELS, ORDERS, ColumnBackboneMixin, RevColumn,
                       reachable_levels)
from ..reversible import (ColumnStage, TokenBridge, check_keep_every,
                          compile_column_levels, run_columns)
from .layers import (DropPath, build_mlp, init_trunc_normal_,
                     window_partition, window_unpartition)


def resize_pos_embed(pos_embed: torch.Tensor, src_shape: Tuple[int, int],
                     dst_shape: Tuple[int, int]) -> torch.Tensor:
    """Bicubically resize a ``(1, H*W, C)`` position embedding.

    Args:
        pos_embed (Tensor): The embedding, ``(1, src_h * src_w, C)``.
        src_shape (tuple[int, int]): Its grid ``(src_h, src_w)``.
        dst_shape (tuple[int, int]): The wanted grid ``(dst_h, dst_w)``.

    Returns:
        Tensor: ``(1, dst_h * dst_w, C)``.
    """
    if tuple(src_shape) == tuple(dst_shape):
        return pos_embed
    if pos_embed.shape[1] != src_shape[0] * src_shape[1]:
        raise ValueError(f'pos_embed has {pos_embed.shape[1]} tokens, which '
                         f'does not match the grid {tuple(src_shape)}')
    c = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, *src_shape, c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(dst_shape), mode='bicubic',
                         align_corners=False).to(pos_embed.dtype)
    return grid.permute(0, 2, 3, 1).reshape(1, -1, c)


def _fused_ok(device_type: str) -> bool:
    """Whether the eager fast paths (GEMMs accumulating into the residual
    stream, in-place updates) may run: not under autocast (its GEMMs run in
    low precision, an in-place one would run in fp32) and not while dynamo
    traces (the compiler fuses on its own, and torch 2.1's inductor cannot
    lower an ``addmm`` onto a view)."""
    return not (compat.autocast_enabled(device_type) or compat.is_compiling())


class Attention(nn.Module):
    """Multi-head self-attention on ``(B, H, W, C)`` maps (or ``(B, N, C)``
    token sequences, global only), global or in non-overlapping windows
    (inputs padded to window multiples and unpadded afterwards, as ViTDet;
    unlike ViTDet the padded tokens are masked out of the attention).

    Args:
        embed_dims (int): Channels.
        num_heads (int): Heads.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        window_size (int): Window side; 0 means global attention.
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 window_size: int = 0):
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attend(x))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """The attention output before the ``proj`` projection, in the
        layout of ``x`` (windows merged back, padding dropped)."""
        if x.dim() == 3:  # (B, N, C) token sequence (masked pre-training)
            if self.window_size > 0:
                raise ValueError('window attention needs (B, H, W, C) maps; '
                                 'token sequences (masked pre-training) use '
                                 'global attention (window_size=0)')
            return self.attend(x.unsqueeze(1)).squeeze(1)
        B, H, W, C = x.shape
        mask = None
        if self.window_size > 0:
            x, pad_hw = window_partition(x, self.window_size)
            if pad_hw != (H, W):
                # padded tokens take no part in attention, so the result does
                # not depend on how far the input is from a window multiple
                valid = x.new_zeros(1, *pad_hw, 1, dtype=torch.bool)
                valid[:, :H, :W] = True
                valid, _ = window_partition(valid, self.window_size)
                mask = valid.reshape(1, -1, 1, 1, valid.shape[1] *
                                     valid.shape[2]).expand(B, -1, -1, -1,
                                                            -1)
                mask = mask.reshape(-1, 1, 1, mask.shape[-1])
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads,
                                  C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2],
                                             attn_mask=mask)
        out = out.transpose(1, 2).reshape(b, h, w, C)
        if self.window_size > 0:
            out = window_unpartition(out, self.window_size, pad_hw, (H, W))
        return out


class TransformerBlock(nn.Module):
    """Pre-LayerNorm ViT block (self-attention + MLP) on ``(B, H, W, C)``.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Heads.
        mlp_ratio (float): MLP hidden ratio.
        drop_path (float): Stochastic depth rate.
        window_size (int): 0 for global attention, else the window side.
        norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float,
                 drop_path: float = 0., window_size: int = 0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = Attention(embed_dims, num_heads, window_size=window_size)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.mlp = build_mlp(embed_dims, int(embed_dims * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """``inplace=True`` (only without grad, for an ``x`` the caller owns)
        accumulates both residual branches into ``x``."""
        x = self._residual(x, self.attn.attend(self.norm1(x)),
                           self.attn.proj, inplace)
        # mmcv's FFN as build_mlp makes it: Linear, GELU, (dropout 0),
        # Linear; without grad the GELU overwrites its input
        fc1, act = self.mlp.layers[0][0], self.mlp.layers[0][1]
        hidden = fc1(self.norm2(x))
        if inplace:
            hidden = torch.ops.aten.gelu_(hidden,
                                          approximate=act.approximate)
        else:
            hidden = act(hidden)
        return self._residual(x, hidden, self.mlp.layers[1], inplace)

    def _residual(self, x: torch.Tensor, h: torch.Tensor, linear: nn.Linear,
                  inplace: bool) -> torch.Tensor:
        """``x + drop_path(linear(h))``.

        With an active drop path, the per-sample keep mask is drawn exactly
        as mmcv's :func:`~mmcv.cnn.bricks.drop.drop_path` draws it, and
        scaled, masked and added in one ``addcmul`` pass (mmcv's takes a
        division, a product and the add). Otherwise (outside autocast,
        whose GEMMs run in low precision) the projection accumulates onto
        ``x`` in the GEMM (``addmm`` with ``beta=1``, then the bias): two
        passes over the output instead of a bias copy, a fresh branch tensor
        and an add. The same arithmetic runs with and without grad, so the
        reversible backward's recomputation reproduces the forward bit for
        bit.
        """
        drop = self.drop_path
        if drop.training and drop.drop_prob > 0:
            branch = linear(h)
            keep = 1 - drop.drop_prob
            scale = keep + torch.rand((branch.shape[0], ) +
                                      (1, ) * (branch.dim() - 1),
                                      dtype=branch.dtype, device=branch.device)
            scale = scale.floor_().div_(keep)
            if inplace:
                return x.addcmul_(branch, scale)
            return torch.addcmul(x, branch, scale)
        if not _fused_ok(x.device.type):
            branch = linear(h)
            return x.add_(branch) if inplace else x + branch
        c = x.shape[-1]
        h = h.reshape(-1, h.shape[-1])
        if inplace:
            out = x.view(-1, c).addmm_(h, linear.weight.t())
        else:
            out = torch.addmm(x.reshape(-1, c), h, linear.weight.t())
        if linear.bias is not None:
            out = out.add_(linear.bias)
        return out.view(x.shape)


class V2Level(nn.Module):
    """The level function ``F`` of RevColV2 (arXiv 2309.01005, sec. 2.2).

    Both inputs are LayerNorm-ed, the one from the previous column also goes
    through a Linear projection, they are summed and the level's ViT blocks
    run.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Heads.
        mlp_ratio (float): MLP ratio.
        drop_paths (list[float]): Stochastic depth rate of each block.
        prev_level (int | None): The previous-column level read, if any.
        window_sizes (list[int]): Window size of each block (0 = global).
        norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float,
                 drop_paths: Sequence[float], prev_level: Optional[int],
                 window_sizes: Sequence[int], norm_eps: float = 1e-6):
        super().__init__()
        self.prev_levels = () if prev_level is None else (prev_level, )
        self.norm_same = nn.LayerNorm(embed_dims, eps=norm_eps)
        if prev_level is not None:
            self.norm_prev = nn.LayerNorm(embed_dims, eps=norm_eps)
            self.proj_prev = nn.Linear(embed_dims, embed_dims)
        self.blocks = nn.ModuleList([
            TransformerBlock(embed_dims, num_heads, mlp_ratio, dp, ws,
                             norm_eps)
            for dp, ws in zip(drop_paths, window_sizes)
        ])

    def forward(self, same: torch.Tensor,
                prev: Optional[Sequence[Optional[torch.Tensor]]]
                ) -> torch.Tensor:
        if not self.prev_levels:
            x = self.norm_same(same)
        elif not _fused_ok(same.device.type):
            x = self.norm_same(same) + self.proj_prev(
                self.norm_prev(prev[self.prev_levels[0]]))
        else:
            # norm_same(same) + proj_prev(norm_prev(prev)) in two passes
            # instead of four: the projection's bias joins norm_same's and
            # the GEMM accumulates into the normalised tensor (LayerNorm's
            # backward does not need its output, so in place is safe)
            norm = self.norm_same
            x = F.layer_norm(same, norm.normalized_shape, norm.weight,
                             norm.bias + self.proj_prev.bias, norm.eps)
            other = self.norm_prev(prev[self.prev_levels[0]])
            c = x.shape[-1]
            x.view(-1, c).addmm_(other.reshape(-1, c),
                                 self.proj_prev.weight.t())
        # without grad, x is this level's own buffer (made above, never an
        # input): the blocks may accumulate into it
        inplace = not torch.is_grad_enabled() and not compat.is_compiling()
        for block in self.blocks:
            x = block(x, inplace)
        return x


@register_everywhere('MODELS')
class RevColV2(ColumnBackboneMixin, BaseModule):
    """RevColV2 backbone (RevColV2, arXiv 2309.01005).

    Patch tokens (16x16 patch embedding + learnable absolute position
    embedding) feed level 0 of every bottom-up (BU) column; BU level ``i``
    also reads level ``i + 1`` of the previous column. The top-down (TD)
    columns run levels 3 -> 0: level 3 reads the normalised top level of the
    last BU column plus a second position embedding (fed to every TD column),
    level ``i`` also reads level ``i - 1`` of the previous column; the first
    TD column's previous column is the last BU column, so the whole network
    is reversible (``x_i^l = F_i^l(...) + gamma_i^l * x_i^{l-1}``).

    Dense tasks get the four levels of the last TD column, each normalised
    and bilinearly resized from the token grid (stride ``patch_size``) to
    strides 4/8/16/32 (no FPN, no adapter); classification gets the pooled
    top level (``out_type='avg_featmap'``), in which case only the levels
    that can reach it are built.

    Choices where the paper is silent (also see the README):

    - shortcut scales ``gamma`` are per channel, initialised to 0.5 like
      RevCol's ``alpha`` and clamped to ``|gamma| >= 1e-3``;
    - the first BU column has no shortcut (its previous state is zero) and
      no inter-column branch;
    - stochastic depth grows linearly over the blocks of a column, the same
      schedule in every column (as RevCol V1);
    - layer-wise lr decay depths follow the data path: the top-down columns
      continue after the deepest bottom-up block (:meth:`get_layer_depth`);
    - window attention (``window_size > 0``, for detection) keeps global
      attention in the blocks listed by ``global_attn_indexes`` (indices
      inside a level; default the last block of each level, which for 3
      blocks per level is ViTDet's 2, 5, 8, 11); positions stay absolute and
      are interpolated to the input size, so MIM checkpoints load as they
      are.

    Args:
        arch (str | dict): ``'base'`` or ``'large'`` (paper Table 1), or a
            dict with exactly the keys ``embed_dims``, ``num_heads``,
            ``mlp_ratio`` (optional, default 4), ``bu_columns``, ``bu_depth``,
            ``td_columns``, ``td_depth`` (blocks per column, divisible by 4).
        img_size (int | tuple): Pre-training image size; sets the size of the
            position embeddings. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int]): Levels of the last TD column to output
            (0..3). Defaults to (0, 1, 2, 3).
        out_strides (Sequence[int]): Output stride of levels 0..3.
            Defaults to (4, 8, 16, 32).
        extra_strides (Sequence[int]): Extra coarser outputs made by resizing
            the top level (e.g. ``(64, )`` for five-level heads).
            Defaults to ().
        out_type (str): ``'featmap'`` (maps, default), ``'avg_featmap'``
            (pooled top level for classification; ``out_indices`` must then
            be ``(3, )``) or ``'masked'`` (masked-image-modeling
            pre-training, see :meth:`forward_masked`: every level is built,
            no output norms, plus a learnable ``mask_token``).
        mask_ratio (float): Fraction of patch tokens masked per sample with
            ``out_type='masked'``, in ``[0, 1)``. Defaults to 0.75 (RevColV2
            sec. 3.1.1, as MAE).
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        window_size (int): Window attention size; 0 (default) is global.
        global_attn_indexes (Sequence[int]): Block indices inside each level
            that keep global attention when ``window_size > 0``.
            Defaults to (-1, ).
        reversible (bool): Use the memory-saving reversible backward in
            training. Defaults to True.
        keep_states_every (int | None): Also keep the states of every
            ``k``-th column, so the reversible backward rebuilds at most
            ``k - 1`` columns in a row (rebuilding amplifies rounding, see
            :mod:`mmrevcol.models.reversible`). Defaults to 2; ``None``
            keeps only the last column (memory independent of depth).
        frozen_stages (int): -1 freezes nothing, 0 the embeddings, ``k > 0``
            the embeddings and the first ``k`` columns (and the top-down
            input ``td_norm``/``td_pos_embed`` once ``k`` reaches into the
            top-down columns). Defaults to -1.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        compile_levels (bool | dict): Compile every level function with
            :func:`torch.compile` (True: default options; a dict: its
            options, e.g. ``dict(backend='aot_eager')``), so the forward,
            the reversible backward's recomputation and evaluation all run
            compiled (see
            :func:`~mmrevcol.models.reversible.compile_column_levels`; on a
            torch without support a warning says why and they run eagerly).
            Defaults to False.
        init_cfg (dict, optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    """
    arch_zoo = {
        **dict.fromkeys(['b', 'base'], {
            'embed_dims': 416, 'num_heads': 13, 'mlp_ratio': 4,
            'bu_columns': 3, 'bu_depth': 12, 'td_columns': 3, 'td_depth': 4
        }),
        **dict.fromkeys(['l', 'large'], {
            'embed_dims': 672, 'num_heads': 12, 'mlp_ratio': 4,
            'bu_columns': 4, 'bu_depth': 12, 'td_columns': 4, 'td_depth': 4
        }),
    }
    arch_keys = ('embed_dims', 'num_heads', 'mlp_ratio', 'bu_columns',
                 'bu_depth', 'td_columns', 'td_depth')
    layer_depth_zero = ('patch_embed', 'pos_embed')
    no_weight_decay_extra = ('pos_embed', 'td_pos_embed', 'mask_token')
    OUT_TYPES = ('featmap', 'avg_featmap', 'masked')

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_strides: Sequence[int] = (4, 8, 16, 32),
                 extra_strides: Sequence[int] = (),
                 out_type: str = 'featmap',
                 mask_ratio: float = 0.75,
                 drop_path_rate: float = 0.,
                 window_size: int = 0,
                 global_attn_indexes: Sequence[int] = (-1, ),
                 reversible: bool = True,
                 keep_states_every: Optional[int] = 2,
                 frozen_stages: int = -1,
                 norm_eps: float = 1e-6,
                 compile_levels: Union[bool, dict] = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        s = self.arch_settings
        self.embed_dims = s['embed_dims']
        self.patch_size = self._check_int('patch_size', patch_size, 1)
        self.in_channels = self._check_int('in_channels', in_channels, 1)
        if isinstance(img_size, int) and not isinstance(img_size, bool):
            img_size = (img_size, img_size)
        if (not isinstance(img_size, (list, tuple)) or len(img_size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool)
                           and v >= patch_size for v in img_size)):
            raise ValueError(f'img_size must be an int or (h, w) pair of '
                             f'sizes >= patch_size {patch_size}, got '
                             f'{img_size!r}')
        self.pos_grid = (img_size[0] // patch_size, img_size[1] // patch_size)
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type must be one of {self.OUT_TYPES}, got '
                             f'{out_type!r}')
        self.out_type = out_type
        self.out_indices = self._check_out_indices(out_indices)
        if (isinstance(mask_ratio, bool)
                or not isinstance(mask_ratio, (int, float))
                or not 0 <= mask_ratio < 1):
            raise ValueError(f'mask_ratio must be a number in [0, 1) (the '
                             f'fraction of patch tokens masked), got '
                             f'{mask_ratio!r}')
        self.mask_ratio = float(mask_ratio)
        if out_type == 'masked' and not s['td_columns']:
            raise ValueError("out_type='masked' reconstructs from the last "
                             'top-down column: arch needs td_columns >= 1')
        if out_type == 'avg_featmap' and self.out_indices != (3, ):
            raise ValueError("out_type='avg_featmap' returns the pooled top "
                             f'level: out_indices must be (3,), got '
                             f'{tuple(out_indices)!r}')
        self.out_strides = self._check_positive_ints(
            'out_strides', out_strides, NUM_LEVELS)
        self.extra_strides = self._check_positive_ints(
            'extra_strides', extra_strides)
        if self.extra_strides and (out_type != 'featmap'
                                   or self.out_indices[-1] != 3):
            raise ValueError('extra_strides resize the top level: they need '
                             "out_type='featmap' and out_indices ending with "
                             f'3, got out_indices={tuple(out_indices)!r}')
        drop_path_rate = self._check_rate(
            'drop_path_rate', drop_path_rate, 'stochastic depth of the last '
            'block of a column')
        self.window_size = self._check_int('window_size', window_size, 0)
        if not isinstance(global_attn_indexes, (list, tuple)) or not all(
                isinstance(g, int) and not isinstance(g, bool)
                for g in global_attn_indexes):
            raise TypeError('global_attn_indexes must be a sequence of ints '
                            '(block indices inside a level), got '
                            f'{global_attn_indexes!r}')
        if (isinstance(norm_eps, bool)
                or not isinstance(norm_eps, (int, float)) or norm_eps <= 0):
            raise ValueError(f'norm_eps must be a number > 0 (the LayerNorm '
                             f'epsilon), got {norm_eps!r}')
        self.reversible = self._check_bool('reversible', reversible)
        self.keep_states_every = check_keep_every(keep_states_every)
        num_columns = s['bu_columns'] + s['td_columns']
        if (not isinstance(frozen_stages, int)
                or isinstance(frozen_stages, bool)
                or not -1 <= frozen_stages <= num_columns):
            raise ValueError(f'frozen_stages must be an int in [-1, '
                             f'{num_columns}] (the number of columns), got '
                             f'{frozen_stages!r}')
        self.frozen_stages = frozen_stages

        dims = self.embed_dims
        self.patch_embed = nn.Conv2d(in_channels, dims, patch_size,
                                     stride=patch_size)
        num_pos = self.pos_grid[0] * self.pos_grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_pos, dims))

        # Column layout: BU columns (up), then TD columns (down).
        directions = (['up'] * s['bu_columns'] + ['down'] * s['td_columns'])
        depths = ([s['bu_depth']] * s['bu_columns'] +
                  [s['td_depth']] * s['td_columns'])

        def prev_level(c, i):
            if c == 0 or (directions[c] == 'up' and i == 3) or (
                    directions[c] == 'down' and i == 0):
                return None
            return i + 1 if directions[c] == 'up' else i - 1

        want = {'avg_featmap': (3, ), 'masked': (0, 1, 2, 3)}.get(
            out_type, self.out_indices)
        stage_inputs = [(s['bu_columns'] - 1, 3)] if s['td_columns'] else []
        built = reachable_levels(
            directions,
            lambda c, i: () if prev_level(c, i) is None else
            (prev_level(c, i), ), want, stage_inputs)

        columns = []
        for c, (direction, depth) in enumerate(zip(directions, depths)):
            per_level = depth // NUM_LEVELS
            dprs = [drop_path_rate * k / max(depth - 1, 1)
                    for k in range(depth)]
            levels: List[Optional[nn.Module]] = [None] * NUM_LEVELS
            for pos, i in enumerate(ORDERS[direction]):
                if i not in built[c]:
                    continue
                ws = [self.window_size] * per_level
                for g in global_attn_indexes:
                    if not -per_level <= g < per_level:
                        raise ValueError(
                            f'global_attn_indexes entries index blocks '
                            f'inside a level of {per_level} blocks, got '
                            f'{tuple(global_attn_indexes)!r}')
                    ws[g] = 0
                levels[i] = V2Level(
                    dims, s['num_heads'], s['mlp_ratio'],
                    dprs[pos * per_level:(pos + 1) * per_level],
                    prev_level(c, i), ws, norm_eps)
            columns.append(
                RevColumn(levels, [dims] * NUM_LEVELS, direction,
                          first=(c == 0), channels_last=True))
        self.columns = nn.ModuleList(columns)
        self.num_bu_columns = s['bu_columns']

        if s['td_columns']:
            self.td_norm = nn.LayerNorm(dims, eps=norm_eps)
            self.td_pos_embed = nn.Parameter(torch.zeros(1, num_pos, dims))
        if out_type == 'masked':
            self.mask_token = nn.Parameter(torch.zeros(1, 1, dims))
        else:
            for i in self.out_indices:
                self.add_module(f'out_norm{i}',
                                nn.LayerNorm(dims, eps=norm_eps))

        self._init_params()
        self._register_load_state_dict_pre_hook(self._resize_pos_on_load)
        self._freeze_stages()
        self.compile_levels = compile_column_levels(
            self.columns, compile_levels)

    # ------------------------------------------------------------ arguments
    def _parse_arch(self, arch) -> Dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in self.arch_zoo:
                raise ValueError(f'arch {arch!r} is not one of '
                                 f'{sorted(set(self.arch_zoo))} (or a dict '
                                 f'with keys {self.arch_keys})')
            return dict(self.arch_zoo[key])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got '
                            f'{type(arch).__name__}')
        unknown = set(arch) - set(self.arch_keys)
        missing = set(self.arch_keys) - set(arch) - {'mlp_ratio'}
        if unknown or missing:
            raise ValueError(
                f'custom arch must have exactly the keys {self.arch_keys} '
                f'(mlp_ratio optional); unknown: {sorted(unknown)}, '
                f'missing: {sorted(missing)}')
        s = {'mlp_ratio': 4, **arch}
        for key in ('embed_dims', 'num_heads', 'bu_columns', 'bu_depth',
                    'td_depth'):
            self._check_int(f'arch[{key!r}]', s[key], 1)
        self._check_int("arch['td_columns']", s['td_columns'], 0)
        for key in ('bu_depth', 'td_depth'):
            if s[key] % NUM_LEVELS:
                raise ValueError(f'arch[{key!r}] must be divisible by '
                                 f'{NUM_LEVELS} (blocks are split evenly '
                                 f'over the levels), got {s[key]}')
        if s['embed_dims'] % s['num_heads']:
            raise ValueError(f"arch['embed_dims'] {s['embed_dims']} must be "
                             f"divisible by arch['num_heads'] "
                             f"{s['num_heads']}")
        ratio = s['mlp_ratio']
        if (isinstance(ratio, bool) or not isinstance(ratio, (int, float))
                or not ratio > 0):
            raise ValueError(f"arch['mlp_ratio'] must be > 0, got "
                             f"{s['mlp_ratio']}")
        return s

    def _frozen_stage_inputs(self) -> list:
        # the top-down input (td_norm, td_pos_embed) sits before the first
        # TD column: frozen with it, trainable while only BU columns are
        if self.frozen_stages > self.num_bu_columns and hasattr(
                self, 'td_norm'):
            return [self.td_norm, self.td_pos_embed]
        return []

    # ---------------------------------------------------------- layer decay
    @property
    def deepest_bu_depth(self) -> int:
        """``D``: the depth of the last block of the last bottom-up column."""
        s = self.arch_settings
        return s['bu_columns'] - 1 + s['bu_depth']

    def blocks_in_level(self, c: int, level: int) -> int:
        s = self.arch_settings
        depth = s['bu_depth'] if c < s['bu_columns'] else s['td_depth']
        return depth // NUM_LEVELS

    def column_base(self, c: int) -> int:
        nbu = self.arch_settings['bu_columns']
        return c if c < nbu else self.deepest_bu_depth + (c - nbu)

    def _extra_layer_depth(self, name: str) -> Optional[int]:
        if name.startswith(('td_norm', 'td_pos_embed', 'mask_token')):
            return self.deepest_bu_depth + 1
        return None

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth along the data path (our rule; the RevColV2 paper
        does not publish the one its decay rates were tuned for).

        - Bottom-up (BU) column ``c`` (0-based), block ``k`` in the column's
          order (level 0 first): ``c + k + 1`` (the RevCol V1 rule).
        - ``D = (bu_columns - 1) + bu_depth``, the deepest BU depth.
        - Top-down (TD) column ``t`` (0-based among TD columns), block ``p``
          in the TD order (level 3 first): ``D + t + p + 1``.
        - Embeddings 0; each level's fusion (norms, inter-column projection)
          and shortcut scale ``gamma`` the depth of the level's first block;
          ``td_norm``/``td_pos_embed`` ``D + 1``; output norms and everything
          outside the backbone ``num_layers - 1``, where ``num_layers`` is
          the deepest depth + 2, counted from the full arch.

        RevColV2-B (3 BU columns of 12 blocks, 3 TD columns of 4, ``D = 14``,
        ``num_layers = 22``)::

            column      levels (in order)   block depths
            BU 0        0, 1, 2, 3          1 .. 12
            BU 1        0, 1, 2, 3          2 .. 13
            BU 2        0, 1, 2, 3          3 .. 14
            td_norm, td_pos_embed           15
            TD 0        3, 2, 1, 0          15 .. 18
            TD 1        3, 2, 1, 0          16 .. 19
            TD 2        3, 2, 1, 0          17 .. 20
            out_norm*, heads                21

        So the lr grows toward the output along both halves: with decay
        ``r``, TD 2's level 0 (read by dense heads) gets ``r ** 1``.

        Args:
            param_name (str): The name of the parameter.
            prefix (str): The prefix of the backbone in ``param_name``.

        Returns:
            tuple[int, int]: The layer depth and the number of layers.
        """
        return super().get_layer_depth(param_name, prefix)

    # -------------------------------------------------------------- weights
    def _init_params(self):
        init_trunc_normal_(self, (nn.Linear, ))
        if self.pos_embed.is_meta:
            return  # built on the meta device: nothing to initialise
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        trunc_normal_(self.pos_embed, std=.02)
        if hasattr(self, 'td_pos_embed'):
            trunc_normal_(self.td_pos_embed, std=.02)
        if hasattr(self, 'mask_token'):
            nn.init.normal_(self.mask_token, std=.02)  # as MAE

    #: State-dict keys :meth:`_resize_pos_on_load` interpolates to this
    #: backbone's token grid (checkpoints of another input size load).
    KEYS_RESIZED_ON_LOAD = ('pos_embed', 'td_pos_embed')

    def _resize_pos_on_load(self, state_dict, prefix, *args, **kwargs):
        for name in ('pos_embed', 'td_pos_embed'):
            key = prefix + name
            if key not in state_dict or not hasattr(self, name):
                continue
            ckpt = state_dict[key]
            mine = getattr(self, name)
            if ckpt.shape == mine.shape:
                continue
            src = int(round(math.sqrt(ckpt.shape[1])))
            if src * src != ckpt.shape[1] or ckpt.shape[-1] != mine.shape[-1]:
                raise ValueError(
                    f'cannot resize {key} of shape {tuple(ckpt.shape)} to '
                    f'{tuple(mine.shape)}: only square token grids with '
                    f'{mine.shape[-1]} channels can be interpolated')
            state_dict[key] = resize_pos_embed(ckpt, (src, src),
                                               self.pos_grid)
            print_log(
                f'Resize {key} from {src}x{src} to '
                f'{self.pos_grid[0]}x{self.pos_grid[1]} tokens', 'current')

    # -------------------------------------------------------------- forward
    def _td_input(self, states):
        top = self.td_norm(states[3])
        h, w = top.shape[1:3]
        pos = resize_pos_embed(self.td_pos_embed, self.pos_grid, (h, w))
        return top + pos.reshape(1, h, w, -1)

    def stages(self, bridge: Optional[TokenBridge] = None,
               grid: Optional[Tuple[int, int]] = None) -> List[ColumnStage]:
        """The column stages run by the reversible engine; with ``bridge``
        (and the token ``grid``), those of masked pre-training."""
        nbu = self.num_bu_columns
        stages = [ColumnStage(self.columns[:nbu])]
        if len(self.columns) > nbu:
            if bridge is None:
                stages.append(ColumnStage(self.columns[nbu:],
                                          self._td_input))
            else:
                stages.append(ColumnStage(
                    self.columns[nbu:],
                    partial(self._td_input_masked, bridge=bridge, grid=grid),
                    bridge))
        return stages

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch-embed an image batch (padded to patch multiples) into
        ``(B, h, w, C)`` tokens with position embeddings."""
        p = self.patch_size
        self._check_images(x, p, f'one patch, patch_size={p}')
        H, W = x.shape[-2:]
        pad_h, pad_w = (-H) % p, (-W) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.patch_embed(x).permute(0, 2, 3, 1)
        h, w = x.shape[1:3]
        pos = resize_pos_embed(self.pos_embed, self.pos_grid, (h, w))
        # pos first: the sum takes pos's (contiguous, channels-last) layout,
        # so every column's LayerNorm reads the tokens without a copy
        return pos.reshape(1, h, w, -1) + x

    def _resize(self, feat: torch.Tensor, stride: int,
                image_hw: Tuple[int, int]) -> torch.Tensor:
        """Resize a ``(B, C, h, w)`` map from stride ``patch_size`` to
        ``stride`` and crop it to the unpadded image."""
        h, w = feat.shape[-2:]
        size = (math.ceil(h * self.patch_size / stride),
                math.ceil(w * self.patch_size / stride))
        if size != (h, w):
            feat = F.interpolate(feat, size=size, mode='bilinear',
                                 align_corners=False)
        out_h = math.ceil(image_hw[0] / stride)
        out_w = math.ceil(image_hw[1] / stride)
        return feat[..., :out_h, :out_w]

    def _td_input_masked(self, states, bridge: TokenBridge,
                         grid: Tuple[int, int]):
        """TD input of masked pre-training: the normalised top level of the
        visible tokens, ``mask_token`` at the masked positions, in image
        order, plus the TD position embedding: ``(B, N, C)``."""
        top = self.td_norm(states[3])
        b, _, c = top.shape
        full = self.mask_token.to(top.dtype).expand(b, bridge.num_tokens, c)
        full = full.scatter(1, bridge.ids_keep.unsqueeze(-1).expand_as(top),
                            top)
        return full + resize_pos_embed(self.td_pos_embed, self.pos_grid, grid)

    def random_masking(self, batch: int, num_tokens: int,
                       device: torch.device,
                       mask_ratio: Optional[float] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-sample random masking (as MAE), from the global torch
        generator so that seeded runs repeat.

        Returns:
            tuple: ``ids_keep`` ``(B, n)`` (the visible tokens, ``n = int(N *
            (1 - mask_ratio))``) and ``mask`` ``(B, N)`` (1 = masked) in image
            order.
        """
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        if not 0 <= ratio < 1:
            raise ValueError(f'mask_ratio must be in [0, 1), got {ratio!r}')
        num_keep = int(num_tokens * (1 - ratio))
        if num_keep < 1:
            raise ValueError(f'mask_ratio {ratio} leaves no visible token of '
                             f'the {num_tokens} patch tokens')
        noise = torch.rand(batch, num_tokens, device=device)
        ids_keep = torch.argsort(noise, dim=1)[:, :num_keep]
        mask = torch.ones(batch, num_tokens, device=device)
        mask.scatter_(1, ids_keep, 0.)
        return ids_keep, mask

    def forward_masked(self, x: torch.Tensor,
                       mask_ratio: Optional[float] = None
                       ) -> Tuple[Tuple[torch.Tensor, ...], torch.Tensor]:
        """Masked-image-modeling forward (RevColV2 sec. 2.2-2.3, 3.1.1).

        Position embeddings are added, then ``mask_ratio`` of the patch
        tokens are removed per sample (:meth:`random_masking`). The
        bottom-up columns run on the visible tokens only, as ``(B, n, C)``
        sequences with global attention. The top-down columns run on all
        ``N`` tokens: their input is :meth:`_td_input_masked`, and the
        reversible link from the last bottom-up column is a
        :class:`~mmrevcol.models.reversible.TokenBridge` (visible states
        scattered into the full grid with zeros at the masked positions),
        which the plain forward, the reversible backward and
        ``reconstruction_errors`` all use.

        Args:
            x (Tensor): Images ``(B, C, H, W)``, ``H`` and ``W`` multiples of
                ``patch_size``.
            mask_ratio (float, optional): Overrides ``self.mask_ratio``
                (e.g. 0 for features of the whole image).

        Returns:
            tuple: The four levels of the last top-down column, each
            ``(B, N, C)`` in image (row-major token) order, and the mask
            ``(B, N)``, 1 where the token was masked. The pixel loss reads
            level 0; level 3 is the place for a semantic target.
        """
        p = self.patch_size
        if x.dim() != 4 or x.shape[-2] % p or x.shape[-1] % p:
            raise ValueError(f'masked pre-training needs (B, '
                             f'{self.in_channels}, H, W) images with H and W multiples of '
                             f'patch_size {p} (no padded tokens), got shape '
                             f'{tuple(x.shape)}')
        tokens = self.embed(x)
        b, h, w, c = tokens.shape
        ids_keep, mask = self.random_masking(b, h * w, x.device, mask_ratio)
        bridge = TokenBridge(ids_keep, h * w)
        visible = torch.gather(tokens.reshape(b, h * w, c), 1,
                               ids_keep.unsqueeze(-1).expand(-1, -1, c))
        states = run_columns(self.stages(bridge, (h, w)), visible,
                             reversible=self.reversible and self.training,
                             keep_every=self.keep_states_every)
        return tuple(states), mask

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Dense levels (``'featmap'``), the pooled top level
        (``'avg_featmap'``) or :meth:`forward_masked` (``'masked'``)."""
        if self.training and torch.is_grad_enabled():
            self.check_weights_loaded()
        if self.out_type == 'masked':
            return self.forward_masked(x)
        tokens = self.embed(x)
        image_hw = tuple(x.shape[-2:])
        states = run_columns(self.stages(), tokens,
                             reversible=self.reversible and self.training,
                             keep_every=self.keep_states_every)
        if self.out_type == 'avg_featmap':
            top = self.out_norm3(states[3].mean(dim=(1, 2)))
            return (top, )
        outs = []
        for i in self.out_indices:
            feat = getattr(self, f'out_norm{i}')(states[i])
            feat = feat.permute(0, 3, 1, 2)
            # permuted tokens are channels-last in memory: hand the heads
            # plain NCHW tensors (mmcv ops such as RoIAlign assume them)
            outs.append(
                self._resize(feat, self.out_strides[i],
                             image_hw).contiguous())
        for stride in self.extra_strides:
            top = outs[self.out_indices.index(3)]
            size = (math.ceil(image_hw[0] / stride),
                    math.ceil(image_hw[1] / stride))
            outs.append(
                F.interpolate(top, size=size, mode='bilinear',
                              align_corners=False).contiguous())
        return tuple(outs)
