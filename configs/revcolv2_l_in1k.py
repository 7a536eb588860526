# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-l_8xb128-50e_in1k.py.
_base_ = ['./revcolv2/revcolv2-l_8xb128-50e_in1k.py']
