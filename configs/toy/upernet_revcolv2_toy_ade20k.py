# CPU-sized RevColV2 UperNet on the toy ADE20K set (tools/demo.py makes it):
# inherits the real config and changes only the size (a tiny arch, 8x8
# patches, narrow heads), the data (toy set, 128x128 crops) and the schedule
# (a few CPU minutes from scratch, hence a larger lr and milder decay).
_base_ = ['../revcolv2/revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py']

# the generator's classes (mmrevcol.datasets.toy.ade_metainfo()): ADE20K's
# first nine, so ADE20KDataset keeps the PNG label values as they are
metainfo = dict(
    classes=('wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road',
             'bed ', 'windowpane'),
    palette=[[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50],
             [4, 200, 3], [120, 120, 80], [140, 140, 140], [204, 5, 255],
             [230, 230, 230]])
num_classes = 9
data_root = 'data/toy_ade20k'
crop_size = (128, 128)
embed_dims = 64

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_heads=4,
                  mlp_ratio=2,
                  bu_columns=2, bu_depth=4, td_columns=2, td_depth=4),
        img_size=crop_size,
        patch_size=8,
        drop_path_rate=0.05,
        init_cfg=None),
    # single-process CPU run: plain BN instead of SyncBN in the heads
    decode_head=dict(in_channels=[embed_dims] * 4, channels=64,
                     num_classes=num_classes,
                     norm_cfg=dict(type='BN', requires_grad=True)),
    auxiliary_head=dict(in_channels=embed_dims, channels=32,
                        num_classes=num_classes,
                        norm_cfg=dict(type='BN', requires_grad=True)),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 500
# Layer-wise lr decay: 0.9 is a toy value (the paper's 0.65 is for the real
# model, see revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py); the depth rule that assigns the
# layer depths is ours (RevColV2.get_layer_depth: bottom-up columns by column +
# block index, top-down columns continue after the deepest bottom-up block, so
# depth grows along the data path), because the RevColV2 paper does not publish
# its rule.
optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.9))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=50),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=50,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
