# RevCol-L (ImageNet-22K pre-trained) + Cascade Mask R-CNN + FPN on COCO, 3x.
# RevCol (arXiv 2212.11696) Table 13 (IN-22K column, RevCol-L): lr 1e-4,
# layer-wise lr decay 0.8, drop path 0.6; the rest as the IN-1K recipe.
# RevCol Table 2: 55.9 box AP / 48.4 mask AP.
_base_ = ['./cascade_mask_rcnn_revcol_t_coco.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.6),  # Table 13
    neck=dict(in_channels=[128, 256, 512, 1024]))  # RevCol sec. 3
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),  # Table 13
    paramwise_cfg=dict(layer_decay_rate=0.8))  # Table 13
