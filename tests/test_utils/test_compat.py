"""mmrevcol.utils.compat: the torch-version differences, decided in one place.

Each function is tested on the installed torch and, where torch >= 2.4 has
the newer API, also through the branch older torch takes (the flag that picks
the branch is patched), so both branches run on every CI stack.
"""
import io
import os
import pickle
import warnings
from collections import OrderedDict

import pytest
import torch

from mmrevcol.utils import compat

from tests.helpers import WritesAFile as _WritesAFile


class _Allowed:
    """A class that only an explicit allow-list lets through."""

    def __init__(self, value):
        self.value = value


def _saved(obj, legacy=False):
    buffer = io.BytesIO()
    # legacy: one plain pickle stream, so a test can edit the bytes (the zip
    # format checks a CRC)
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    buffer.seek(0)
    return buffer


@pytest.fixture(params=['installed', 'before-2.6'])
def load_path(request, monkeypatch):
    """Run a test with the installed torch's weights-only loading and with
    the restricted unpickler that torch < 2.6 gets."""
    if request.param == 'installed':
        return compat.NAMED_SAFE_GLOBALS
    monkeypatch.setattr(compat, 'NAMED_SAFE_GLOBALS', False)
    return False


@pytest.mark.parametrize('text,expected', [
    ('2.1.2', (2, 1, 2)),
    ('2.1.2+cu121', (2, 1, 2)),
    ('2.6.0a0+git1234', (2, 6, 0)),
    ('2.13', (2, 13, 0)),
    ('3.0.0.dev20250101', (3, 0, 0)),
])
def test_parse_version(text, expected):
    assert compat.parse_version(text) == expected
    with pytest.raises(ValueError, match='cannot read a version'):
        compat.parse_version('nightly')


def test_flags_follow_the_installed_torch():
    assert compat.TORCH_VERSION == compat.parse_version(torch.__version__)
    assert compat.TORCH_VERSION >= (2, 0, 0)
    assert compat.AUTOCAST_TAKES_DEVICE_TYPE == (compat.TORCH_VERSION >=
                                                 (2, 4, 0))
    assert compat.NAMED_SAFE_GLOBALS == (compat.TORCH_VERSION >= (2, 6, 0))
    assert compat.WEIGHTS_ONLY_BY_DEFAULT == compat.NAMED_SAFE_GLOBALS


@pytest.mark.parametrize('old_branch', [False, True])
def test_autocast_state(old_branch, monkeypatch):
    if old_branch:
        monkeypatch.setattr(compat, 'AUTOCAST_TAKES_DEVICE_TYPE', False)
    with warnings.catch_warnings():
        # torch >= 2.4 deprecates the per-device functions of the old branch
        warnings.simplefilter('ignore', DeprecationWarning)
        enabled, dtype = compat.autocast_state('cpu')
        assert enabled is False and isinstance(dtype, torch.dtype)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert compat.autocast_state('cpu') == (True, torch.bfloat16)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=False):
            assert compat.autocast_state('cpu')[0] is False
        assert compat.autocast_state('cpu') == (enabled, dtype)
        # the cuda state is readable without a GPU
        assert compat.autocast_state('cuda')[0] is False
    if old_branch:
        with pytest.raises(ValueError, match="cpu and cuda only, not of 'xp"):
            compat.autocast_state('xpu')


def test_autocast_state_restores_through_torch_autocast():
    """What reversible.py does: capture, then re-enter in another context."""
    with torch.autocast('cpu', dtype=torch.bfloat16):
        captured = compat.autocast_state('cpu')
    enabled, dtype = captured
    with torch.autocast('cpu', dtype=dtype, enabled=enabled):
        out = torch.nn.functional.linear(torch.randn(2, 3), torch.randn(4, 3))
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize('old_branch', [False, True])
def test_fork_rng(old_branch, monkeypatch):
    if old_branch:
        monkeypatch.setattr(compat, 'FORK_RNG_TAKES_DEVICE_TYPE', False)
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    with compat.fork_rng([], device_type='cuda'):
        torch.rand(5)  # drawn on the fork, lost afterwards
    torch.testing.assert_close(torch.rand(3), expected)
    if old_branch:
        with pytest.raises(ValueError, match="cuda devices only"):
            compat.fork_rng([0], device_type='xpu')
        with compat.fork_rng([], device_type='xpu'):  # CPU only: fine
            pass


