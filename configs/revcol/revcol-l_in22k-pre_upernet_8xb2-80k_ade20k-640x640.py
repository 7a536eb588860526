# RevCol-L (ImageNet-22K pre-trained) + UperNet on ADE20K, 640x640, 80k iters.
# Target: RevCol (arXiv 2212.11696) Table 3, 53.4 mIoU single-scale.
# Settings and assumptions: configs/revcol/README.md
_base_ = ['./revcol-b_in22k-pre_upernet_8xb2-80k_ade20k-640x640.py']

model = dict(
    backbone=dict(arch='large'),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),  # RevCol sec. 3
    auxiliary_head=dict(in_channels=512))
