# RevCol-L (ImageNet-22K pre-trained) + UperNet on ADE20K, 640x640, 80k iters.
# RevCol (arXiv 2212.11696) Table 14 (IN-22K column): crop 640, layer-wise
# lr decay 0.9, drop path 0.3, lr 4e-5, wd 0.01, 1500 warm-up steps.
# RevCol Table 3: 53.4 mIoU single-scale.
_base_ = ['./upernet_revcol_b_in22k_ade20k.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=512))
