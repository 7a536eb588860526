# RevColV2-L ImageNet-1K fine-tuning after the ImageNet-22K intermediate
# fine-tuning (revcolv2-l_32xb128-90e_in22k.py), 384x384, 30 epochs.
# Target: RevColV2 (arXiv 2309.01005) Table 2 (up-arrow row), 88.3 top-1.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_in22k-pre_8xb64-30e_in1k-384px.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),  # Table 13: 0.2 (L)
    head=dict(in_channels=672))
