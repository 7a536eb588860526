# CPU-sized RevColV2 Mask R-CNN (no FPN) on the toy COCO set
#   python tools/dataset_converters/make_toy_data.py coco data/toy_coco
#   python tools/train.py configs/toy/mask_rcnn_revcolv2_toy_coco.py
#   python tools/test.py configs/toy/mask_rcnn_revcolv2_toy_coco.py \
#       work_dirs/mask_rcnn_revcolv2_toy_coco/epoch_8.pth
# 400 iterations, about 5 CPU minutes. On a machine busy with other jobs set
# OMP_NUM_THREADS=1: oversubscribed torch threads run many times slower.
# Reached (tools/test.py, 40 val images): 0.714 bbox AP, 0.727 segm AP.
# Inherits the real config and changes only the size (a tiny arch, 8x8
# patches, 4x4 windows, narrow heads, fewer RoIs), the data (toy set of
# 128x128 images, LSJ at 128 with a milder scale range so that the 23-49 px
# objects stay visible) and the schedule (a few CPU minutes from scratch,
# hence a larger lr). Everything else (no FPN, five backbone levels, GN heads,
# layer-decay AdamW, stock CocoMetric) is the real recipe.
_base_ = ['../revcolv2/revcolv2-b_mask-rcnn_8xb4-50e_coco.py']

# mmrevcol.datasets.toy.coco_metainfo(): category ids 1..4 of the toy set
metainfo = dict(
    classes=('building', 'tree', 'bed ', 'windowpane'),
    palette=[(180, 120, 120), (4, 200, 3), (204, 5, 255), (230, 230, 230)])
num_classes = 4
data_root = 'data/toy_coco/'
image_size = (128, 128)
embed_dims = 64
head_norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_heads=4,
                  mlp_ratio=2, bu_columns=2, bu_depth=4, td_columns=2,
                  td_depth=4),
        img_size=image_size,
        patch_size=8,
        window_size=4,  # 16x16 tokens at 128^2: 4x4 windows
        drop_path_rate=0.05,
        init_cfg=None),
    rpn_head=dict(in_channels=embed_dims, feat_channels=embed_dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=embed_dims),
        bbox_head=dict(
            in_channels=embed_dims,
            conv_out_channels=embed_dims,
            fc_out_channels=256,
            norm_cfg=head_norm_cfg,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=embed_dims),
        mask_head=dict(
            in_channels=embed_dims,
            conv_out_channels=embed_dims,
            norm_cfg=head_norm_cfg,
            num_classes=num_classes)),
    # a 128^2 image holds 2-5 objects: far fewer proposals and RoIs suffice
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=200),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=20)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # poly2mask (the default): the toy set mixes polygons and RLE masks
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        times=1,
        dataset=dict(
            data_root=data_root,
            metainfo=metainfo,
            filter_cfg=dict(filter_empty_gt=True, min_size=8),
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[7], gamma=0.1)
]
# Layer-wise lr decay 0.9 (inherited): the paper's rate for the real model
# (RevColV2, arXiv 2309.01005, App. B.5); the depth rule that assigns the layer
# depths is ours (RevColV2.get_layer_depth: bottom-up columns by column + block
# index, top-down columns continue after the deepest bottom-up block, so depth
# grows along the data path), because the RevColV2 paper does not publish its
# rule.
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
log_processor = dict(window_size=10)
