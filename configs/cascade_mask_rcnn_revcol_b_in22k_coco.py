# RevCol-B (ImageNet-22K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# RevCol (arXiv 2212.11696) Table 13 (IN-22K column, RevCol-B): lr 1e-4,
# layer-wise lr decay 0.9, drop path 0.5; the rest as the IN-1K recipe.
# RevCol Table 2: 55.0 box AP / 47.5 mask AP.
_base_ = ['./cascade_mask_rcnn_revcol_t_coco.py']

model = dict(
    backbone=dict(arch='base', drop_path_rate=0.5),  # Table 13
    neck=dict(in_channels=[72, 144, 288, 576]))  # RevCol sec. 3
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),  # Table 13
    paramwise_cfg=dict(layer_decay_rate=0.9))  # Table 13
