# Cascade Mask R-CNN + RevColV2 without FPN or adapter (RevColV2, arXiv
# 2309.01005, sec. 3.1.4). Same backbone set-up and head design as
# mask_rcnn_revcolv2.py (see the comments there): five backbone levels of
# ``embed_dims`` channels (strides 4..32 from the last top-down column, 64 by
# resizing its top level), ``neck=None``, ViTDet-style window attention and
# heads with GroupNorm. Built on the stock mmdet Cascade Mask R-CNN: three
# cascade stages with class-agnostic regression (IoU 0.5/0.6/0.7), each with
# its own 4-conv + 1-fc box head and its own mask head (mmdet's cascade
# averages the three stages' masks at test time).
_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py']

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416  # RevColV2-B width (RevColV2 Table 1)
head_norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevColV2',
        arch='base',
        img_size=1024,
        patch_size=16,
        out_indices=(0, 1, 2, 3),
        out_strides=(4, 8, 16, 32),
        extra_strides=(64, ),
        window_size=14,
        global_attn_indexes=(-1, ),
        drop_path_rate=0.2,
        reversible=True,
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    neck=None,
    rpn_head=dict(in_channels=embed_dims, feat_channels=256, num_convs=2),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=embed_dims, featmap_strides=[4, 8, 16, 32]),
        bbox_head=[
            dict(
                type='Shared4Conv1FCBBoxHead',
                in_channels=embed_dims,
                conv_out_channels=256,
                fc_out_channels=1024,
                norm_cfg=head_norm_cfg,
                roi_feat_size=7,
                num_classes=80,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=stds),
                reg_class_agnostic=True,
                loss_cls=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=False,
                    loss_weight=1.0),
                loss_bbox=dict(type='SmoothL1Loss', beta=1.0,
                               loss_weight=1.0))
            # the stock stages differ only in their box target stds
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_roi_extractor=dict(
            out_channels=embed_dims, featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            in_channels=embed_dims,
            conv_out_channels=256,
            norm_cfg=head_norm_cfg)))
