"""Watch the reversible backbone's reconstruction error during training."""
import math
from typing import List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ...models.reversible import column_backbone, reconstruction_errors
from ...registry import register_everywhere
from ...utils.compat import fork_rng


@register_everywhere('HOOKS')
class ReversibleErrorHook(Hook):
    """Log how well the reversible backward rebuilds the backbone's columns.

    The reversible backward rebuilds column states with the inverse, whose
    rounding errors grow with depth and under low-precision autocast (see
    :mod:`mmrevcol.models.reversible`). How much depends on the weights, so
    it can drift as training goes. Every ``interval`` training iterations
    this hook takes the first ``num_images`` images of that iteration's
    batch and runs
    :func:`~mmrevcol.models.reconstruction_errors` with the backbone's
    ``keep_states_every``, under the optimizer wrapper's autocast (AMP
    included). Drop path is off while it measures, and the RNG state is
    restored afterwards, so the training run is unchanged. It logs
    ``log10`` of the worst rebuilt column's error as
    ``rev_recon_error_log10`` (the errors span orders of magnitude, and the
    log line prints 4 decimals: -5.5 is 3e-6; the log line shows the
    LogProcessor's window mean), and warns when the error goes over
    ``warn_threshold``.

    Add it to any config whose ``model.backbone`` is a RevCol / RevColV2::

        custom_hooks = [dict(type='ReversibleErrorHook', interval=500)]

    Args:
        interval (int): Check every ``interval`` training iterations.
            Defaults to 500.
        warn_threshold (float): Warn when the error is above this value
            (relative to the largest state magnitude). Defaults to 1e-2.
        num_images (int): Images of the batch to measure on. Defaults to 1.
    """
    priority = 'NORMAL'  # before LoggerHook, so the value logs this iter

    def __init__(self,
                 interval: int = 500,
                 warn_threshold: float = 1e-2,
                 num_images: int = 1):
        for name, value in (('interval', interval),
                            ('num_images', num_images)):
            if (not isinstance(value, int) or isinstance(value, bool)
                    or value < 1):
                raise ValueError(f'{name} must be an int >= 1, got '
                                 f'{value!r}')
        if (isinstance(warn_threshold, bool)
                or not isinstance(warn_threshold, (int, float))
                or warn_threshold < 0):
            raise ValueError(f'warn_threshold must be a number >= 0, got '
                             f'{warn_threshold!r}')
        self.interval = interval
        self.warn_threshold = float(warn_threshold)
        self.num_images = num_images
        #: Per-column errors of the last check (first column first).
        self.last_errors: Optional[List[float]] = None

    @staticmethod
    def _unwrap(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        column_backbone(self._unwrap(runner), 'ReversibleErrorHook')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if data_batch is None or not self.every_n_train_iters(
                runner, self.interval):
            return
        worst = self.measure(runner, data_batch)
        runner.message_hub.update_scalar('train/rev_recon_error_log10',
                                         math.log10(max(worst, 1e-30)))
        if worst > self.warn_threshold:
            backbone = self._unwrap(runner).backbone
            print_log(
                f'ReversibleErrorHook: at iteration {runner.iter + 1} the '
                f'reversible backward rebuilds a column with a relative '
                f'error of {worst:.2e} (> {self.warn_threshold:g}; per '
                f'column: {", ".join(f"{e:.1e}" for e in self.last_errors)})'
                f'. Gradients of the early columns are that much off: lower '
                f'model.backbone.keep_states_every (now '
                f'{backbone.keep_states_every}) or train in fp32.',
                logger='current', level=30)

    @torch.no_grad()
    def measure(self, runner, data_batch) -> float:
        """Measure on ``data_batch`` and return the worst column's error."""
        model = self._unwrap(runner)
        backbone = model.backbone
        param = next(backbone.parameters())
        devices = [param.device.index or 0] if param.is_cuda else []
        was_training = backbone.training
        backbone.eval()  # no drop path: the inverse must see the same F
        try:
            # the training-mode preprocessing (padding to the crop, batch
            # augments) may draw random numbers: keep them off the stream
            with fork_rng(devices, device_type='cuda'):
                data = model.data_preprocessor(data_batch, True)
                inputs = data['inputs'][:self.num_images]
                with runner.optim_wrapper.optim_context(model):
                    self.last_errors = reconstruction_errors(
                        backbone.stages(), backbone.embed(inputs),
                        keep_every=backbone.keep_states_every)
        finally:
            backbone.train(was_training)
        return max(self.last_errors, default=0.0)
