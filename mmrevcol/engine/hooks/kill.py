"""Pre-emption drill: SIGKILL a training run right after a given checkpoint.

``MMREVCOL_KILL_AFTER_CHECKPOINT=iter_40.pth python tools/train.py ...``
(or ``epoch_2.pth``, any checkpoint file name the run's ``CheckpointHook``
writes) makes ``tools/train.py`` add :class:`KillAfterCheckpointHook`, which
kills the run the moment that checkpoint and ``last_checkpoint`` are
written, as a pre-empted job dies: no ``after_train`` hooks, no clean-up.
Resuming it (``--resume``) must then give the run that was started; the
resume tests use it, and so can a user rehearsing pre-emption on a cluster.
"""
import os
import os.path as osp
import signal
import socket
import sys
from typing import List

from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook

from ...registry import register_everywhere

#: Environment variable that enables the hook in ``tools/train.py``.
KILL_ENV = 'MMREVCOL_KILL_AFTER_CHECKPOINT'


@register_everywhere('HOOKS')
class KillAfterCheckpointHook(Hook):
    """Send SIGKILL right after the checkpoint named ``checkpoint`` has been
    written (``LOWEST`` priority: after the ``CheckpointHook`` of that
    iteration or epoch, so the file and ``last_checkpoint`` are complete).

    Single process: the process kills itself. Distributed (world size > 1):
    rank 0, which writes the checkpoints, kills the whole job on its node,
    as a pre-empted node loses it: the process group of the ``torchrun``
    launcher (``tools/dist_train.sh``; recognised by ``TORCHELASTIC_RUN_ID``;
    torchrun starts each rank in a session of its own, so the ranks are
    killed by the process ids gathered in ``before_train``), every rank on
    the node, and itself. Ranks on other nodes fail at their next collective
    (a short ``env_cfg.dist_cfg.timeout`` bounds the wait). Start such a job
    in a process group of its own (``setsid``, or
    ``subprocess.Popen(start_new_session=True)``), not in one shared with
    processes that must survive.

    Args:
        checkpoint (str): File name of the checkpoint, e.g. ``'iter_40.pth'``
            or ``'epoch_2.pth'`` (a name, not a path).
    """
    priority = 'LOWEST'

    def __init__(self, checkpoint: str) -> None:
        if not isinstance(checkpoint, str) or not checkpoint or \
                osp.basename(checkpoint) != checkpoint:
            raise ValueError(
                f'checkpoint must be a checkpoint file name such as '
                f'iter_40.pth or epoch_2.pth (no folder), but got '
                f'{checkpoint!r}')
        self.checkpoint = checkpoint
        self._local_pids: List[int] = []

    def before_train(self, runner) -> None:
        """All ranks: note the process ids of the ranks on rank 0's node."""
        _, world_size = get_dist_info()
        if world_size > 1:
            ranks = all_gather_object((socket.gethostname(), os.getpid()))
            host = ranks[0][0]
            self._local_pids = [pid for h, pid in ranks if h == host]

    @classmethod
    def from_env(cls) -> 'KillAfterCheckpointHook':
        """Build from :data:`KILL_ENV`."""
        value = os.environ.get(KILL_ENV, '')
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f'{KILL_ENV} must be a checkpoint file name such as '
                f'iter_40.pth or epoch_2.pth, but got {value!r}') from None

    def _maybe_kill(self, runner) -> None:
        last = runner.message_hub.get_info('last_ckpt', None)
        if last is None or osp.basename(str(last)) != self.checkpoint:
            return
        rank, world_size = get_dist_info()
        if rank != 0:
            return  # rank 0 writes the file and kills everyone after it
        runner.logger.warning(
            f'{KILL_ENV}={self.checkpoint}: killing the run with SIGKILL '
            f'after {last} was written')
        for handler in runner.logger.handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        if world_size > 1:
            if 'TORCHELASTIC_RUN_ID' in os.environ:  # torchrun's own group
                os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
            for pid in self._local_pids:
                if pid != os.getpid():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        os.kill(os.getpid(), signal.SIGKILL)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Kill after an iteration-based checkpoint of that name."""
        self._maybe_kill(runner)

    def after_train_epoch(self, runner) -> None:
        """Kill after an epoch-based checkpoint of that name."""
        self._maybe_kill(runner)
