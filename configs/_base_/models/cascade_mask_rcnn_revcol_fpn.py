# Cascade Mask R-CNN + FPN with a RevCol (V1) backbone: the four levels of the
# last column (strides 4/8/16/32) feed the stock FPN (RevCol, "Reversible
# Column Networks", arXiv 2212.11696, sec. 3.2). Built on the stock mmdet
# model. The box heads are those of the official RevCol detection configs
# (the ConvNeXt Cascade Mask R-CNN recipe: 4 shared convs + 1 fc, SyncBN,
# GIoU loss); the RevCol paper does not list head details.
_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py']

custom_imports = dict(imports=['mmrevcol'], allow_failed_imports=False)

channels = [64, 128, 256, 512]  # RevCol-T, RevCol sec. 3
model = dict(
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
    neck=dict(in_channels=channels),
    roi_head=dict(bbox_head=[
        dict(
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=stds),
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        # the three cascade stages differ only in their box target stds
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                     [0.033, 0.033, 0.067, 0.067])
    ]))
