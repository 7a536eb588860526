# RevCol-L (ImageNet-22K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# Target: RevCol (arXiv 2212.11696) Table 2, 55.9 box AP / 48.4 mask AP.
# Settings and assumptions: configs/revcol/README.md
_base_ = ['./revcol-t_cascade-mask-rcnn_fpn_8xb2-3x_coco.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.6),  # Table 13
    neck=dict(in_channels=[128, 256, 512, 1024]))  # RevCol sec. 3
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),  # Table 13
    paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 13
