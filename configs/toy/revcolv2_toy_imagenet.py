# CPU-sized RevColV2 classifier on the toy ImageNet set
# (python tools/dataset_converters/make_toy_data.py imagenet
#  data/toy_imagenet):
# inherits the real config and changes only the size (a tiny arch, 8x8
# patches), the data (toy set: 4 classes, 64x64 images) and the schedule (a
# few CPU minutes from scratch: larger lr, milder layer decay, and an EMA
# that can follow a few hundred iterations).
_base_ = ['../revcolv2/revcolv2-b_8xb128-100e_in1k.py']

# mmrevcol.datasets.toy.imagenet_metainfo(); label i of meta/*.txt is
# classes[i]
metainfo = dict(classes=('bed', 'building', 'tree', 'windowpane'))
num_classes = 4
data_root = 'data/toy_imagenet'
img_size = 64
embed_dims = 64
max_epochs = 30
warmup_epochs = 3

data_preprocessor = dict(num_classes=num_classes)
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_heads=4,
                  mlp_ratio=2,
                  bu_columns=2, bu_depth=4, td_columns=2, td_depth=4),
        img_size=img_size,
        patch_size=8,
        init_cfg=None),
    head=dict(num_classes=num_classes, in_channels=embed_dims,
              # from scratch: the default 0.02 init, not the 0.001 scaled
              # head of a fine-tuning run
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.02,
                             bias=0.)]))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean],
                      interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=bgr_mean,
         fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size * 256 // 224, edge='short',
         backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=40,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# Layer-wise lr decay: 0.9 is a toy value (the paper's 0.75 is for the real
# model, see revcolv2-b_8xb128-100e_in1k.py); the depth rule that assigns the layer depths
# is ours (RevColV2.get_layer_depth: bottom-up columns by column + block index,
# top-down columns continue after the deepest bottom-up block, so depth grows
# along the data path), because the RevColV2 paper does not publish its rule.
optim_wrapper = dict(
    optimizer=dict(lr=2e-3), paramwise_cfg=dict(layer_decay_rate=0.9))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, T_max=max_epochs - warmup_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# 0.9999 averages over ~10k iterations; the toy run has a few hundred
custom_hooks = [dict(type='EMAHook', momentum=1e-2, priority='ABOVE_NORMAL')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1))
auto_scale_lr = dict(enable=False)
