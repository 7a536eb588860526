# Mask R-CNN + RevColV2 without FPN or adapter (RevColV2, "RevColV2: Exploring
# Disentangled Representations in Masked Image Modeling", arXiv 2309.01005,
# sec. 3.1.4): the four levels of the last top-down column, each LayerNorm-ed
# and bilinearly resized to strides 4/8/16/32, are the detector's multi-scale
# features; a fifth level (stride 64) for the RPN is the top level resized once
# more (``extra_strides``). All levels keep the backbone width
# (``embed_dims``), so every head reads ``embed_dims`` channels and
# ``neck=None``: mmdet's TwoStageDetector skips the neck when it is None, and
# the RoI heads take the first ``len(featmap_strides)`` levels (4..32) of the
# five.
#
# Built on the stock mmdet Mask R-CNN. Window attention follows ViTDet
# (RevColV2 sec. 3.1.4 "we follow the setting in [36]"): 14x14 windows at
# 1024x1024 input, the last block of every level keeps global attention (for
# the 3-block levels of the bottom-up columns these are blocks 2, 5, 8, 11,
# ViTDet's choice; the 1-block top-down levels stay fully global). Position
# scheme: the absolute position embeddings of the MIM checkpoint, bicubically
# interpolated once to the 1024x1024 grid when loading and again to the
# token grid of every input (test images, padded batches), so MIM / ImageNet
# checkpoints load unchanged and any input size works (absolute rather than
# ViTDet's relative positions: RevColV2 interpolates the absolute embedding
# for dense tasks, sec. 3.1.3, and the checkpoints carry no relative tables).
#
# Heads as in ViTDet: RPN with two 3x3 convs, a 4-conv + 1-fc box head and the
# 4-conv mask head, with a per-sample normalisation in the head convs. ViTDet
# uses LayerNorm there; we use GroupNorm(32), which mmcv builds natively (LN
# over channels of an NCHW map is GN with one group) and which, like LN, does
# not depend on the per-GPU batch (4 images of 1024^2 here, too few for BN).
# The RevColV2 paper gives no head details.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416  # RevColV2-B width (RevColV2 Table 1)
head_norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevColV2',
        arch='base',
        img_size=1024,  # position grid of the 1024^2 LSJ crops
        patch_size=16,
        out_indices=(0, 1, 2, 3),
        out_strides=(4, 8, 16, 32),
        extra_strides=(64, ),  # fifth RPN level, no FPN
        window_size=14,
        global_attn_indexes=(-1, ),
        drop_path_rate=0.2,
        reversible=True,
        # --cfg-options model.backbone.init_cfg.checkpoint=PATH to fine-tune
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    neck=None,
    rpn_head=dict(in_channels=embed_dims, feat_channels=256, num_convs=2),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=embed_dims, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=embed_dims,
            conv_out_channels=256,
            fc_out_channels=1024,
            norm_cfg=head_norm_cfg),
        mask_roi_extractor=dict(
            out_channels=embed_dims, featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            in_channels=embed_dims,
            conv_out_channels=256,
            norm_cfg=head_norm_cfg)))
