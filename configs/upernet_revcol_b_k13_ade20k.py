# RevCol-B with 13x13 depthwise kernels + UperNet on ADE20K, 512x512.
# The kernel padding trick of RevCol (arXiv 2212.11696) App. D.3.1: the
# pre-trained 3x3 kernels are padded to 13x13 for ADE20K, keeping the trained
# taps centred and filling the new ones from N(0, 1e-7^2), then the model is
# fine-tuned. (The paper uses it with RevCol-H and reports +0.7~1.0 mIoU; here
# it is shown on RevCol-B, whose recipe is otherwise unchanged.) Pad once with
# python tools/model_converters/revcol_converter.py revcol_base_1k.pth \
#       checkpoints/revcol_b_k13_mm.pth --kernel-size 13 --std 1e-7 --seed 0
# and train with
#   --cfg-options model.backbone.init_cfg.checkpoint=checkpoints/revcol_b_k13_mm.pth
_base_ = ['./upernet_revcol_b_ade20k.py']

model = dict(backbone=dict(kernel_size=13))  # App. D.3.1: 13x13 for ADE20K
