# RevColV2-L + Mask2Former on ADE20K, 640x640, 160k iterations.
# RevColV2 (arXiv 2309.01005) Table 3 (ImageNet-1K + ImageNet-22K column): 58.2
# mIoU single-scale / 58.6 multi-scale, 570M params. Same recipe as the base
# model (App. B.4 gives one Mask2Former setting for both sizes: lr 2e-5, batch
# 16, drop path 0.3, layer decay 0.9, 160k iterations); see
# mask2former_revcolv2_b_ade20k.py for what is not in the paper.
_base_ = ['./mask2former_revcolv2_b_ade20k.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4))

# Layer-wise lr decay 0.9 (inherited): the decay rate is the paper's (App. B.4,
# one Mask2Former setting for both sizes); the depth rule that assigns the
# layer depths is ours (RevColV2.get_layer_depth: bottom-up columns by column +
# block index, top-down columns continue after the deepest bottom-up block, so
# depth grows along the data path), because the paper does not publish its
# rule.
