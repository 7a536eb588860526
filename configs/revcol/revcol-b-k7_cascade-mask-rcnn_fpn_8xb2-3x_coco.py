# RevCol-B with 7x7 depthwise kernels (RevCol, arXiv 2212.11696, App. D.3.1
# kernel padding) + Cascade Mask R-CNN on COCO, 3x. No paper result (the paper
# pads RevCol-H only); needs a checkpoint padded by revcol_converter.py.
# Settings and assumptions: configs/revcol/README.md
_base_ = ['./revcol-b_cascade-mask-rcnn_fpn_8xb2-3x_coco.py']

model = dict(backbone=dict(kernel_size=7))  # App. D.3.1: 7x7 for COCO
