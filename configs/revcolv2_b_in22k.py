# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-b_32xb128-90e_in22k.py.
_base_ = ['./revcolv2/revcolv2-b_32xb128-90e_in22k.py']
