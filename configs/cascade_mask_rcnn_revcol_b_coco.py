# RevCol-B (ImageNet-1K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# Same recipe as RevCol-T; RevCol (arXiv 2212.11696) Table 13 (IN-1K,
# RevCol-B): layer-wise lr decay 0.8, drop path 0.4, lr 2e-4.
# RevCol Table 2: 53.0 box AP / 45.9 mask AP.
# For the ImageNet-22K checkpoint see cascade_mask_rcnn_revcol_b_in22k_coco.py.
_base_ = ['./cascade_mask_rcnn_revcol_t_coco.py']

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.4),  # Table 13
    neck=dict(in_channels=[72, 144, 288, 576]))  # RevCol sec. 3
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 13
