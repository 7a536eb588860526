# RevColV2-B ImageNet-1K fine-tuning after the ImageNet-22K intermediate
# fine-tuning (revcolv2-b_32xb128-90e_in22k.py), 384x384, 30 epochs.
# Target: RevColV2 (arXiv 2309.01005) Table 2 (up-arrow row), 87.3 top-1.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_in22k-pre_8xb64-30e_in1k.py']

img_size = 384

model = dict(
    backbone=dict(
        img_size=img_size,
        # starts from the IN-22K intermediate fine-tune (its epoch_90.pth):
        #   --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # RandAug (9, 0.5), Table 13
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=img_size,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
