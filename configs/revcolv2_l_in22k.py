# RevColV2-L ImageNet-22K intermediate fine-tuning (after MIM pre-training),
# 224, 90 epochs. RevColV2 (arXiv 2309.01005) Table 11 (its supplementary's
# Table 2) gives one column for both sizes except the drop path: 0.2 for L.
# Everything else, the assumptions included, as revcolv2_b_in22k.py (layer-
# wise lr decay 0.8 from Table 11 with our depth rule, see there).
# Starts from the MIM pre-trained RevColV2-L:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./revcolv2_b_in22k.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),  # Table 11: 0.2 (L)
    head=dict(in_channels=672))
