# RevCol-T (ImageNet-1K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# Target: RevCol (arXiv 2212.11696) Table 2, 50.6 box AP / 43.8 mask AP.
# Settings and assumptions: configs/revcol/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    '../_base_/models/cascade_mask_rcnn_revcol_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.3),  # Table 13
    neck=dict(in_channels=[64, 128, 256, 512]))  # RevCol sec. 3

# Multi-scale training with random crops (DETR / Sparse R-CNN augmentation,
# as the official RevCol and the ConvNeXt 3x detection configs).
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[[
            dict(
                type='RandomChoiceResize',
                scales=[(480, 1333), (512, 1333), (544, 1333), (576, 1333),
                        (608, 1333), (640, 1333), (672, 1333), (704, 1333),
                        (736, 1333), (768, 1333), (800, 1333)],
                keep_ratio=True)
        ],
                    [
                        dict(
                            type='RandomChoiceResize',
                            scales=[(400, 1333), (500, 1333), (600, 1333)],
                            keep_ratio=True),
                        dict(
                            type='RandomCrop',
                            crop_type='absolute_range',
                            crop_size=(384, 600),
                            allow_negative_crop=True),
                        dict(
                            type='RandomChoiceResize',
                            scales=[(480, 1333), (512, 1333), (544, 1333),
                                    (576, 1333), (608, 1333), (640, 1333),
                                    (672, 1333), (704, 1333), (736, 1333),
                                    (768, 1333), (800, 1333)],
                            keep_ratio=True)
                    ]]),
    dict(type='PackDetInputs')
]
# batch 16 = 2 images per GPU x 8 GPUs (Table 13).
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

max_epochs = 36  # Table 13
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    # 1500 linear warm-up steps (Table 13)
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # lr 2e-4, AdamW (0.9, 0.999), weight decay 0.05 (Table 13)
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.85))  # Table 13, RevCol-T

auto_scale_lr = dict(enable=False, base_batch_size=16)
