# RevColV2-L + Mask R-CNN (no FPN) on COCO, 1024x1024 LSJ, 50 epochs.
# Same recipe as RevColV2-B (paper 000 App. B.5 / 001 sec. 1.5: 50 epochs,
# batch 32, AdamW lr 1e-4, LSJ [0.1, 2.0], layer-wise lr decay 0.9) with the
# large model's drop path 0.3 (App. B.5). Every head reads the 672-channel
# backbone levels directly (no FPN).
# Paper 000 Table 4: 54.0 box AP / 47.8 mask AP, 363M parameters.
_base_ = ['./mask_rcnn_revcolv2_b_coco.py']

embed_dims = 672  # RevColV2-L width (paper 000 Table 1)
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),  # App. B.5
    rpn_head=dict(in_channels=embed_dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=embed_dims),
        bbox_head=dict(in_channels=embed_dims),
        mask_roi_extractor=dict(out_channels=embed_dims),
        mask_head=dict(in_channels=embed_dims)))
