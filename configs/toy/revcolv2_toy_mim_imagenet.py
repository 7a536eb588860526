# CPU-sized RevColV2 masked-image-modeling pre-training on the toy ImageNet
# set (python tools/dataset_converters/make_toy_data.py imagenet
# data/toy_imagenet): inherits the real recipe and changes only the size (the
# tiny arch of the toy UperNet, 8x8 patches, 64x64 images), the data and the
# schedule (a few CPU minutes: larger lr, short warm-up, fp32).
_base_ = ['../revcolv2/revcolv2-b_mim_8xb512-amp-1600e_in1k.py']

data_root = 'data/toy_imagenet'
img_size = 64
embed_dims = 64
patch_size = 8
max_epochs = 20
warmup_epochs = 2

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_heads=4,
                  mlp_ratio=2,
                  bu_columns=2, bu_depth=4, td_columns=2, td_depth=4),
        img_size=img_size,
        patch_size=patch_size),
    neck=dict(embed_dims=embed_dims, patch_size=patch_size),
    head=dict(patch_size=patch_size))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size,
         crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=1e-5, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
randomness = dict(seed=0, diff_rank_seed=False)
auto_scale_lr = dict(enable=False)
