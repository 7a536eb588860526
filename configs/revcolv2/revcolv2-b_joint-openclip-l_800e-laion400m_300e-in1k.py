# RevColV2-B joint pre-training, stage 2 of 2: 300 epochs on ImageNet-1K
# with the same two losses and teacher (RevColV2, arXiv 2309.01005, sec.
# 3.2), starting from stage 1
# (revcolv2-b_joint-openclip-l_800e-laion400m.py). The paper gives no other
# setting for this stage; assumed: Table 10's recipe over 300 epochs (40
# warm-up epochs, cosine decay), a fresh optimizer (load_from, not resume).
#   python tools/train.py configs/revcolv2/\
# revcolv2-b_joint-openclip-l_800e-laion400m_300e-in1k.py \
#     --cfg-options model.teacher_ckpt=openclip_vit-l-14_laion400m.pth
# Export the backbone for fine-tuning (the teacher is never saved; the
# pixel and feature predictors are dropped):
#   python tools/model_converters/revcolv2_mim_export.py \
#       work_dirs/revcolv2-b_joint-openclip-l_800e-laion400m_300e-in1k/\
# epoch_300.pth revcolv2_b_joint.pth
_base_ = ['./revcolv2-b_joint-openclip-l_800e-laion400m.py']

max_epochs = 300
warmup_epochs = 40

train_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ImageNet',
        data_root='data/imagenet',
        split='train',
        pipeline={{_base_.train_pipeline}}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop',
                 max_epochs=max_epochs)
default_hooks = dict(
    checkpoint=dict(_delete_=True, type='CheckpointHook', interval=1,
                    max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
load_from = ('work_dirs/revcolv2-b_joint-openclip-l_800e-laion400m/'
             'iter_250228.pth')
