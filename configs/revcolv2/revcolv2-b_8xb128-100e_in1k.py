# RevColV2-B ImageNet-1K fine-tuning after MIM pre-training, 224, 100 epochs.
# Target: RevColV2 (arXiv 2309.01005) Table 2, 84.7 top-1.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416
max_epochs = 100  # Table 12: 100 (B), 50 (L)
warmup_epochs = 5

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RevColV2',
        arch='base',
        img_size=224,
        patch_size=16,
        out_type='avg_featmap',  # pooled + normalised top level
        out_indices=(3, ),
        drop_path_rate=0.1,  # Table 12
        reversible=True,
        # --cfg-options model.backbone.init_cfg.checkpoint=PATH to fine-tune
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    neck=None,  # the backbone already pools
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=embed_dims,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1,  # Table 12
            mode='original'),
        # head init 0.001: the usual 0.02 truncated normal scaled by 1e-3
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5,
                       bias=0.)]),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),  # Table 12
        dict(type='CutMix', alpha=1.0),
    ]))

# batch 1024 = 128 images per GPU x 8 GPUs
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

# Layer-wise lr decay 0.75 (Table 12): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=5e-4 * 1024 / 256, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05),
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))  # Table 12

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, T_max=max_epochs - warmup_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

# EMA 0.9999 (Table 12); mmengine's momentum is 1 - decay. Validation and
# the saved checkpoints use the EMA weights.
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))

auto_scale_lr = dict(base_batch_size=1024)
