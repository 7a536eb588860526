# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcol/revcol-b-k13_upernet_8xb2-80k_ade20k-512x512.py.
_base_ = ['./revcol/revcol-b-k13_upernet_8xb2-80k_ade20k-512x512.py']
