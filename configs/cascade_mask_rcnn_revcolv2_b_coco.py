# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-b_cascade-mask-rcnn_16xb4-100e_coco.py.
_base_ = ['./revcolv2/revcolv2-b_cascade-mask-rcnn_16xb4-100e_coco.py']
