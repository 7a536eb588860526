# RevColV2-B + Mask2Former on ADE20K, 640x640, 160k iterations (IN-22K chain).
# Target: RevColV2 (arXiv 2309.01005) Table 3 (IN-1K + IN-22K), 54.9 mIoU
# single-scale / 55.8 multi-scale.
# Settings and assumptions: configs/revcolv2/README.md
_base_ = [
    '../_base_/reversible_ddp.py',
    'mmseg::mask2former/'
    'mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py'
]

custom_imports = dict(
    imports=['mmdet.models', 'mmrevcol'], allow_failed_imports=False)

crop_size = (640, 640)
embed_dims = 416
head_dims = 1024  # not in the paper, see the README
head_heads = 32
head_ffn = 4096

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='RevColV2',
        arch='base',
        img_size=crop_size,
        patch_size=16,
        out_indices=(0, 1, 2, 3),
        out_strides=(4, 8, 16, 32),
        drop_path_rate=0.3,  # App. B.4
        reversible=True,
        # starts from revcolv2-b_in22k-pre_8xb64-30e_in1k.py + the MIM export
        # (for the levels a classifier lacks):
        #   --cfg-options model.backbone.init_cfg.checkpoint=CLS.pth
        #                 model.backbone.init_cfg.fill_from=MIM.pth
        init_cfg=dict(type='Pretrained', checkpoint=None,
                      prefix='backbone.', fill_from=None)),
    decode_head=dict(
        # the four resized levels of the last top-down column, no adapter
        in_channels=[embed_dims] * 4,
        strides=[4, 8, 16, 32],
        feat_channels=head_dims,
        out_channels=head_dims,
        pixel_decoder=dict(
            encoder=dict(
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=head_dims, num_heads=head_heads),
                    ffn_cfg=dict(
                        embed_dims=head_dims,
                        feedforward_channels=head_ffn))),
            positional_encoding=dict(num_feats=head_dims // 2)),
        positional_encoding=dict(num_feats=head_dims // 2),
        transformer_decoder=dict(
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=head_dims, num_heads=head_heads),
                cross_attn_cfg=dict(
                    embed_dims=head_dims, num_heads=head_heads),
                ffn_cfg=dict(
                    embed_dims=head_dims, feedforward_channels=head_ffn)))),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))

# Layer-wise lr decay 0.9 (App. B.4), in place of the stock backbone
# lr_mult=0.1: the rate is the paper's, the depth rule is ours; no weight
# decay on norms, biases, position, query and level embeddings (README).
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-5, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    constructor='RevColLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.9,  # App. B.4
        custom_keys={
            'query_embed': embed_multi,
            'query_feat': embed_multi,
            'level_embed': embed_multi,
        }))

auto_scale_lr = dict(enable=False, base_batch_size=16)
