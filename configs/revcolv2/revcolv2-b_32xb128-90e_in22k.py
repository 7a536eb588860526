# RevColV2-B ImageNet-22K intermediate fine-tuning after MIM pre-training,
# 224, 90 epochs (RevColV2, arXiv 2309.01005, Table 11). No paper result of
# its own: it feeds the IN-22K rows of Tables 2 and 3.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    'mmpretrain::_base_/datasets/imagenet21k_bs128.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416
num_classes = 21841  # assumption (README)
max_epochs = 90  # Table 11
warmup_epochs = 5  # Table 11

data_preprocessor = dict(num_classes=num_classes)  # one-hot for mixup

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RevColV2',
        arch='base',
        img_size=224,
        patch_size=16,
        out_type='avg_featmap',  # pooled + normalised top level
        out_indices=(3, ),
        drop_path_rate=0.1,  # Table 11: 0.1 (B)
        reversible=True,
        # starts from the MIM export (the levels it does not build are
        # skipped): --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    neck=None,  # the backbone already pools
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1,  # Table 11
            mode='original'),
        # head init 0.001 (Table 11): the usual 0.02 truncated normal scaled
        # by 1e-3
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5,
                       bias=0.)]),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),  # Table 11
        dict(type='CutMix', alpha=1.0),  # Table 11
    ]))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # RandAug (9, 0.5), Table 11
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]

# batch 4096 (Table 11) = 128 images per GPU x 32 GPUs
train_dataloader = dict(
    batch_size=128, dataset=dict(pipeline=train_pipeline))
# ImageNet-22K has no official validation split: no validation / test loop
# (give them a held-out split of your own to evaluate).
val_cfg = None
test_cfg = None

# Layer-wise lr decay 0.8 (Table 11): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2.5e-4 * 4096 / 256, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05),  # Table 11
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 11

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, T_max=max_epochs - warmup_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

# No EMA (Table 11: "ema None").
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))

auto_scale_lr = dict(base_batch_size=4096)
