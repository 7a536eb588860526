# RevColV2-B ImageNet-1K fine-tuning after the ImageNet-22K intermediate
# fine-tuning (revcolv2-b_32xb128-90e_in22k.py), 224, 30 epochs.
# Target: RevColV2 (arXiv 2309.01005) Table 2 (right), 86.2 top-1.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_8xb128-100e_in1k.py']

max_epochs = 30  # Table 13

model = dict(
    backbone=dict(
        drop_path_rate=0.1,  # Table 13: 0.1 (B)
        # starts from the IN-22K intermediate fine-tune (the epoch_90.pth of
        # revcolv2-b_32xb128-90e_in22k.py):
        #   --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    # label smoothing 0.1 and head init 0.001 (Table 13) as the base config;
    # no mixup / cutmix (Table 13: None)
    train_cfg=None)

# batch 512 (Table 13) = 64 images per GPU x 8 GPUs
train_dataloader = dict(batch_size=64)

# Layer-wise lr decay 0.9 (Table 13): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
optim_wrapper = dict(
    optimizer=dict(lr=2.5e-5 * 512 / 256, weight_decay=0.01),  # Table 13
    paramwise_cfg=dict(layer_decay_rate=0.9))  # Table 13

# no warm-up (Table 13: None), cosine decay over the 30 epochs
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0,
         end=max_epochs, T_max=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)

# EMA 0.9999 (Table 13): the base config's EMAHook (momentum 1e-4);
# validation and the saved checkpoints use the EMA weights.
auto_scale_lr = dict(base_batch_size=512)
