"""Joint pre-training of RevColV2: pixels at the bottom level, the features
of a frozen teacher at the top level (RevColV2: Exploring Disentangled
Representations in Masked Image Modeling, arXiv 2309.01005, sec. 2.3
"Joint Pre-training" and sec. 3.2, Table 5).

The paper keeps the masked-pixel MSE at level 0 of the last top-down column
(:class:`~mmrevcol.models.selfsup.RevColV2MIM`) and adds, at the top level
(level 3) of the same column, a cosine-similarity loss against the features
of a frozen CLIP teacher (OpenCLIP-L) on the masked tokens. What the paper
does not say is chosen here (and in the README):

- **Teacher.** Any mmpretrain backbone built from ``teacher=dict(...)``
  through mmpretrain's ``MODELS`` registry (a CLIP vision tower is an
  mmpretrain ``VisionTransformer`` with ``pre_norm=True``), loaded from its
  own ``teacher_ckpt``. It sees the whole (unmasked) image, normalised with
  its own ``teacher_norm`` when given; its last output is the target.
- **Tokens.** A ``(B, C, h, w)`` output (``out_type='featmap'``, the
  recommended setting) is the grid; a ``(B, L, C)`` output
  (``out_type='raw'``) loses its first ``teacher.num_extra_tokens`` tokens
  (the CLS token of an mmpretrain ViT; 0 when the teacher has no such
  attribute) and the rest must form a grid with the student's aspect
  ratio. A ``(B, C)`` output (``'cls_token'``, ``'avg_featmap'``) is an
  error.
- **Grids.** The teacher grid is resampled to the student's level-3 grid
  by bilinear interpolation of the 2-D map (``align_corners=False``: both
  grids are taken to cover the whole image, which holds when the image
  size is a multiple of both patch sizes, e.g. 224 = 16 x 14 = 14 x 16 for
  a /14 CLIP teacher and a /16 student). The two grids must have the same
  aspect ratio; anything else is an error.
- **Projection.** :class:`RevColV2FeaturePredictor`, LayerNorm + one
  Linear from the level-3 width to the teacher width, the same form as the
  pixel predictor and as the linear heads of the mask-distillation methods
  the paper follows (MaskDistill, EVA-02): a deeper head would take over
  part of the mapping to the teacher that the backbone's top level, which
  fine-tuning keeps, should carry itself. It is not exported.
- **Loss.** ``1 - cos(prediction, target)`` per token, averaged over the
  masked tokens only (mmpretrain's ``CosineSimilarityLoss`` with
  ``shift_factor=1``); cosine ignores the teacher's feature scale, so the
  target is not normalised further.
- **Weights.** ``pixel_loss_weight=1`` and ``feature_loss_weight=1``: the
  paper adds the cosine loss to the kept pixel loss without a weight, and
  both terms start near 1 (normalised-pixel MSE of an untrained predictor,
  one minus the cosine of unrelated vectors), so the plain sum gives them
  the same say. Both are logged separately (``loss_pixel``,
  ``loss_feature``, already weighted) and their sum is optimised.

The frozen teacher is kept out of the student's module tree: it is stored
in the instance ``__dict__`` (not in ``_modules``), so it is in neither
``state_dict()`` (checkpoints, resumes, ``load_from``, the export), nor
``parameters()`` (optimizer, DDP), nor ``train()``/``init_weights()``;
:meth:`RevColV2JointMIM._apply` forwards ``.to()``, ``.cuda()``,
``.half()`` ... to it. It runs under ``torch.no_grad()`` and inherits the
autocast state of the step (``AmpOptimWrapper`` wraps the whole loss).
"""
import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope

from ...registry import register_everywhere
from ..checkpoint import CheckpointKeyError, read_backbone_state_dict
from .revcolv2_mim import RevColV2MIM


