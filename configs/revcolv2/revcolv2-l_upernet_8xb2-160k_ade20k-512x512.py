# RevColV2-L + UperNet on ADE20K, 512x512, 160k iterations.
# Target: RevColV2 (arXiv 2309.01005) Table 3 (ImageNet-1K), 54.0 mIoU
# single-scale / 54.4 multi-scale.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_upernet_8xb2-160k_ade20k-512x512.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4),
    auxiliary_head=dict(in_channels=672))

# Layer-wise lr decay 0.65 (inherited, App. B.4): the rate is the paper's,
# the depth rule is ours (see configs/revcolv2/README.md)
