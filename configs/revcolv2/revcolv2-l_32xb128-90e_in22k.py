# RevColV2-L ImageNet-22K intermediate fine-tuning after MIM pre-training,
# 224, 90 epochs (RevColV2, arXiv 2309.01005, Table 11). No paper result of
# its own: it feeds the IN-22K rows of Tables 2 and 3.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = ['./revcolv2-b_32xb128-90e_in22k.py']

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),  # Table 11: 0.2 (L)
    head=dict(in_channels=672))
