# RevColV2-B joint pre-training, stage 1 of 2: masked pixels at level 0 and
# the features of a frozen OpenCLIP ViT-L/14 teacher at level 3 of the last
# top-down column, on Laion400M for 800 ImageNet-1K epochs' worth of images.
# Stage 2 (300 epochs on ImageNet-1K) is
# revcolv2-b_joint-openclip-l_800e-laion400m_300e-in1k.py.
#
# From the paper (RevColV2: Exploring Disentangled Representations in Masked
# Image Modeling, arXiv 2309.01005, sec. 2.3 "Joint Pre-training", sec. 3.2,
# Table 5): pixel MSE kept at the bottom level, a cosine-similarity loss
# against OpenCLIP-L features of the masked tokens at the top level;
# Laion400M for "800 ImageNet-1k epochs", then 300 epochs on ImageNet-1K; the
# rest of the MIM recipe (Table 10, inherited from
# ./revcolv2-b_mim_8xb512-amp-1600e_in1k.py: mask ratio 0.75, AdamW, base lr 1.5e-4
# per 256, batch 4096, cosine decay).
# Assumptions (the paper is silent; README "Joint pre-training with a
# teacher"): the paper trains only RevColV2-L this way, B uses the same
# recipe; 800 epochs' worth = ceil(800 * 1281167 / 4096) = 250228 iterations
# of batch 4096, with the 40 warm-up epochs of Table 10 = 12512 iterations;
# Table 10's settings for each stage; the teacher's last-layer patch tokens
# after its final LayerNorm (out_type='featmap'); projection LayerNorm +
# Linear 416 -> 1024; loss weights 1 and 1; teacher grid 16x16 (14-pixel
# patches at 224) resampled bilinearly to the student's 14x14.
#
# Laion400M is read as a folder of images listed one per line (relative to
# data_root) in data/laion400m/meta/train.txt, labels unused.
#
# The teacher: OpenCLIP ViT-L-14 (laion400m) converted to mmpretrain's
# VisionTransformer layout (mmpretrain's
# tools/model_converters/openclip_to_mmcls.py writes 'backbone.' keys); the
# run fails until it is given:
#   python tools/train.py \
#     configs/revcolv2/revcolv2-b_joint-openclip-l_800e-laion400m.py \
#     --cfg-options model.teacher_ckpt=openclip_vit-l-14_laion400m.pth
_base_ = ['./revcolv2-b_mim_8xb512-amp-1600e_in1k.py']

embed_dims = 416
batch_size = 4096
# 800 ImageNet-1K epochs (1281167 images) of Laion400M images, batch 4096
max_iters = 250228
warmup_iters = 12512  # Table 10's 40 warm-up epochs, in iterations

teacher = dict(
    type='VisionTransformer',  # mmpretrain's, in the CLIP layout:
    arch='large',  # 1024 wide, 24 layers, 16 heads, MLP 4096
    img_size=224,
    patch_size=14,  # 16x16 tokens at 224
    pre_norm=True,  # ln_pre (and no patch-embedding bias)
    final_norm=True,  # ln_post, applied to every token
    norm_cfg=dict(type='LN', eps=1e-5),  # OpenCLIP's LayerNorm
    out_type='featmap',  # patch tokens (B, 1024, 16, 16), CLS dropped
    drop_rate=0.,
    drop_path_rate=0.,
    init_cfg=None)

model = dict(
    type='RevColV2JointMIM',
    teacher=teacher,
    teacher_ckpt=None,  # required: --cfg-options model.teacher_ckpt=PATH
    teacher_ckpt_prefix='backbone.',
    # OpenCLIP's input normalisation (the OpenAI constants), 0-255 scale
    teacher_norm=dict(
        mean=[0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255],
        std=[0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255]),
    # out_channels: the teacher's embed_dims (1024)
    feature_predictor=dict(type='RevColV2FeaturePredictor',
                           embed_dims=embed_dims),
    feature_loss=dict(type='CosineSimilarityLoss', shift_factor=1.0,
                      scale_factor=1.0),
    pixel_loss_weight=1.0,
    feature_loss_weight=1.0)

train_dataloader = dict(
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/laion400m',
        ann_file='meta/train.txt',
        with_label=False,
        pipeline={{_base_.train_pipeline}}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
