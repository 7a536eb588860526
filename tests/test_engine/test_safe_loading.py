"""mmrevcol.engine.enable_safe_checkpoint_loading: the explicit call that makes
mmengine read local checkpoints weights-only, on every torch version.

Importing mmrevcol changes nothing about loading. After the call, mmengine's
``load_checkpoint`` refuses a pickle that would run code and a real Runner
checkpoint still resumes. Each test runs with the installed torch's loading
and with the restricted unpickler torch < 2.6 gets.
"""
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.runner import CheckpointLoader, load_checkpoint
from mmengine.runner.checkpoint import load_from_local

from mmrevcol.engine import enable_safe_checkpoint_loading
from mmrevcol.engine.checkpoint_compat import load_from_local_weights_only
from mmrevcol.utils import compat

from tests.helpers import WritesAFile as _WritesAFile
from tests.test_engine.test_checkpoint_compat import _build_runner, _RecordResumedState
from tests.helpers import ROOT

ROOT = ROOT


@pytest.fixture
def mmengine_loader():
    """Run the test with mmengine's own local loader (an earlier test in the
    process may have made the call already) and restore what was there."""
    before = _local_loader()
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    yield
    CheckpointLoader.register_scheme(prefixes='', loader=before, force=True)


@pytest.fixture(params=['installed', 'before-2.6'])
def torch_path(request, monkeypatch, mmengine_loader):
    if request.param == 'before-2.6':
        monkeypatch.setattr(compat, 'NAMED_SAFE_GLOBALS', False)
    return request.param


def _local_loader():
    return CheckpointLoader._get_checkpoint_loader('/some/where.pth')


def test_import_changes_no_loading():
    code = '\n'.join([
        'import torch',
        'from mmengine.runner import CheckpointLoader',
        'import mmrevcol',
        "loader = CheckpointLoader._get_checkpoint_loader('/x.pth')",
        "assert loader.__name__ == 'load_from_local', loader",
        "if hasattr(torch.serialization, 'get_safe_globals'):",
        '    import numpy',
        '    from mmengine.logging import HistoryBuffer',
        '    safe = torch.serialization.get_safe_globals()',
        '    for entry in (HistoryBuffer, numpy.ndarray, numpy.dtype):',
        '        assert entry not in safe, entry',
        '    assert not any(isinstance(e, tuple) for e in safe), safe',
        "print('ok')",
    ])
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == 'ok', \
        proc.stdout + proc.stderr


def test_the_call_installs_the_local_loader(mmengine_loader):
    assert _local_loader() is load_from_local
    enable_safe_checkpoint_loading()
    enable_safe_checkpoint_loading()  # idempotent
    assert _local_loader() is load_from_local_weights_only
    # other schemes keep mmengine's loaders
    assert CheckpointLoader._get_checkpoint_loader(
        'https://x/y.pth').__name__ == 'load_from_http'
    with pytest.raises(FileNotFoundError, match='can not be found'):
        load_from_local_weights_only('/no/such/file.pth')


def test_malicious_checkpoint_is_refused(torch_path, tmp_path):
    model = nn.Linear(2, 2)
    marker = tmp_path / 'marker'
    ckpt = tmp_path / 'evil.pth'
    torch.save(
        dict(state_dict=model.state_dict(),
             meta=dict(note=_WritesAFile(str(marker)))), ckpt)
    if not compat.WEIGHTS_ONLY_BY_DEFAULT:
        # the file is real: mmengine's own loader runs its code on this torch
        load_checkpoint(nn.Linear(2, 2), str(ckpt), map_location='cpu')
        assert marker.read_text() == 'pwned'
        marker.unlink()
    enable_safe_checkpoint_loading()
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(nn.Linear(2, 2), str(ckpt), map_location='cpu')
    assert not marker.exists()
    # a weights-only file next to it loads
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=3)),
               tmp_path / 'fine.pth')
    other = nn.Linear(2, 2)
    loaded = load_checkpoint(other, str(tmp_path / 'fine.pth'),
                             map_location='cpu')
    assert loaded['meta']['iter'] == 3
    torch.testing.assert_close(other.weight, model.weight)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 2-iteration Runner run (AdamW + OneCycleLR, numpy metrics,
    save_best): its checkpoint holds all that mmengine writes."""
    work_dir = str(tmp_path_factory.mktemp('safe_run'))
    _build_runner(work_dir, 2, 'safe_first').train()
    return osp.join(work_dir, 'iter_2.pth')


def test_runner_checkpoint_resumes(torch_path, trained, tmp_path):
    enable_safe_checkpoint_loading()
    saved = load_from_local_weights_only(trained, 'cpu')
    assert isinstance(saved['message_hub']['runtime_info']['best_score'],
                      np.floating)
    record = _RecordResumedState()
    runner = _build_runner(
        str(tmp_path / 'resumed'), 4, f'safe_resumed_{torch_path}',
        resume=True, load_from=trained, val_interval=100, hooks=[record])
    runner.train()
    assert record.iter == 2 and runner.iter == 4
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(record.model[key], value)
    assert record.schedulers[0] == saved['param_schedulers'][0]
    np.testing.assert_allclose(
        record.loss_history,
        saved['message_hub']['log_scalars']['train/loss'].data[0])
    assert record.best_score == saved['message_hub']['runtime_info'][
        'best_score']
    for state in record.optimizer['state'].values():
        assert int(state['step']) == 2
