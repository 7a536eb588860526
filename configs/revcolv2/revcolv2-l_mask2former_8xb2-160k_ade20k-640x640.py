# RevColV2-L + Mask2Former on ADE20K, 640x640, 160k iterations (IN-22K chain).
# Target: RevColV2 (arXiv 2309.01005) Table 3 (IN-1K + IN-22K), 58.2 mIoU
# single-scale / 58.6 multi-scale.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4))

# Layer-wise lr decay 0.9 (inherited, App. B.4): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
