# RevCol-B (ImageNet-1K pre-trained) + UperNet on ADE20K, 512x512, 80k iters.
# Same recipe as RevCol-T (RevCol, arXiv 2212.11696, Table 14, IN-1K: layer
# decay 1.0, drop path 0.3, lr 4e-5, crop 512).
# RevCol Table 3: 49.0 mIoU single-scale.
# For the ImageNet-22K checkpoint see upernet_revcol_b_in22k_ade20k.py.
_base_ = ['./upernet_revcol_t_ade20k.py']

model = dict(
    backbone=dict(arch='base'),
    decode_head=dict(in_channels=[72, 144, 288, 576]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=288))
