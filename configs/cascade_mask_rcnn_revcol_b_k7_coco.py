# RevCol-B with 7x7 depthwise kernels + Cascade Mask R-CNN on COCO, 3x.
# The kernel padding trick of RevCol (arXiv 2212.11696) App. D.3.1: the
# pre-trained 3x3 kernels are padded to 7x7 for COCO, keeping the trained taps
# centred and filling the new ones from N(0, 1e-7^2), then the model is
# fine-tuned. (The paper uses it with RevCol-H and reports +0.5~0.8 box AP;
# here it is shown on RevCol-B, whose recipe is otherwise unchanged.) Pad once
# with python tools/model_converters/revcol_converter.py revcol_base_1k.pth \
#       checkpoints/revcol_b_k7_mm.pth --kernel-size 7 --std 1e-7 --seed 0
# and train with
#   --cfg-options model.backbone.init_cfg.checkpoint=checkpoints/revcol_b_k7_mm.pth
_base_ = ['./cascade_mask_rcnn_revcol_b_coco.py']

model = dict(backbone=dict(kernel_size=7))  # App. D.3.1: 7x7 for COCO
