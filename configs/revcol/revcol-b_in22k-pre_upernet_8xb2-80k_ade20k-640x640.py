# RevCol-B (ImageNet-22K pre-trained) + UperNet on ADE20K, 640x640, 80k iters.
# Target: RevCol (arXiv 2212.11696) Table 3, 52.7 mIoU single-scale.
# Settings and assumptions: configs/revcol/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    '../_base_/models/upernet_revcol.py',
    'mmseg::_base_/datasets/ade20k_640x640.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]

crop_size = (640, 640)  # Table 14, IN-22K
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(arch='base', drop_path_rate=0.3),  # Table 14
    decode_head=dict(in_channels=[72, 144, 288, 576]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=288),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # lr 4e-5, AdamW (0.9, 0.999), weight decay 0.01 (Table 14)
    optimizer=dict(
        type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.01),
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9))  # Table 14, IN-22K

param_scheduler = [
    # 1500 linear warm-up steps (Table 14), then poly decay to 80k steps
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=80000),
]

# batch 16 = 2 images per GPU x 8 GPUs (Table 14)
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
