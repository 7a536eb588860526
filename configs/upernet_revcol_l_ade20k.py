# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcol/revcol-l_in22k-pre_upernet_8xb2-80k_ade20k-640x640.py.
_base_ = ['./revcol/revcol-l_in22k-pre_upernet_8xb2-80k_ade20k-640x640.py']
