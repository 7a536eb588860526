# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-l_upernet_8xb2-160k_ade20k-512x512.py.
_base_ = ['./revcolv2/revcolv2-l_upernet_8xb2-160k_ade20k-512x512.py']
