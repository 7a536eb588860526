# Deprecated name, kept so that existing commands and work dirs keep working:
# this config is configs/revcolv2/revcolv2-l_in22k-pre_8xb64-30e_in1k-384px.py.
_base_ = ['./revcolv2/revcolv2-l_in22k-pre_8xb64-30e_in1k-384px.py']
