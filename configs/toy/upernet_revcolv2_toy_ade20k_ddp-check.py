# Test-only: the toy UperNet made deterministic, to check that distributed
# training through the tools equals one process (tests/test_tools/
# test_dist_train.py):
#
#   bash tools/dist_train.sh THIS_CONFIG 2 --cfg-options ...   # 2 x batch 1
#   python tools/train.py THIS_CONFIG \
#       --cfg-options train_dataloader.batch_size=2 ...         # 1 x batch 2
#
# give the same weights after N iterations within fp32 tolerance: the
# InfiniteSampler deals the same shuffled stream to the ranks in turn, so
# step t sees the same two samples either way, and DDP's gradient average
# is the gradient of the batch-of-2 mean loss when every image has the same
# pixel count (fixed resize, no crop) and the loss averages over all pixels
# (avg_non_ignore=False). Everything else that could differ is switched off:
# no random augmentation, drop path and dropout 0, and GroupNorm instead of
# BatchNorm in the heads (a BN's batch statistics depend on how the batch is
# split; CPU has no SyncBN). The backbone stays reversible. gloo backend with a short
# timeout, so that a dead rank fails the other one within a minute.
_base_ = ['./upernet_revcolv2_toy_ade20k.py']

norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    backbone=dict(drop_path_rate=0.0, reversible=True),
    decode_head=dict(
        norm_cfg=norm_cfg,
        dropout_ratio=0.0,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0, avg_non_ignore=False)),
    auxiliary_head=dict(
        norm_cfg=norm_cfg,
        dropout_ratio=0.0,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=0.4, avg_non_ignore=False)))

crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='PackSegInputs')
]
# batch per process
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))

max_iters = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
env_cfg = dict(dist_cfg=dict(backend='gloo', timeout=60))
