# RevCol-S (ImageNet-1K pre-trained) + UperNet on ADE20K, 512x512, 80k iters.
# Same recipe as RevCol-T (RevCol, arXiv 2212.11696, Table 14, IN-1K: layer
# decay 1.0, drop path 0.3, lr 4e-5, crop 512).
# RevCol Table 3: 47.9 mIoU single-scale.
_base_ = ['./upernet_revcol_t_ade20k.py']

model = dict(
    backbone=dict(arch='small'),
    decode_head=dict(in_channels=[64, 128, 256, 512]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=256))
