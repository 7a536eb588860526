# RevCol-B (ImageNet-1K pre-trained) + UperNet on ADE20K, 512x512, 80k iters.
# Target: RevCol (arXiv 2212.11696) Table 3, 49.0 mIoU single-scale.
# Settings and assumptions: configs/revcol/README.md
_base_ = ['./revcol-t_upernet_8xb2-80k_ade20k-512x512.py']

model = dict(
    backbone=dict(arch='base'),
    decode_head=dict(in_channels=[72, 144, 288, 576]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=288))
