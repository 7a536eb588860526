"""Refuse to fine-tune from random weights by accident."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...registry import register_everywhere


@register_everywhere('HOOKS')
class PretrainedWeightsCheckHook(Hook):
    """Stop a run before its first iteration when the backbone's
    ``init_cfg`` asks for pre-trained weights (``type='Pretrained'``,
    ``checkpoint=None``) and neither ``load_from`` nor a resumed checkpoint
    brought them (see
    :meth:`~mmrevcol.models.columns.ColumnBackboneMixin.check_weights_loaded`).

    ``before_train`` runs after mmengine initialised the weights and loaded
    or resumed a checkpoint, so it sees the final state. ``tools/train.py``
    adds it to every run; the backbones' training forward makes the same
    check for runs started elsewhere. Models whose backbone is not a
    RevCol / RevColV2 are left alone.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        backbone = getattr(model, 'backbone', None)
        check = getattr(backbone, 'check_weights_loaded', None)
        if check is not None:
            check()
