# RevCol-S (ImageNet-1K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# Same recipe as RevCol-T; RevCol (arXiv 2212.11696) Table 13 (IN-1K,
# RevCol-S): layer-wise lr decay 0.8, drop path 0.4, lr 2e-4.
# RevCol Table 2: 52.6 box AP / 45.5 mask AP.
_base_ = ['./cascade_mask_rcnn_revcol_t_coco.py']

model = dict(
    backbone=dict(arch='small', drop_path_rate=0.4),  # Table 13
    neck=dict(in_channels=[64, 128, 256, 512]))  # RevCol sec. 3
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 13
