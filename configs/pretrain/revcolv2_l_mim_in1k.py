# RevColV2-L masked-image-modeling pre-training on ImageNet-1K: the same
# recipe as revcolv2_b_mim_in1k.py (RevColV2, arXiv 2309.01005, supplementary
# Table 1 gives one setting for all sizes).
_base_ = ['./revcolv2_b_mim_in1k.py']

model = dict(
    backbone=dict(arch='large'),
    neck=dict(embed_dims=672))
