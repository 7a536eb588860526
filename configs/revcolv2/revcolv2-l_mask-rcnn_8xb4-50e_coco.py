# RevColV2-L + Mask R-CNN (no FPN) on COCO, 1024x1024 LSJ, 50 epochs.
# Target: RevColV2 (arXiv 2309.01005) Table 4, 54.0 box AP / 47.8 mask AP.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_mask-rcnn_8xb4-50e_coco.py']

embed_dims = 672  # RevColV2-L width (RevColV2 Table 1)
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),  # App. B.5
    rpn_head=dict(in_channels=embed_dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=embed_dims),
        bbox_head=dict(in_channels=embed_dims),
        mask_roi_extractor=dict(out_channels=embed_dims),
        mask_head=dict(in_channels=embed_dims)))

# Layer-wise lr decay 0.9 (inherited, App. B.5): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
