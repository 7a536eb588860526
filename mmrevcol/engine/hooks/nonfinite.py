"""Stop training at the first non-finite loss or gradient."""
import math
from numbers import Number
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict

from ...registry import register_everywhere


class NonFiniteTrainingError(FloatingPointError):
    """A loss term or a gradient of a training step is NaN or Inf."""


def _non_finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return not bool(torch.isfinite(value.detach()).all())
    if isinstance(value, Number) and not isinstance(value, bool):
        return not math.isfinite(float(value))
    return False


def _fmt(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach().float()
        value = value.item() if value.numel() == 1 else value.tolist()
    return f'{value:.4g}' if isinstance(value, float) else str(value)


@register_everywhere('HOOKS')
class NonFiniteGuardHook(Hook):
    """Stop training with a clear error at the first NaN/Inf loss term or
    gradient, before the optimizer applies it and before a checkpoint of
    the broken step can be written.

    How it sees the gradients: mmengine's ``OptimWrapper.update_params``
    runs ``backward``, ``step`` and ``zero_grad`` inside ``train_step``, so
    the gradients are gone by ``after_train_iter``. In ``before_train`` the
    hook wraps the ``step`` method *of the runner's optimizer wrapper
    instance* (each wrapper of an ``OptimWrapperDict``; the class and the
    config are unchanged, and ``after_train`` restores the method). Before
    each real step the wrapper checks every gradient of the optimizer's
    parameters (one device flag per device, one host sync per step):

    * plain ``OptimWrapper`` (and any wrapper without an enabled loss
      scaler): non-finite gradients are a failure. The step is not taken
      (the parameters and the optimizer state stay those of the last good
      step), and ``after_train_iter`` raises
      :class:`NonFiniteTrainingError` naming the iteration, every loss
      term and the first offending parameters.
    * ``AmpOptimWrapper`` (enabled ``GradScaler``): inf/NaN gradients are
      how dynamic loss scaling finds the scale too large; the scaler skips
      that step and lowers the scale. The hook lets it, counts the skipped
      steps (``runner.message_hub`` scalar ``train/skipped_steps``, the
      total so far) and logs each one; it is not a failure.

    In every mode a non-finite *loss term* in the outputs of
    ``train_step`` (keys containing ``'loss'``) is a failure: loss scaling
    only rescales gradients, it cannot repair the forward.

    The hook runs ``after_train_iter`` at priority ``'HIGHEST'``, so it
    raises before any other hook of that iteration runs: the
    ``CheckpointHook`` (priority ``'VERY_LOW'``) never saves the failed
    iteration and the last good checkpoint is left untouched.
    :func:`mmrevcol.apis.run_train` (``tools/train.py``) adds it to every
    run whose config does not have it already; other runners can add it
    from a config::

        custom_hooks = [dict(type='NonFiniteGuardHook')]

    Args:
        max_names (int): How many offending parameter names the error lists
            (the first ones in the model's parameter order). Defaults to 5.
        log_skipped (bool): Log a line for each step the AMP loss scaler
            skips. Defaults to True.
    """
    priority = 'HIGHEST'

    def __init__(self, max_names: int = 5, log_skipped: bool = True):
        if (not isinstance(max_names, int) or isinstance(max_names, bool)
                or max_names < 1):
            raise ValueError(f'NonFiniteGuardHook: max_names must be an int '
                             f'>= 1 (how many offending parameter names the '
                             f'error lists), got {max_names!r}')
        if not isinstance(log_skipped, bool):
            raise TypeError(f'NonFiniteGuardHook: log_skipped must be a '
                            f'bool, got {log_skipped!r}')
        self.max_names = max_names
        self.log_skipped = log_skipped
        #: Steps the AMP loss scaler skipped so far in this run.
        self.skipped_steps = 0
        self._names: Dict[int, str] = {}
        self._patched: List[Tuple[OptimWrapper, object]] = []
        self._bad_params: Optional[List[str]] = None
        self._skipped_now = False
        self._amp = False

    # ------------------------------------------------------------ wiring
    @staticmethod
    def _wrappers(optim_wrapper) -> List[OptimWrapper]:
        if isinstance(optim_wrapper, OptimWrapperDict):
            return list(optim_wrapper.values())
        if isinstance(optim_wrapper, OptimWrapper):
            return [optim_wrapper]
        return []

    def before_train(self, runner) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        self._names = {id(p): n for n, p in model.named_parameters()}
        for wrapper in self._wrappers(getattr(runner, 'optim_wrapper', None)):
            if '_nonfinite_guard' in vars(wrapper):
                continue  # a second instance of this hook: one guard is
                # enough
            original = wrapper.step
            wrapper.step = self._guarded_step(wrapper, original)
            wrapper._nonfinite_guard = self
            self._patched.append((wrapper, original))
            self._amp = self._amp or self._scaler_enabled(wrapper)

    def after_train(self, runner) -> None:
        for wrapper, _ in self._patched:
            vars(wrapper).pop('step', None)
            vars(wrapper).pop('_nonfinite_guard', None)
        self._patched = []

    @staticmethod
    def _scaler_enabled(wrapper: OptimWrapper) -> bool:
        scaler = getattr(wrapper, 'loss_scaler', None)
        is_enabled = getattr(scaler, 'is_enabled', None)
        return scaler is not None and (is_enabled is None or is_enabled())

    def _guarded_step(self, wrapper: OptimWrapper, original):

        def step(**kwargs):
            bad = self.find_non_finite_grads(wrapper.optimizer)
            if not bad:
                return original(**kwargs)
            if self._scaler_enabled(wrapper):
                # the scaler finds the same infs, skips the step and backs
                # the scale off: normal under dynamic loss scaling
                self._skipped_now = True
                return original(**kwargs)
            self._bad_params = (self._bad_params or []) + bad
            return None  # not taken: the parameters stay finite

        return step

    # ----------------------------------------------------------- checks
    def find_non_finite_grads(self, optimizer) -> List[str]:
        """Names of the parameters of ``optimizer`` with a non-finite
        gradient, in model order (empty when all are finite).

        Computes one flag per device and syncs once; the names are only
        looked up when a flag is set.
        """
        by_device: Dict[torch.device, List[torch.Tensor]] = {}
        for group in optimizer.param_groups:
            for p in group['params']:
                if p.grad is not None:
                    by_device.setdefault(p.grad.device, []).append(p)
        if not by_device:
            return []
        flags = [
            torch.stack([torch.isfinite(p.grad).all() for p in params]).all()
            for params in by_device.values()
        ]
        device = flags[0].device
        if bool(torch.stack([f.to(device) for f in flags]).all().item()):
            return []
        bad = [p for params in by_device.values() for p in params
               if not bool(torch.isfinite(p.grad).all())]
        order = {pid: k for k, pid in enumerate(self._names)}
        bad.sort(key=lambda p: order.get(id(p), len(order)))
        return [self._names.get(id(p), f'<unnamed {tuple(p.shape)}>')
                for p in bad]

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        bad_params, self._bad_params = self._bad_params, None
        skipped, self._skipped_now = self._skipped_now, False
        outputs = outputs if isinstance(outputs, dict) else {}
        bad_losses = [k for k, v in outputs.items()
                      if 'loss' in k and _non_finite(v)]
        if bad_losses or bad_params:
            terms = ', '.join(f'{k}={_fmt(v)}' for k, v in outputs.items())
            lines = [f'NonFiniteGuardHook: training stopped at iteration '
                     f'{runner.iter + 1} (epoch {runner.epoch + 1}): ']
            if bad_losses:
                lines.append(f'non-finite loss terms {", ".join(bad_losses)}'
                             f'; ')
            if bad_params:
                shown = ', '.join(bad_params[:self.max_names])
                more = (f' and {len(bad_params) - self.max_names} more'
                        if len(bad_params) > self.max_names else '')
                lines.append(f'{len(bad_params)} parameters got non-finite '
                             f'gradients, first: {shown}{more}; the '
                             f'optimizer step was not taken; ')
            lines.append(
                f'loss terms: {terms or "none"}. No checkpoint of this '
                f'iteration is written; the last one saved is intact. Likely '
                f'causes: a learning rate too high, fp16 without a loss '
                f'scaler (use --amp / AmpOptimWrapper, or bf16), or a corrupt '
                f'input image in this batch.')
            raise NonFiniteTrainingError(''.join(lines))
        if skipped:
            self.skipped_steps += 1
            if self.log_skipped:
                scaler = None
                for wrapper in self._wrappers(runner.optim_wrapper):
                    scaler = getattr(wrapper, 'loss_scaler', scaler)
                scale = (f'; loss scale now {scaler.get_scale():g}'
                         if scaler is not None else '')
                print_log(
                    f'NonFiniteGuardHook: iteration {runner.iter + 1}: the '
                    f'AMP loss scaler skipped the optimizer step (non-finite '
                    f'scaled gradients){scale}; {self.skipped_steps} steps '
                    f'skipped so far', logger='current', level=30)
        if self._amp:
            runner.message_hub.update_scalar('train/skipped_steps',
                                             self.skipped_steps)
