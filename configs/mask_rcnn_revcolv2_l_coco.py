# RevColV2-L + Mask R-CNN (no FPN) on COCO, 1024x1024 LSJ, 50 epochs.
# Same recipe as RevColV2-B (RevColV2, arXiv 2309.01005, App. B.5 and its
# supplementary sec. 1.5: 50 epochs, batch 32, AdamW lr 1e-4, LSJ [0.1, 2.0],
# layer-wise lr decay 0.9) with the large model's drop path 0.3 (App. B.5).
# Every head reads the 672-channel backbone levels directly (no FPN).
# RevColV2 Table 4: 54.0 box AP / 47.8 mask AP, 363M parameters.
_base_ = ['./mask_rcnn_revcolv2_b_coco.py']

embed_dims = 672  # RevColV2-L width (RevColV2 Table 1)
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),  # App. B.5
    rpn_head=dict(in_channels=embed_dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=embed_dims),
        bbox_head=dict(in_channels=embed_dims),
        mask_roi_extractor=dict(out_channels=embed_dims),
        mask_head=dict(in_channels=embed_dims)))

# Layer-wise lr decay 0.9 (inherited): the decay rate is the paper's (App. B.5,
# for both sizes); the depth rule that assigns the layer depths is ours
# (RevColV2.get_layer_depth: bottom-up columns by column + block index,
# top-down columns continue after the deepest bottom-up block, so depth grows
# along the data path), because the paper does not publish its rule.
