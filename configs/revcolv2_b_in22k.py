# RevColV2-B ImageNet-22K intermediate fine-tuning (after MIM pre-training),
# 224, 90 epochs. The middle step of the chain
#   MIM pre-training on IN-1K -> this -> IN-1K fine-tuning
#   (revcolv2_b_in22k-pre_in1k.py, -384px) -> ADE20K at 640
#   (upernet_revcolv2_b_in22k_ade20k-640.py, mask2former_revcolv2_b_ade20k.py)
# RevColV2 ("RevColV2: Exploring Disentangled Representations in Masked Image
# Modeling", arXiv 2309.01005) sec. 3.1.2 and App. B.2: intermediate
# fine-tuning on ImageNet-22K "following [34, 12]" (BEiT v2, ConvNeXt V2),
# hyper-parameters that "generally follow [1, 12]" (RevCol, ConvNeXt V2).
# The paper reports no ImageNet-22K accuracy, only the results of the steps
# that start from this one (Tables 2 and 3).
# Settings from RevColV2 Table 11 (its supplementary's Table 2): AdamW (0.9,
# 0.999), base lr 2.5e-4, weight decay 0.05, layer-wise lr decay 0.8, batch
# 4096, cosine decay with 5 warm-up epochs, 90 epochs, RandAug (9, 0.5),
# label smoothing 0.1, mixup 0.8, cutmix 1.0, drop path 0.1 (B) / 0.2 (L),
# head init 0.001, no EMA.
# Reading of the table (as in revcolv2_b_in1k.py): "base learning rate" is
# per 256 images (App. B: "the base learning rate is based on batch size
# 256"), so the lr at batch 4096 is 2.5e-4 * 4096 / 256 = 4e-3.
# Assumptions (not in the paper):
# - 224x224 inputs (the paper gives no size for this step; 224 is the MIM
#   size and the size of the IN-1K rows of Table 2 that follow it);
# - 21841 classes (the ImageNet-22K / fall 2011 release; mmpretrain's base
#   says 21842, the paper gives no count); data in data/imagenet21k with
#   meta/train.txt, as mmpretrain's ImageNet21k dataset expects;
# - no validation during training (ImageNet-22K has no official val split);
# - from the stock mmpretrain bases, as revcolv2_b_in1k.py: bicubic
#   RandomResizedCrop / flip / RandomErasing (0.25), 1e-6 final lr, the 1e-3
#   warm-up start factor.
# The classifier is the one of revcolv2_b_in1k.py: the pooled, LayerNorm-ed
# top level of the last top-down column, a linear head, neck=None.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet21k_bs128.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416
num_classes = 21841  # assumption, see above
max_epochs = 90  # Table 11
warmup_epochs = 5  # Table 11

data_preprocessor = dict(num_classes=num_classes)  # one-hot for mixup

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RevColV2',
        arch='base',
        img_size=224,
        patch_size=16,
        out_type='avg_featmap',  # pooled + normalised top level
        out_indices=(3, ),
        drop_path_rate=0.1,  # Table 11: 0.1 (B)
        reversible=True,
        # Starts from the MIM pre-trained RevColV2-B (the exported backbone
        # of the MIM step, all levels of all columns; the levels the
        # classifier does not build are skipped):
        #   --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    neck=None,  # the backbone already pools
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1,  # Table 11
            mode='original'),
        # head init 0.001 (Table 11): the usual 0.02 truncated normal scaled
        # by 1e-3
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5,
                       bias=0.)]),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),  # Table 11
        dict(type='CutMix', alpha=1.0),  # Table 11
    ]))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # RandAug (9, 0.5), Table 11
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

# batch 4096 (Table 11) = 128 images per GPU x 32 GPUs
train_dataloader = dict(
    batch_size=128, dataset=dict(pipeline=train_pipeline))
# ImageNet-22K has no official validation split: no validation / test loop
# (give them a held-out split of your own to evaluate).
val_cfg = None
test_cfg = None

# Layer-wise lr decay: the decay rate (0.8) is the paper's (Table 11); the
# depth rule that assigns the layer depths is ours (RevColV2.get_layer_depth:
# bottom-up columns by column + block index, top-down columns continue after
# the deepest bottom-up block, so depth grows along the data path), because
# the paper does not publish its rule. Norm weights, biases and position
# embeddings get no weight decay (flat_decay_mult=0 and the backbone's
# no_weight_decay()).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2.5e-4 * 4096 / 256, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05),  # Table 11
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 11

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, T_max=max_epochs - warmup_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

# No EMA (Table 11: "ema None").
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))

# Reversible backbones compute their parameter gradients in their own
# backward: DDP must not search for unused parameters.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
auto_scale_lr = dict(base_batch_size=4096)
