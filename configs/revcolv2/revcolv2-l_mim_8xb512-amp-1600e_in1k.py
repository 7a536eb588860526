# RevColV2-L masked-image-modeling pre-training on ImageNet-1K, 224, 1600
# epochs (RevColV2, arXiv 2309.01005, App. B.1: one setting for all sizes);
# no result of its own.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_mim_8xb512-amp-1600e_in1k.py']

model = dict(
    backbone=dict(arch='large'),
    neck=dict(embed_dims=672))
