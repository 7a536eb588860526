# RevColV2-L + UperNet on ADE20K, 512x512, 160k iterations.
# Same recipe as the base model (paper 000 App. B.4: layer decay 0.65 for
# both sizes, drop path 0.1, lr 4e-5, batch 16).
# Paper 000 Table 3: 54.0 mIoU single-scale, 54.4 multi-scale (IN-1K MIM).
_base_ = ['./upernet_revcolv2_b_ade20k.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[672] * 4),
    auxiliary_head=dict(in_channels=672))