@register_everywhere('MODELS')
class RevColV2FeaturePredictor(BaseModule):
    """LayerNorm + Linear from level-3 tokens to the teacher's width.

    Args:
        embed_dims (int): Channels of the student's level-3 tokens.
        out_channels (int): Channels of the teacher's features
            (:class:`RevColV2JointMIM` fills it in from the teacher's
            ``embed_dims`` when its ``feature_predictor`` leaves it out).
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        init_cfg (dict, optional): Defaults to Xavier-uniform Linear with
            zero bias, as the pixel predictor.
    """

    def __init__(self, embed_dims: int, out_channels: int,
                 norm_eps: float = 1e-6,
                 init_cfg=dict(type='Xavier', layer='Linear',
                               distribution='uniform', bias=0.)):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('embed_dims', embed_dims),
                            ('out_channels', out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'{name} must be a positive int, got '
                                 f'{value!r}')
        self.embed_dims = embed_dims
        self.out_channels = out_channels
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.pred = nn.Linear(embed_dims, out_channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, embed_dims)`` -> ``(B, N, out_channels)``."""
        return self.pred(self.norm(tokens))


def _positive_weight(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f'{name} must be a finite number >= 0, got '
                         f'{value!r}')
    return float(value)


def _channel_stats(name: str, value) -> torch.Tensor:
    if (not isinstance(value, (list, tuple)) or len(value) not in (1, 3)
            or not all(isinstance(v, (int, float))
                       and not isinstance(v, bool) for v in value)):
        raise ValueError(f'teacher_norm.{name} must be a list of 1 or 3 '
                         f'numbers (0-255 pixel scale, as the data '
                         f'preprocessor), got {value!r}')
    return torch.tensor([float(v) for v in value]).view(-1, 1, 1)


def _describe_keys(keys: Sequence[str], limit: int = 10) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:limit])
    return shown + (f' ... ({len(keys) - limit} more)'
                    if len(keys) > limit else '')


@register_everywhere('MODELS')
class RevColV2JointMIM(RevColV2MIM):
    """RevColV2 joint pre-training: masked pixels at level 0 and the
    features of a frozen teacher at level 3 of the last top-down column.

    Args:
        backbone (dict): ``RevColV2`` with ``out_type='masked'`` and a
            ``mask_ratio`` > 0.
        neck (dict): :class:`RevColV2PixelPredictor` (level 0 -> pixels).
        head (dict): ``MAEPretrainHead`` (the pixel loss).
        teacher (dict): Config of the teacher, built with mmpretrain's
            ``MODELS`` (e.g. ``dict(type='VisionTransformer', arch='large',
            patch_size=14, pre_norm=True, out_type='featmap')`` for a CLIP
            ViT-L/14 vision tower). Its forward takes the images and returns
            a tensor or a tuple of tensors (the last is used).
        teacher_ckpt (str): The teacher's weights (a whole-model file with
            the teacher under ``teacher_ckpt_prefix``, or the teacher's own
            state dict). Required: ``None`` raises with the
            ``--cfg-options`` to give it. Loaded strictly: a missing or
            unexpected key is an error naming the keys.
        teacher_ckpt_prefix (str): Prefix of the teacher's keys in a
            whole-model file. Defaults to ``'backbone.'`` (mmpretrain
            classifiers and its CLIP converters).
        teacher_norm (dict, optional): ``dict(mean=[...], std=[...])`` of
            the teacher's input normalisation, in 0-255 pixel units like the
            data preprocessor's; the student's inputs are un-normalised with
            the data preprocessor's ``mean``/``std`` and normalised with
            these. ``None`` (default) gives the teacher the student's inputs.
        feature_predictor (dict): The projection; defaults to
            :class:`RevColV2FeaturePredictor` with ``embed_dims`` of the
            backbone and ``out_channels`` of the teacher (its
            ``embed_dims``) unless given.
        feature_loss (dict): mmpretrain loss called as ``loss(pred, target,
            mask)``. Defaults to ``CosineSimilarityLoss(shift_factor=1,
            scale_factor=1)``: ``1 - cos`` averaged over the masked tokens.
        pixel_loss_weight (float): Defaults to 1.
        feature_loss_weight (float): Defaults to 1.
        **kwargs: ``data_preprocessor``, ``init_cfg`` ... of
            ``BaseSelfSupervisor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 teacher: dict,
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_prefix: str = 'backbone.',
                 teacher_norm: Optional[dict] = None,
                 feature_predictor: Optional[dict] = None,
                 feature_loss: Optional[dict] = None,
                 pixel_loss_weight: float = 1.,
                 feature_loss_weight: float = 1.,
                 **kwargs):
        if not isinstance(teacher, dict) or 'type' not in teacher:
            raise ValueError(f'teacher must be a config dict with a type '
                             f'(e.g. dict(type=\'VisionTransformer\', ...)), '
                             f'got {teacher!r}')
        if teacher_ckpt is None:
            raise ValueError(
                f'teacher_ckpt is None: joint pre-training distils a frozen '
                f'teacher ({teacher["type"]}) and needs its weights; give '
                f'the path of a {teacher["type"]} checkpoint with '
                f'--cfg-options model.teacher_ckpt=PATH (README "Joint '
                f'pre-training with a teacher")')
        if not isinstance(teacher_ckpt, str) or not teacher_ckpt:
            raise ValueError(f'teacher_ckpt must be a checkpoint path, got '
                             f'{teacher_ckpt!r}')
        pixel_w = _positive_weight('pixel_loss_weight', pixel_loss_weight)
        feature_w = _positive_weight('feature_loss_weight',
                                     feature_loss_weight)
        if pixel_w == 0 and feature_w == 0:
            raise ValueError('pixel_loss_weight and feature_loss_weight are '
                             'both 0: nothing to train')
        if teacher_norm is None:
            renormalise = False
            mean, std = torch.zeros(1, 1, 1), torch.ones(1, 1, 1)
        else:
            if not isinstance(teacher_norm, dict) \
                    or set(teacher_norm) != {'mean', 'std'}:
                raise ValueError(f'teacher_norm must be None or '
                                 f'dict(mean=[...], std=[...]), got '
                                 f'{teacher_norm!r}')
            renormalise = True
            mean = _channel_stats('mean', teacher_norm['mean'])
            std = _channel_stats('std', teacher_norm['std'])
            if (std <= 0).any():
                raise ValueError(f'teacher_norm.std must be > 0, got '
                                 f'{teacher_norm["std"]!r}')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        ratio = getattr(self.backbone, 'mask_ratio', 0)
        if not ratio > 0:
            raise ValueError(f'RevColV2JointMIM computes the feature loss on '
                             f'masked tokens: backbone.mask_ratio must be > '
                             f'0, got {ratio!r}')
        self.pixel_loss_weight = pixel_w
        self.feature_loss_weight = feature_w
        self.teacher_ckpt = teacher_ckpt

        net = self._build_teacher(teacher, teacher_ckpt, teacher_ckpt_prefix)
        # in __dict__, not _modules: no state_dict / parameters / train()
        object.__setattr__(self, '_teacher', net)

        self._teacher_norm = renormalise
        self.register_buffer('teacher_mean', mean, persistent=False)
        self.register_buffer('teacher_std', std, persistent=False)

        from mmpretrain.registry import MODELS
        predictor = dict(feature_predictor
                         or dict(type='RevColV2FeaturePredictor'))
        width = self.backbone.embed_dims
        predictor.setdefault('embed_dims', width)
        if predictor['embed_dims'] != width:
            raise ValueError(
                f'feature_predictor.embed_dims {predictor["embed_dims"]!r} '
                f'must equal the width of the backbone\'s level 3, {width}')
        if predictor.get('out_channels') is None:
            dims = getattr(net, 'embed_dims', None)
            if isinstance(dims, bool) or not isinstance(dims, int):
                raise ValueError(
                    f'the teacher {type(net).__name__} has no int '
                    f'embed_dims: give its feature width as '
                    f'feature_predictor.out_channels')
            predictor['out_channels'] = dims
        # mmpretrain's scope whatever the current default scope is (a
        # Registry builds in the default scope's registry)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.feature_predictor = MODELS.build(predictor)
            self.feature_loss = MODELS.build(
                feature_loss or dict(type='CosineSimilarityLoss',
                                     shift_factor=1.0, scale_factor=1.0))

    # ----------------------------------------------------------- teacher
    @staticmethod
    def _build_teacher(cfg: dict, checkpoint: str,
                       prefix: str) -> nn.Module:
        """Build the teacher, load ``checkpoint`` strictly, freeze it."""
        from mmpretrain.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            net = MODELS.build(cfg)
        state, what = read_backbone_state_dict(checkpoint, prefix)
        result = net.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            lines = [f'teacher {type(net).__name__}: the checkpoint '
                     f'{checkpoint} does not fit it ({what}).']
            if result.missing_keys:
                lines.append(f'missing keys ({len(result.missing_keys)}): '
                             f'{_describe_keys(result.missing_keys)}')
            if result.unexpected_keys:
                lines.append(
                    f'unexpected keys ({len(result.unexpected_keys)}): '
                    f'{_describe_keys(result.unexpected_keys)}')
            lines.append(f'Check the teacher config and '
                         f'teacher_ckpt_prefix={prefix!r}.')
            raise CheckpointKeyError(' '.join(lines))
        net.requires_grad_(False)
        net.eval()  # some backbones' train() returns None
        return net

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher (not a submodule: see the module docstring)."""
        return self._teacher

    def _apply(self, fn, *args, **kwargs):
        # .to() / .cuda() / .half() ... reach the teacher too
        self._teacher._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def train(self, mode: bool = True):
        """Set the student's mode; the teacher stays in eval mode."""
        super().train(mode)
        self._teacher.eval()
        return self

    def teacher_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The student's (normalised) inputs in the teacher's
        normalisation (unchanged without ``teacher_norm``)."""
        if not self._teacher_norm:
            return inputs
        dp = self.data_preprocessor
        x = inputs
        if getattr(dp, '_enable_normalize', False):
            x = x * dp.std + dp.mean
        return (x - self.teacher_mean) / self.teacher_std

    def teacher_targets(self, inputs: torch.Tensor,
                        grid: Tuple[int, int]) -> torch.Tensor:
        """Teacher features on the student's grid.

        Args:
            inputs (Tensor): The student's inputs ``(B, 3, H, W)``.
            grid (tuple): The student's token grid ``(H / p, W / p)``.

        Returns:
            Tensor: ``(B, grid[0] * grid[1], C_t)`` in row-major token order,
            computed without gradient under the current autocast state.
        """
        with torch.no_grad():
            out = self._teacher(self.teacher_inputs(inputs))
        return self.match_grid(out, grid, inputs.shape[0])

    def match_grid(self, out, grid: Tuple[int, int],
                   batch: int) -> torch.Tensor:
        """Teacher output -> ``(B, N, C_t)`` tokens on ``grid``.

        See the module docstring for the accepted outputs; anything that
        cannot be placed on ``grid`` raises ``ValueError``.
        """
        name = type(self._teacher).__name__
        if isinstance(out, (tuple, list)):
            if not out:
                raise ValueError(f'the teacher {name} returned no output')
            out = out[-1]
        if not isinstance(out, torch.Tensor):
            raise ValueError(f'the teacher {name} must return a tensor or a '
                             f'tuple of tensors, got {type(out).__name__}')
        gh, gw = grid
        if out.dim() == 4:
            feat = out
        elif out.dim() == 3:
            extra = getattr(self._teacher, 'num_extra_tokens', 0)
            tokens = out[:, extra:]
            n = tokens.shape[1]
            th = round(math.sqrt(n * gh / gw)) if n else 0
            tw = n // th if th else 0
            if th * tw != n or th * gw != tw * gh:
                raise ValueError(
                    f'the teacher {name} gives {n} patch tokens per image '
                    f'(after dropping {extra} extra tokens of {out.shape[1]})'
                    f', which form no grid with the aspect ratio of the '
                    f'student grid {gh}x{gw}; use out_type=\'featmap\' or a '
                    f'teacher whose tokens cover the image as a grid')
            feat = tokens.transpose(1, 2).reshape(out.shape[0], -1, th, tw)
        else:
            raise ValueError(
                f'the teacher {name} returns a {out.dim()}-D output of shape '
                f'{tuple(out.shape)}; joint pre-training needs per-token '
                f'features, (B, C, h, w) or (B, L, C) (e.g. '
                f'VisionTransformer out_type=\'featmap\', not \'cls_token\' '
                f'or \'avg_featmap\')')
        b, c, th, tw = feat.shape
        if b != batch:
            raise ValueError(f'the teacher {name} returned {b} samples for '
                             f'{batch} images')
        if c != self.feature_predictor.out_channels:
            raise ValueError(
                f'the teacher {name} gives {c}-channel features but '
                f'feature_predictor.out_channels is '
                f'{self.feature_predictor.out_channels}')
        if th * gw != tw * gh:
            raise ValueError(
                f'the teacher {name} grid {th}x{tw} and the student grid '
                f'{gh}x{gw} have different aspect ratios: they cannot both '
                f'cover the image (use an image size that is a multiple of '
                f'both patch sizes)')
        if (th, tw) != (gh, gw):
            feat = F.interpolate(feat.float(), size=(gh, gw),
                                 mode='bilinear', align_corners=False)
        return feat.flatten(2).transpose(1, 2)

    # -------------------------------------------------------------- loss
    def loss(self, inputs: torch.Tensor, data_samples: List,
             **kwargs) -> Dict[str, torch.Tensor]:
        """``loss_pixel`` (level 0) and ``loss_feature`` (level 3), each
        multiplied by its weight."""
        p = self.backbone.patch_size
        grid = (inputs.shape[-2] // p, inputs.shape[-1] // p)
        target = self.teacher_targets(inputs, grid)
        levels, mask = self.backbone(inputs)
        pixels = self.neck(levels[0])
        features = self.feature_predictor(levels[3])
        loss_pixel = self.head.loss(pixels, inputs, mask)
        loss_feature = self.feature_loss(features.float(), target.float(),
                                         mask)
        return dict(loss_pixel=self.pixel_loss_weight * loss_pixel,
                    loss_feature=self.feature_loss_weight * loss_feature)


def save_teacher_checkpoint(teacher: dict, path: str, seed: int = 0,
                            prefix: str = 'backbone.') -> str:
    """Write the weights of a randomly initialised teacher built from
    ``teacher`` (for the toy config and tests; a real teacher comes from
    its own pre-training), atomically, as ``{'state_dict': {prefix + key:
    tensor}}``.

    Args:
        teacher (dict): The teacher config (mmpretrain ``MODELS``).
        path (str): The file to write.
        seed (int): Seed of the initialisation. Defaults to 0.
        prefix (str): Key prefix. Defaults to ``'backbone.'``.

    Returns:
        str: ``path``.
    """
    from mmengine.logging import MMLogger
    from mmpretrain.registry import MODELS

    from ...utils.compat import fork_rng
    from ...utils.io import atomic_write
    logger = MMLogger.get_current_instance()
    level = logger.level
    with fork_rng([]):
        torch.manual_seed(seed)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            net = MODELS.build(dict(teacher))
        logger.setLevel(logging.WARNING)  # no per-parameter init report
        try:
            net.init_weights()
        finally:
            logger.setLevel(level)
    state = {prefix + k: v for k, v in net.state_dict().items()}
    atomic_write(path, lambda f: torch.save(dict(state_dict=state), f),
                 binary=True)
    return path
