# RevCol-B with 13x13 depthwise kernels (RevCol, arXiv 2212.11696, App. D.3.1
# kernel padding) + UperNet on ADE20K, 512x512. No paper result (the paper pads
# RevCol-H only); needs a checkpoint padded by revcol_converter.py.
# Settings and assumptions: configs/revcol/README.md
_base_ = ['./revcol-b_upernet_8xb2-80k_ade20k-512x512.py']

model = dict(backbone=dict(kernel_size=13))  # App. D.3.1: 13x13 for ADE20K
