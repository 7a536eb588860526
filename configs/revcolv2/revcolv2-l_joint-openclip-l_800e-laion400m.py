# RevColV2-L joint pre-training, stage 1 of 2 (the model of RevColV2, arXiv
# 2309.01005, sec. 3.2 and Table 5: 62.1 box AP, 60.4 mIoU after
# fine-tuning): the recipe of revcolv2-b_joint-openclip-l_800e-laion400m.py
# with the large arch (as ./revcolv2-l_mim_8xb512-amp-1600e_in1k.py).
#   python tools/train.py \
#     configs/revcolv2/revcolv2-l_joint-openclip-l_800e-laion400m.py \
#     --cfg-options model.teacher_ckpt=openclip_vit-l-14_laion400m.pth
_base_ = ['./revcolv2-b_joint-openclip-l_800e-laion400m.py']

model = dict(
    backbone=dict(arch='large'),
    neck=dict(embed_dims=672),
    feature_predictor=dict(embed_dims=672))
