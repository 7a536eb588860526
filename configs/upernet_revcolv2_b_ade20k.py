# RevColV2-B + UperNet on ADE20K, 512x512, 160k iterations.
# Settings: RevColV2 (arXiv 2309.01005) App. B.4 and its supplementary sec. 1.4
# (lr 4e-5, batch 16, AdamW, layer-wise lr decay 0.65, drop path 0.1, 160k
# iterations). Weight decay, warm-up and the poly schedule are not given in the
# paper; they follow the usual MIM-ViT UperNet recipe (wd 0.05, 1500 linear
# warm-up iterations).
# RevColV2 Table 3: 51.3 mIoU single-scale, 52.3 multi-scale (IN-1K MIM).
_base_ = [
    './_base_/models/upernet_revcolv2.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]

crop_size = (512, 512)
# Fine-tune from the ImageNet-1K fine-tuned classifier (revcolv2_b_in1k.py,
# RevColV2 sec. 3.1.3) plus the MIM pre-trained backbone it started from:
#   --cfg-options model.backbone.init_cfg.checkpoint=CLS.pth
#                 model.backbone.init_cfg.fill_from=MIM.pth
# Its 224-size position embeddings are interpolated to the crop size once,
# when loading (RevColV2 sec. 3.1.3). Without a checkpoint (and without
# load_from / --resume) training stops before its first iteration.

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

# Layer-wise lr decay: the decay rate (0.65) is the paper's (App. B.4); the
# depth rule that assigns the layer depths is ours (RevColV2.get_layer_depth:
# bottom-up columns by column + block index, top-down columns continue after
# the deepest bottom-up block, so depth grows along the data path), because the
# paper does not publish its rule.
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

# batch 16 = 2 images per GPU x 8 GPUs. Reversible backbones compute their
# parameter gradients in their own backward: DDP must not search for unused
# parameters.
train_dataloader = dict(batch_size=2, num_workers=2)
val_dataloader = dict(batch_size=1, num_workers=2)
test_dataloader = val_dataloader
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
