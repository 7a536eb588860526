# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py.
_base_ = ['./revcolv2/revcolv2-b_mask2former_8xb2-160k_ade20k-640x640.py']