def test_meta_and_default_device():
    with compat.meta_device():
        layer = torch.nn.Linear(3, 4)
    assert layer.weight.device.type == 'meta'
    with compat.default_device('cpu'):
        assert torch.empty(1).device.type == 'cpu'
    assert torch.empty(1).device.type == 'cpu'


def test_add_safe_globals_where_torch_takes_them():
    assert compat.add_safe_globals([]) is compat.NAMED_SAFE_GLOBALS


def test_weights_only_globals_complete_old_torch():
    allowed = compat.weights_only_globals()
    for name in ('collections.OrderedDict', 'torch._utils._rebuild_tensor_v2',
                 'torch.Size', 'builtins.set', '_codecs.encode',
                 'torch.bfloat16', 'torch.bool', 'torch.device'):
        assert name in allowed, name
    assert 'builtins.eval' not in allowed
    assert 'builtins.getattr' not in allowed
    assert 'os.system' not in allowed


def test_load_weights_only_plain_checkpoint(load_path):
    obj = dict(state_dict=OrderedDict(w=torch.arange(4.)), step=3,
               tags={'a', 'b'}, raw=b'\x00\x01', dtype=torch.bfloat16,
               size=torch.Size([2, 2]), param=torch.nn.Parameter(
                   torch.ones(2)))
    for safe_globals in ((), [_Allowed]):
        loaded = compat.load_weights_only(_saved(obj), map_location='cpu',
                                          safe_globals=safe_globals)
        torch.testing.assert_close(loaded['state_dict']['w'],
                                   torch.arange(4.))
        assert loaded['tags'] == {'a', 'b'} and loaded['raw'] == b'\x00\x01'
        assert loaded['dtype'] is torch.bfloat16
        assert isinstance(loaded['param'], torch.nn.Parameter)


def test_load_weights_only_honours_safe_globals(load_path):
    data = _saved(dict(x=_Allowed(7)), legacy=True).getvalue()
    with pytest.raises(pickle.UnpicklingError):
        compat.load_weights_only(io.BytesIO(data), safe_globals=[OrderedDict])
    loaded = compat.load_weights_only(io.BytesIO(data),
                                      safe_globals=[_Allowed])
    assert isinstance(loaded['x'], _Allowed) and loaded['x'].value == 7
    # an (object, 'module.name') pair: the name in the file maps to another
    # object
    renamed = data.replace(b'_Allowed', b'_Renamed')
    loaded = compat.load_weights_only(
        io.BytesIO(renamed),
        safe_globals=[(_Allowed, f'{__name__}._Renamed')])
    assert type(loaded['x']) is _Allowed


def test_load_weights_only_refuses_code(load_path, tmp_path):
    marker = tmp_path / 'marker'
    data = _saved(dict(x=_WritesAFile(str(marker)))).getvalue()
    for safe_globals in ((), [_Allowed]):
        with pytest.raises(pickle.UnpicklingError):
            compat.load_weights_only(io.BytesIO(data),
                                     safe_globals=safe_globals)
    assert not marker.exists()
    # the same file does run code without the restriction
    torch.load(io.BytesIO(data), weights_only=False)
    assert marker.read_text() == 'pwned'


def test_restricted_pickle_module_refuses_every_other_global(tmp_path):
    module = compat.restricted_pickle_module({'builtins.set': set})
    assert module.load(io.BytesIO(pickle.dumps({1, 2}, protocol=2))) == {1, 2}
    for payload in (pickle.dumps(os.system, protocol=2),
                    pickle.dumps(_WritesAFile(str(tmp_path / 'm'))),
                    pickle.dumps(OrderedDict(a=1), protocol=0)):
        with pytest.raises(pickle.UnpicklingError,
                           match='weights-only load refused the global'):
            module.load(io.BytesIO(payload))
    assert not (tmp_path / 'm').exists()
