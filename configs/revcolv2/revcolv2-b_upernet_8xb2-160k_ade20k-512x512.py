# RevColV2-B + UperNet on ADE20K, 512x512, 160k iterations.
# Target: RevColV2 (arXiv 2309.01005) Table 3 (ImageNet-1K), 51.3 mIoU
# single-scale / 52.3 multi-scale.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    '../_base_/models/upernet_revcolv2.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]

crop_size = (512, 512)
# Fine-tune from revcolv2-b_8xb128-100e_in1k.py + the MIM export it started
# from: --cfg-options model.backbone.init_cfg.checkpoint=CLS.pth
#                     model.backbone.init_cfg.fill_from=MIM.pth

data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='base',
        img_size=crop_size,
        drop_path_rate=0.1),
    decode_head=dict(in_channels=[416] * 4, num_classes=150),
    auxiliary_head=dict(in_channels=416, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

# Layer-wise lr decay 0.65 (App. B.4): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.65))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=160000),
]

# batch 16 = 2 images per GPU x 8 GPUs (App. B.4)
train_dataloader = dict(batch_size=2, num_workers=2)
val_dataloader = dict(batch_size=1, num_workers=2)
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=16)
