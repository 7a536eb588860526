# RevColV2-L + UperNet on ADE20K, 640x640, 160k iterations: the ImageNet-22K
# row of the UperNet results.
# RevColV2 (arXiv 2309.01005) Table 3 (ImageNet-1K + ImageNet-22K column):
# RevColV2-L 54.8 mIoU single-scale / 55.7 multi-scale, 399M params (640^2,
# sec. 3.1.3). Same recipe as upernet_revcolv2_b_in22k_ade20k-640.py (App.
# B.4: one UperNet setting for both sizes, layer-wise lr decay 0.65 with our
# depth rule, see there); only the backbone size and the head inputs change.
# Starts from revcolv2_l_in22k-pre_in1k.py (the IN-1K fine-tune after the
# IN-22K intermediate fine-tune; see the B config for this reading of sec.
# 3.1.3):
#   --cfg-options model.backbone.init_cfg.checkpoint=CLS.pth
#                 model.backbone.init_cfg.fill_from=MIM.pth
_base_ = ['./upernet_revcolv2_b_in22k_ade20k-640.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4),
    auxiliary_head=dict(in_channels=672))
