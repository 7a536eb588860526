"""RevCol ("Reversible Column Networks", ICLR 2023, arXiv 2212.11696):
ConvNeXt columns joined by multi-level reversible connections."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import register_everywhere
from ..columns import NUM_LEVELS, ColumnBackboneMixin, RevColumn
from ..reversible import (ColumnStage, check_keep_every,
                          compile_column_levels, run_columns)
from .layers import (DropPath, LayerNorm2d, LayerScale, build_mlp,
                     init_trunc_normal_)

#: LayerNorm epsilon of every RevCol normalisation (official value).
NORM_EPS = 1e-6


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block on ``(B, C, H, W)`` maps (RevCol sec. 2.2.2).

    Depthwise ``k x k`` conv, LayerNorm, ``Linear(C, 4C)``, GELU,
    ``Linear(4C, C)`` (mmcv ``FFN``), per-channel layer scale (mmcv
    ``LayerScale``, ``layer_scale.weight``; ``gamma`` names the column
    shortcut scales), drop path (mmcv ``DropPath``), residual.

    Args:
        channels (int): Channels.
        kernel_size (int): Depthwise kernel size (odd). RevCol uses 3.
        drop_path (float): Stochastic depth rate of the block.
        layer_scale_init (float): Initial layer scale. Defaults to 1e-6.
    """

    def __init__(self, channels: int, kernel_size: int = 3,
                 drop_path: float = 0., layer_scale_init: float = 1e-6):
        super().__init__()
        self.depthwise_conv = nn.Conv2d(channels, channels, kernel_size,
                                        padding=(kernel_size - 1) // 2,
                                        groups=channels)
        self.norm = nn.LayerNorm(channels, eps=NORM_EPS)
        self.mlp = build_mlp(channels, 4 * channels)
        self.layer_scale = LayerScale(channels, scale=float(layer_scale_init))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise_conv(x).permute(0, 2, 3, 1)
        y = self.layer_scale(self.mlp(self.norm(y)))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class UpBranch(nn.Module):
    """``Linear`` + LayerNorm (channels last), then nearest upsampling to the
    target size (RevCol App. A, Fig. 5c).

    Args:
        in_channels (int): Channels of the coarser map.
        out_channels (int): Channels of the target level.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.proj = nn.Linear(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        x = self.norm(self.proj(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        # interpolate to the exact target size: odd sizes work (a fixed x2
        # factor would not match the floor-divided finer map).
        return F.interpolate(x, size=size, mode='nearest')


class RevColLevel(nn.Module):
    """The level function ``F_l`` of RevCol: fusion module + ConvNeXt blocks.

    ``F_l(same, prev) = blocks(down(same) + sum_k up_k(prev[k]))`` where
    ``down`` is ``Conv2d(k=2, s=2)`` + LayerNorm for ``l >= 1`` (identity for
    level 0, whose ``same`` is the stem output) and the up branches bring the
    previous column's coarser levels (``prev_levels``) to this resolution.
    The shortcut ``+ gamma_l * prev[l]`` is added by
    :class:`~mmrevcol.models.columns.RevColumn`.

    Args:
        level (int): Level index 0..3.
        channels (Sequence[int]): Channels of the four levels.
        depth (int): Number of ConvNeXt blocks.
        drop_paths (Sequence[float]): Stochastic depth rate of each block.
        kernel_size (int): Depthwise kernel size.
        prev_levels (Sequence[int]): Previous-column levels read (each gets
            an up branch; V1: ``(l + 1, )`` for ``l <= 2`` in non-first
            columns, RevCol-H level 0 ``(1, 3)``).
    """

    def __init__(self, level: int, channels: Sequence[int], depth: int,
                 drop_paths: Sequence[float], kernel_size: int,
                 prev_levels: Sequence[int] = ()):
        super().__init__()
        self.level = level
        self.prev_levels = tuple(prev_levels)
        if level > 0:
            self.down = nn.Sequential(
                nn.Conv2d(channels[level - 1], channels[level], 2, stride=2),
                LayerNorm2d(channels[level], eps=NORM_EPS))
        else:
            self.down = None
        # ``up`` reads level + 1, ``up2`` (RevCol-H level 0) reads level 3.
        for name, k in zip(('up', 'up2'), self.prev_levels):
            self.add_module(name, UpBranch(channels[k], channels[level]))
        self.blocks = nn.ModuleList([
            ConvNeXtBlock(channels[level], kernel_size, dp)
            for dp in drop_paths[:depth]
        ])

    def forward(self, same: torch.Tensor,
                prev: Optional[Sequence[Optional[torch.Tensor]]]
                ) -> torch.Tensor:
        x = same if self.down is None else self.down(same)
        size = tuple(x.shape[-2:])
        for name, k in zip(('up', 'up2'), self.prev_levels):
            x = x + getattr(self, name)(prev[k], size)
        for block in self.blocks:
            x = block(x)
        return x


@register_everywhere('MODELS')
class RevCol(ColumnBackboneMixin, BaseModule):
    """RevCol backbone (Reversible Column Networks, arXiv 2212.11696).

    A ConvNeXt-style stem (``Conv2d(k=4, s=4)`` + LayerNorm) feeds level 0 of
    every column. Each column has four levels at strides 4/8/16/32; level
    ``l`` of column ``j`` computes (RevCol eq. 3)::

        c_l^j = Level_l(fusion(c_{l-1}^j, c_{l+1}^{j-1}))
                + alpha_l^j * c_l^{j-1}

    with the fusion of App. A (down branch from the finer level of the same
    column, up branch from the coarser level of the previous column; the
    first column and level 3 have the down branch only). RevCol-H level 0
    also reads level 3 of the previous column. The shortcut scales ``alpha``
    (here ``columns.{j}.gamma{l}``) are per channel, start at 0.5 and are
    clamped to ``|alpha| >= 1e-3`` every forward; the first column has none
    (its previous state is zero). The outputs are the levels of the last
    column.

    Official checkpoints convert with
    ``tools/model_converters/revcol_converter.py`` (which can also pad the
    depthwise kernels, RevCol App. D.3.1).

    Args:
        arch (str | dict): ``'tiny'``, ``'small'``, ``'base'``, ``'large'``,
            ``'xlarge'``, ``'huge'`` (or ``'t'``, ``'s'``, ``'b'``, ``'l'``,
            ``'xl'``, ``'h'``), RevCol sec. 3, or a dict with the keys
            ``channels`` (4 ints), ``depths`` (4 ints: blocks per level)
            and ``num_columns`` (int), plus optionally ``fuse_top`` (bool,
            default False: level 0 also reads the previous column's level 3,
            as RevCol-H).
        kernel_size (int): Depthwise kernel size of the ConvNeXt blocks,
            odd. Defaults to 3 (RevCol sec. 2.2.2); use the converter to
            pad pre-trained kernels for larger sizes.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int]): Levels of the last column to output
            (0..3, strides 4/8/16/32). Defaults to (0, 1, 2, 3).
        drop_path_rate (float): Stochastic depth rate of the last block of a
            column; it grows linearly over the blocks of a column, the same
            schedule in every column. Defaults to 0.
        reversible (bool): Use the memory-saving reversible backward in
            training. Defaults to True.
        keep_states_every (int | None): Also keep the states of every
            ``k``-th column, so the reversible backward rebuilds at most
            ``k - 1`` columns in a row (rebuilding amplifies rounding, see
            :mod:`mmrevcol.models.reversible`). Defaults to 2; ``None``
            keeps only the last column (memory independent of depth).
        compile_levels (bool | dict): Compile every level function with
            :func:`torch.compile` (True: default options; a dict: its
            options, e.g. ``dict(backend='aot_eager')``), so the forward,
            the reversible backward's recomputation and evaluation all run
            compiled (see
            :func:`~mmrevcol.models.reversible.compile_column_levels`; on a
            torch without support a warning says why and they run eagerly).
            Defaults to False.
        out_norms (bool): Add a LayerNorm to each output. Off by default, as
            the official model (and official checkpoints have none).
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``k > 0`` the
            stem and the first ``k`` columns. Defaults to -1.
        init_cfg (dict | list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], {
            'channels': (64, 128, 256, 512), 'depths': (2, 2, 4, 2),
            'num_columns': 4, 'fuse_top': False}),
        **dict.fromkeys(['s', 'small'], {
            'channels': (64, 128, 256, 512), 'depths': (2, 2, 4, 2),
            'num_columns': 8, 'fuse_top': False}),
        **dict.fromkeys(['b', 'base'], {
            'channels': (72, 144, 288, 576), 'depths': (1, 1, 3, 2),
            'num_columns': 16, 'fuse_top': False}),
        **dict.fromkeys(['l', 'large'], {
            'channels': (128, 256, 512, 1024), 'depths': (1, 2, 6, 2),
            'num_columns': 8, 'fuse_top': False}),
        **dict.fromkeys(['xl', 'xlarge'], {
            'channels': (224, 448, 896, 1792), 'depths': (1, 2, 6, 2),
            'num_columns': 8, 'fuse_top': False}),
        **dict.fromkeys(['h', 'huge'], {
            'channels': (360, 720, 1440, 2880), 'depths': (1, 2, 6, 2),
            'num_columns': 8, 'fuse_top': True}),
    }
    #: Canonical names of the zoo entries (short aliases map onto them).
    arch_names = ('tiny', 'small', 'base', 'large', 'xlarge', 'huge')
    arch_keys = ('channels', 'depths', 'num_columns')
    layer_depth_zero = ('stem', )
    # official RevCol layer decay: alpha of column j at depth j + 1
    gamma_at_column_depth = True

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 kernel_size: int = 3,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.,
                 reversible: bool = True,
                 keep_states_every: Optional[int] = 2,
                 out_norms: bool = False,
                 frozen_stages: int = -1,
                 compile_levels: Union[bool, dict] = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self.parse_arch(arch)
        s = self.arch_settings
        self.channels: Tuple[int, ...] = s['channels']
        self.depths: Tuple[int, ...] = s['depths']
        self.num_columns: int = s['num_columns']
        self.fuse_top: bool = s['fuse_top']
        if (not isinstance(kernel_size, int) or isinstance(kernel_size, bool)
                or kernel_size < 1 or kernel_size % 2 == 0):
            raise ValueError(f'kernel_size must be an odd int >= 1 (the '
                             f'depthwise conv keeps the map size), got '
                             f'{kernel_size!r}')
        self.kernel_size = kernel_size
        self.in_channels = self._check_int('in_channels', in_channels, 1)
        self.out_indices = self._check_out_indices(out_indices)
        self.drop_path_rate = self._check_rate(
            'drop_path_rate', drop_path_rate, 'stochastic depth of the last '
            'block of a column')
        if (not isinstance(frozen_stages, int)
                or isinstance(frozen_stages, bool)
                or not -1 <= frozen_stages <= self.num_columns):
            raise ValueError(f'frozen_stages must be an int in [-1, '
                             f'{self.num_columns}] (-1: none, 0: stem, k: '
                             f'stem and the first k columns), got '
                             f'{frozen_stages!r}')
        self.frozen_stages = frozen_stages
        self.reversible = self._check_bool('reversible', reversible)
        self.keep_states_every = check_keep_every(keep_states_every)
        self.out_norms = self._check_bool('out_norms', out_norms)

        c = self.channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 4, stride=4),
            LayerNorm2d(c[0], eps=NORM_EPS))

        total = sum(self.depths)
        dprs = [self.drop_path_rate * k / max(total - 1, 1)
                for k in range(total)]
        columns = []
        for j in range(self.num_columns):
            levels = []
            start = 0
            for lvl in range(NUM_LEVELS):
                depth = self.depths[lvl]
                levels.append(
                    RevColLevel(lvl, c, depth, dprs[start:start + depth],
                                kernel_size, self.prev_levels(j, lvl)))
                start += depth
            columns.append(
                RevColumn(levels, c, direction='up', first=(j == 0),
                          channels_last=False, scale_init=0.5,
                          min_scale=1e-3))
        self.columns = nn.ModuleList(columns)
        if self.out_norms:
            for i in self.out_indices:
                self.add_module(f'out_norm{i}',
                                LayerNorm2d(c[i], eps=NORM_EPS))

        self._init_params()
        self._freeze_stages()
        self.compile_levels = compile_column_levels(
            self.columns, compile_levels)

    # ------------------------------------------------------------ arguments
    @classmethod
    def parse_arch(cls, arch) -> Dict:
        """Turn ``arch`` (a zoo name or a dict) into checked settings with
        the keys ``channels``, ``depths``, ``num_columns``, ``fuse_top``."""
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(
                    f'arch {arch!r} is not one of {list(cls.arch_names)} '
                    f'(or their initials t/s/b/l/xl/h, or a dict with keys '
                    f'{cls.arch_keys})')
            s = dict(cls.arch_zoo[key])
            s['channels'] = tuple(s['channels'])
            s['depths'] = tuple(s['depths'])
            return s
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got '
                            f'{type(arch).__name__}')
        unknown = set(arch) - set(cls.arch_keys) - {'fuse_top'}
        missing = set(cls.arch_keys) - set(arch)
        if unknown or missing:
            raise ValueError(
                f'custom arch must have exactly the keys {cls.arch_keys} '
                f'(fuse_top optional); unknown: {sorted(unknown)}, missing: '
                f'{sorted(missing)}')
        s = {}
        for key in ('channels', 'depths'):
            value = arch[key]
            if (not isinstance(value, (list, tuple))
                    or len(value) != NUM_LEVELS
                    or not all(isinstance(v, int) and not isinstance(v, bool)
                               and v >= 1 for v in value)):
                raise ValueError(f'arch[{key!r}] must be {NUM_LEVELS} ints '
                                 f'>= 1, one per level, got {value!r}')
            s[key] = tuple(value)
        s['num_columns'] = cls._check_int("arch['num_columns']",
                                          arch['num_columns'], 1)
        fuse_top = arch.get('fuse_top', False)
        if not isinstance(fuse_top, bool):
            raise ValueError(f"arch['fuse_top'] must be a bool, got "
                             f'{fuse_top!r}')
        s['fuse_top'] = fuse_top
        return s

    @classmethod
    def arch_name(cls, settings: Dict) -> Optional[str]:
        """The zoo name (``'tiny'`` ...) of parsed settings, or None."""
        for name in cls.arch_names:
            if cls.parse_arch(name) == settings:
                return name
        return None

    def prev_levels(self, column: int, level: int) -> Tuple[int, ...]:
        """Previous-column levels read by ``level`` of ``column``."""
        if column == 0 or level == NUM_LEVELS - 1:
            return ()
        if level == 0 and self.fuse_top:
            return (1, NUM_LEVELS - 1)
        return (level + 1, )

    # -------------------------------------------------------------- weights
    def _init_params(self):
        """Official initialisation: conv/linear weights truncated normal
        (std 0.02) with zero bias, LayerNorms (1, 0); layer scales 1e-6 and
        shortcut scales 0.5 are set by their modules."""
        init_trunc_normal_(self, (nn.Conv2d, nn.Linear))

    # -------------------------------------------------------------- forward
    def stages(self) -> List[ColumnStage]:
        """The column stages run by the reversible engine (one stage: every
        column reads the stem output)."""
        return [ColumnStage(self.columns)]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input and run the stem (the input of every column)."""
        self._check_images(x, 32, 'level 3 has stride 32')
        return self.stem(x)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the selected levels of the last column, ``(B, C_l, H_l,
        W_l)`` with ``H_0 = floor(H / 4)`` and ``H_l = floor(H_{l-1} / 2)``
        (strides 4/8/16/32 for sizes divisible by 32)."""
        if self.training and torch.is_grad_enabled():
            self.check_weights_loaded()
        stem = self.embed(x)
        states = run_columns(self.stages(), stem,
                             reversible=self.reversible and self.training,
                             keep_every=self.keep_states_every)
        outs = []
        for i in self.out_indices:
            feat = states[i]
            if self.out_norms:
                feat = getattr(self, f'out_norm{i}')(feat)
            outs.append(feat.contiguous())  # NCHW memory for mmcv ops
        return tuple(outs)
