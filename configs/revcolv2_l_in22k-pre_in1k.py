# RevColV2-L ImageNet-1K fine-tuning after the ImageNet-22K intermediate
# fine-tuning (revcolv2_l_in22k.py), 224, 30 epochs.
# RevColV2 (arXiv 2309.01005) Table 2, right: RevColV2-L 87.4 top-1 at 224,
# 327M params, 67G FLOPs. Table 13 (its supplementary's Table 4) gives one
# column for both sizes except the drop path: 0.2 for L. Everything else,
# the assumptions included, as revcolv2_b_in22k-pre_in1k.py (layer-wise lr
# decay 0.9 from Table 13 with our depth rule, see there).
# Starts from the IN-22K intermediate fine-tune of RevColV2-L
# (revcolv2_l_in22k.py):
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./revcolv2_b_in22k-pre_in1k.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),  # Table 13: 0.2 (L)
    head=dict(in_channels=672))
