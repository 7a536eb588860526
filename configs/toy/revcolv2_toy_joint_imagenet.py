# CPU-sized RevColV2 joint pre-training (masked pixels at level 0 + the
# features of a frozen teacher at level 3; RevColV2, arXiv 2309.01005,
# sec. 2.3 and 3.2) on the toy ImageNet set: the toy MIM recipe
# (revcolv2_toy_mim_imagenet.py) plus a tiny random ViT teacher standing in
# for OpenCLIP-L. The teacher has 4-pixel patches: its 16x16 grid is
# resampled to the student's 8x8 level-3 grid, as a /14 CLIP teacher's 16x16
# grid is resampled to a /16 student's 14x14 at 224 px.
#
# The teacher weights are a file like a real teacher's; write a random one
# and pass it:
#   python -c "from mmengine.config import Config; \
#     from mmrevcol.models.selfsup import save_teacher_checkpoint; \
#     save_teacher_checkpoint(Config.fromfile( \
#       'configs/toy/revcolv2_toy_joint_imagenet.py').model.teacher, \
#       'data/toy_teacher.pth')"
#   python tools/train.py configs/toy/revcolv2_toy_joint_imagenet.py \
#     --cfg-options model.teacher_ckpt=data/toy_teacher.pth
_base_ = ['./revcolv2_toy_mim_imagenet.py']

img_size = 64
embed_dims = 64

model = dict(
    type='RevColV2JointMIM',
    teacher=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=48, num_layers=2, num_heads=3,
                  feedforward_channels=96),
        img_size=img_size,
        patch_size=4,
        pre_norm=True,  # the CLIP layout (ln_pre), as the real teacher
        final_norm=True,
        out_type='featmap',  # patch tokens as (B, 48, 16, 16), CLS dropped
        init_cfg=None),
    teacher_ckpt=None,  # --cfg-options model.teacher_ckpt=PATH
    teacher_ckpt_prefix='backbone.',
    # the OpenAI/OpenCLIP normalisation, as the real configs
    teacher_norm=dict(
        mean=[0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255],
        std=[0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255]),
    feature_predictor=dict(type='RevColV2FeaturePredictor',
                           embed_dims=embed_dims),
    pixel_loss_weight=1.0,
    feature_loss_weight=1.0)
