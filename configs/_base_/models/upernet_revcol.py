# UperNet with a RevCol (V1) backbone: the four levels of the last column
# (strides 4/8/16/32) feed the UperNet decode head, level 2 the auxiliary FCN
# head (RevCol, "Reversible Column Networks", arXiv 2212.11696, sec. 3.3).
# Built on the stock mmseg UperNet model.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

channels = [64, 128, 256, 512]  # RevCol-T, RevCol sec. 3
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch='tiny',
        kernel_size=3,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        reversible=True,
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.')),
    decode_head=dict(in_channels=channels, channels=512, num_classes=150),
    auxiliary_head=dict(in_channels=channels[2], in_index=2,
                        num_classes=150))
