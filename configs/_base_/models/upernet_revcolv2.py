# UperNet + RevColV2 (RevColV2, "RevColV2: Exploring Disentangled
# Representations in Masked Image Modeling", arXiv 2309.01005, sec. 3.1.3):
# the four levels of the last top-down column, resized to strides 4/8/16/32,
# go straight into the UperNet decode head (no FPN, no adapter). Built on the
# stock mmseg UperNet model.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

embed_dims = 416
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='RevColV2',
        arch='base',
        img_size=512,
        patch_size=16,
        out_indices=(0, 1, 2, 3),
        out_strides=(4, 8, 16, 32),
        drop_path_rate=0.1,
        reversible=True,
        # Fine-tune from the previous step of the chain (README "From
        # pre-training to a RevColV2 dense model"):
        #   --cfg-options model.backbone.init_cfg.checkpoint=CLS.pth
        #                 model.backbone.init_cfg.fill_from=MIM.pth
        # A classification checkpoint lacks the top-down levels that cannot
        # reach the pooled top level; fill_from, the pre-trained checkpoint
        # it started from, supplies them (the log lists which keys came from
        # which file). Without any checkpoint, training refuses to start.
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.', fill_from=None)),
    decode_head=dict(in_channels=[embed_dims] * 4, num_classes=150),
    auxiliary_head=dict(in_channels=embed_dims, in_index=2, num_classes=150))
