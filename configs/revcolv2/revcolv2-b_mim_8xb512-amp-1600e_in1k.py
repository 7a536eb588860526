# RevColV2-B masked-image-modeling pre-training on ImageNet-1K, 224, 1600
# epochs (RevColV2, arXiv 2309.01005, App. B.1); no result of its own. Export
# the backbone with tools/model_converters/revcolv2_mim_export.py.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416
patch_size = 16
model = dict(
    type='RevColV2MIM',
    backbone=dict(
        type='RevColV2',
        arch='base',
        img_size=224,
        patch_size=patch_size,
        out_type='masked',
        mask_ratio=0.75,  # sec. 3.1.1
        drop_path_rate=0.,  # sec. 3.1.1: no stochastic depth
        reversible=True,  # the memory-saving backward (App. A, Table 9)
        keep_states_every=2,
        init_cfg=None),  # trained from scratch
    neck=dict(type='RevColV2PixelPredictor', embed_dims=embed_dims,
              patch_size=patch_size),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,  # normalised pixel target, sec. 3.1.1
        patch_size=patch_size,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))

# batch 4096 (supplementary Table 1) = 512 images per GPU x 8 GPUs.
# collate_fn is restated: a dict inherited from an 'mmpretrain::' base
# carries a '_scope_' key that mmengine's Runner would pass to the function.
train_dataloader = dict(
    batch_size=512, collate_fn=dict(_delete_=True, type='default_collate'))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
        weight_decay=0.05),
    # norm weights, biases and the per-channel shortcut scales gamma are the
    # 1-D parameters (flat_decay_mult); 'pos_embed' also matches td_pos_embed
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
        }))

max_epochs = 1600
warmup_epochs = 40
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)

auto_scale_lr = dict(base_batch_size=4096)
