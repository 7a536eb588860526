# RevColV2-B + Mask2Former on ADE20K, 640x640, 160k iterations.
# RevColV2 (arXiv 2309.01005) Table 3 (ImageNet-1K + ImageNet-22K column): 54.9
# mIoU single-scale / 55.8 multi-scale, 325M params. Both Mask2Former results
# of the paper are IN-22K results, and the paper's IN-22K ADE20K runs use
# 640x640 inputs (RevColV2 sec. 3.1.3), hence the stock mmseg IN-22K 640x640
# Mask2Former config as the base.
# Settings from RevColV2 App. B.4 and its supplementary sec. 1.4: lr 2e-5,
# batch 16, AdamW, layer-wise lr decay 0.9, drop path 0.3, 160k iterations.
# Not in the paper:
# - the head width. The stock head is 256 channels wide (~20M params); the
#   totals of Table 3 (325M for V2-B, 570M for V2-L, i.e. ~225M besides the
#   backbone for both sizes) are reached with 1024-channel pixel decoder and
#   transformer decoder (the width ViT-Adapter uses for its Mask2Former
#   ADE20K models), with 32 heads (head dim 32 as in the stock head) and
#   4096-channel FFNs. Measured totals: see the model index (README).
# - everything else of the head, the loss, the 0.01 gradient clipping, the
#   poly schedule (power 0.9, no warm-up) and the weight-decay rules are the
#   stock mmseg Mask2Former recipe; the test is a 640x640 sliding window
#   (stride 426) as in the RevColV2 UperNet configs, because the position
#   embeddings are interpolated once to the 640x640 training size (the
#   data preprocessor must not pad test images: Mask2FormerHead would then
#   resize each window's masks to the padded image size).
#
# Fine-tune from an ImageNet fine-tuned classifier of the IN-22K chain (we
# read sec. 3.1.3's "ImageNet-1k classification fine-tuned models" as
# revcolv2_b_in22k-pre_in1k.py; revcolv2_b_in22k.py loads the same way) plus
# the MIM pre-trained backbone it started from:
#   --cfg-options model.backbone.init_cfg.checkpoint=CLS.pth
#                 model.backbone.init_cfg.fill_from=MIM.pth
# (its 224-size position embeddings are interpolated to 640 when loading).
_base_ = [
    'mmseg::mask2former/'
    'mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py'
]

custom_imports = dict(
    imports=['mmdet.models', 'mmrevcol'], allow_failed_imports=False)

crop_size = (640, 640)
embed_dims = 416
head_dims = 1024  # see the note above
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

# Layer-wise lr decay: the decay rate (0.9) is the paper's (App. B.4); the
# depth rule that assigns the layer depths is ours (RevColV2.get_layer_depth:
# bottom-up columns by column + block index, top-down columns continue after
# the deepest bottom-up block, so depth grows along the data path), because the
# paper does not publish its rule.
#
# Layer-wise lr decay through the backbone's get_layer_depth (the same
# constructor as every mmrevcol config); it replaces the stock backbone
# lr_mult=0.1. Norm weights, biases, position and query/level embeddings get
# no weight decay (the constructor's flat_decay_mult=0 and the backbone's
# no_weight_decay(), plus the stock custom keys).
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

# batch 16 = 2 images per GPU x 8 GPUs (the stock dataloader). Reversible
# backbones compute their parameter gradients in their own backward: DDP must
# not search for unused parameters.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
