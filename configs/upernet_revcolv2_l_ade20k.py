# RevColV2-L + UperNet on ADE20K, 512x512, 160k iterations.
# Same recipe as the base model (RevColV2, arXiv 2309.01005, App. B.4: layer
# decay 0.65 for both sizes, drop path 0.1, lr 4e-5, batch 16).
# RevColV2 Table 3: 54.0 mIoU single-scale, 54.4 multi-scale (IN-1K MIM).
_base_ = ['./upernet_revcolv2_b_ade20k.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4),
    auxiliary_head=dict(in_channels=672))

# Layer-wise lr decay 0.65 (inherited): the decay rate is the paper's (App.
# B.4, for both sizes); the depth rule that assigns the layer depths is ours
# (RevColV2.get_layer_depth: bottom-up columns by column + block index,
# top-down columns continue after the deepest bottom-up block, so depth grows
# along the data path), because the paper does not publish its rule.
