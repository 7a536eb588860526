# RevCol-S (ImageNet-1K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# Target: RevCol (arXiv 2212.11696) Table 2, 52.6 box AP / 45.5 mask AP.
# Settings and assumptions: configs/revcol/README.md
_base_ = ['./revcol-t_cascade-mask-rcnn_fpn_8xb2-3x_coco.py']

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.4),  # Table 13
    neck=dict(in_channels=[64, 128, 256, 512]))  # RevCol sec. 3
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 13
