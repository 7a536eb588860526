# Reversible backbones compute their parameter gradients in their own backward
# (mmrevcol.models.reversible), and the pre-training model builds nothing its
# loss does not use: DDP must not search for unused parameters. Every RevCol /
# RevColV2 config inherits this one setting from here.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
