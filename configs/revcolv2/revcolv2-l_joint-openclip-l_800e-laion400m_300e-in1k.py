# RevColV2-L joint pre-training, stage 2 of 2: 300 epochs on ImageNet-1K
# from stage 1 (revcolv2-l_joint-openclip-l_800e-laion400m.py); the recipe
# of revcolv2-b_joint-openclip-l_800e-laion400m_300e-in1k.py with the large
# arch.
#   python tools/train.py configs/revcolv2/\
# revcolv2-l_joint-openclip-l_800e-laion400m_300e-in1k.py \
#     --cfg-options model.teacher_ckpt=openclip_vit-l-14_laion400m.pth
_base_ = ['./revcolv2-b_joint-openclip-l_800e-laion400m_300e-in1k.py']

model = dict(
    backbone=dict(arch='large'),
    neck=dict(embed_dims=672),
    feature_predictor=dict(embed_dims=672))
load_from = ('work_dirs/revcolv2-l_joint-openclip-l_800e-laion400m/'
             'iter_250228.pth')
