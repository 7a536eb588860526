# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcol/revcol-s_cascade-mask-rcnn_fpn_8xb2-3x_coco.py.
_base_ = ['./revcol/revcol-s_cascade-mask-rcnn_fpn_8xb2-3x_coco.py']
