# RevColV2-L + UperNet on ADE20K, 640x640, 160k iterations (IN-22K chain).
# Target: RevColV2 (arXiv 2309.01005) Table 3 (IN-1K + IN-22K), 54.8 mIoU
# single-scale / 55.7 multi-scale.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_in22k-pre_upernet_8xb2-160k_ade20k-640x640.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4),
    auxiliary_head=dict(in_channels=672))
