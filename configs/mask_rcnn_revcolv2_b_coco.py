# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-b_mask-rcnn_8xb4-50e_coco.py.
_base_ = ['./revcolv2/revcolv2-b_mask-rcnn_8xb4-50e_coco.py']
