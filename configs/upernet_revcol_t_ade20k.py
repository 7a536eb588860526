# RevCol-T (ImageNet-1K pre-trained) + UperNet on ADE20K, 512x512, 80k iters.
# Settings from RevCol (arXiv 2212.11696) Table 14 (IN-1K column): 80k steps,
# batch 16, AdamW (0.9, 0.999) lr 4e-5, weight decay 0.01, 1500 warm-up steps,
# layer-wise lr decay 1.0 (none), drop path 0.3, crop 512. Not in the paper, as
# in the official RevCol segmentation configs: warm-up from 1e-6 x lr, then
# poly decay, sliding-window test (crop 512, stride 341). (The released
# official configs train 160k iterations at lr 6e-5 with fp16; this file
# follows the paper's Table 14.)
# RevCol Table 3: 47.4 mIoU single-scale.
#
# Fine-tune from an official ImageNet checkpoint converted with
#   python tools/model_converters/revcol_converter.py revcol_tiny_1k.pth \
#       checkpoints/revcol_t_mm.pth
# and --cfg-options model.backbone.init_cfg.checkpoint=checkpoints/revcol_t_mm.pth
_base_ = [
    './_base_/models/upernet_revcol.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]

crop_size = (512, 512)  # Table 14, IN-1K
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(arch='tiny', drop_path_rate=0.3),  # Table 14
    decode_head=dict(in_channels=[64, 128, 256, 512]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=256),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # lr 4e-5, AdamW (0.9, 0.999), weight decay 0.01 (Table 14)
    optimizer=dict(
        type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.01),
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=1.0))  # Table 14, IN-1K

param_scheduler = [
    # 1500 linear warm-up steps (Table 14), then poly decay to 80k steps
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=80000),
]

# batch 16 = 2 images per GPU x 8 GPUs (Table 14). Reversible backbones
# compute their parameter gradients in their own backward: DDP must not
# search for unused parameters.
train_dataloader = dict(batch_size=2)
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
