"""Every difference between the torch versions mmrevcol runs on, decided here.

mmrevcol supports torch >= 2.0 (``torch.device`` as a context manager,
``Tensor.untyped_storage``, ``F.scaled_dot_product_attention``) and is tested
on torch 2.1 and on the newest torch (see ``tools/bootstrap.sh`` stacks). The
rest of the package calls these functions instead of torch APIs that only
newer versions have:

==========================================  ==================================
newer torch API                             here
==========================================  ==================================
``torch.is_autocast_enabled(device)``,      :func:`autocast_state`
``torch.get_autocast_dtype(device)`` (2.4)
``torch.random.fork_rng(device_type=)``     :func:`fork_rng`
``torch.serialization.add_safe_globals``    :func:`add_safe_globals`,
with ``(object, 'module.name')`` (2.6)      :func:`load_weights_only`
``with torch.device('meta')`` (2.0)         :func:`default_device`,
                                            :func:`meta_device`
``nn.Module.compile`` and a dynamo that     :func:`compile_skip_reason`,
traces ``autograd.Function`` (2.1)          :func:`compile_module`
``dynamo.config.recompile_limit`` (2.6;     :func:`raise_recompile_limit`
``cache_size_limit`` before)
dynamo tracing the column engine (2.13      :func:`whole_model_compile_skip_
verified; 2.1 fails)                        reason`, :func:`is_compiling`
==========================================  ==================================
"""
import _compat_pickle
import inspect
import pickle
import re
import shutil
import sys
import types
from collections import Counter, OrderedDict
from typing import (Any, Callable, ContextManager, Dict, Iterable, List,
                    Optional, Sequence, Tuple, Union)

import torch

#: ``(object, 'module.name')`` pairs or plain classes/functions, as
#: :func:`torch.serialization.add_safe_globals` takes them on torch >= 2.6.
SafeGlobal = Union[Callable, Tuple[Callable, str]]


def parse_version(version: str) -> Tuple[int, ...]:
    """``'2.1.2+cu121'`` -> ``(2, 1, 2)``; ``'2.6.0a0+git1'`` -> ``(2, 6, 0)``.

    Args:
        version (str): A torch version string.

    Returns:
        tuple[int, ...]: The leading numeric release components, padded
        with zeros to at least three.
    """
    release = re.match(r'\d+(?:\.\d+)*', version)
    if release is None:
        raise ValueError(f'cannot read a version from {version!r}')
    parts = tuple(int(p) for p in release.group(0).split('.'))
    return parts + (0, ) * (3 - len(parts))


#: The installed torch's release, e.g. ``(2, 1, 2)``.
TORCH_VERSION = parse_version(torch.__version__)

#: Whether ``torch.is_autocast_enabled`` / ``torch.get_autocast_dtype`` take
#: a device type (torch >= 2.4).
AUTOCAST_TAKES_DEVICE_TYPE = hasattr(torch, 'get_autocast_dtype')

#: Whether torch's weights-only unpickler has an allow-list that takes
#: ``(object, 'module.name')`` pairs (torch >= 2.6; 2.4 and 2.5 have
#: ``add_safe_globals`` but only under the object's own name).
NAMED_SAFE_GLOBALS = (TORCH_VERSION >= (2, 6)
                      and hasattr(torch.serialization, 'add_safe_globals'))

#: Whether ``torch.load`` reads weights-only unless told otherwise
#: (torch >= 2.6).
WEIGHTS_ONLY_BY_DEFAULT = TORCH_VERSION >= (2, 6)


# ----------------------------------------------------------------- autocast
def autocast_state(device_type: str) -> Tuple[bool, Optional[torch.dtype]]:
    """Whether autocast is on for ``device_type`` and its dtype.

    Args:
        device_type (str): ``'cpu'`` or ``'cuda'`` (any type torch knows on
            torch >= 2.4).

    Returns:
        tuple: ``(enabled, dtype)``, what ``torch.autocast(device_type,
        dtype=dtype, enabled=enabled)`` takes to restore the state.
    """
    if AUTOCAST_TAKES_DEVICE_TYPE:
        return (autocast_enabled(device_type),
                torch.get_autocast_dtype(device_type))
    if device_type == 'cpu':
        return autocast_enabled('cpu'), torch.get_autocast_cpu_dtype()
    if device_type == 'cuda':
        return autocast_enabled('cuda'), torch.get_autocast_gpu_dtype()
    raise ValueError(f'torch {torch.__version__} reports the autocast state '
                     f'of cpu and cuda only, not of {device_type!r}')


def autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` (False for a device type
    this torch keeps no autocast state of); cheap enough for a forward and
    traceable by dynamo."""
    if AUTOCAST_TAKES_DEVICE_TYPE:
        return torch.is_autocast_enabled(device_type)
    if device_type == 'cpu':
        return torch.is_autocast_cpu_enabled()
    if device_type == 'cuda':
        return torch.is_autocast_enabled()
    return False


# ---------------------------------------------------------------------- RNG
def _fork_rng_takes_device_type() -> bool:
    try:
        params = inspect.signature(torch.random.fork_rng).parameters
    except (TypeError, ValueError):  # pragma: no cover - C function
        return False
    return 'device_type' in params


FORK_RNG_TAKES_DEVICE_TYPE = _fork_rng_takes_device_type()


def fork_rng(devices: Sequence[int],
             device_type: str = 'cuda') -> ContextManager:
    """:func:`torch.random.fork_rng` for the CPU and ``devices``.

    Args:
        devices (Sequence[int]): Indices of the ``device_type`` devices whose
            generators are forked too (empty: the CPU generator only).
        device_type (str): The accelerator type of ``devices``; torch
            versions without the argument only fork CUDA devices. Defaults to
            ``'cuda'``.

    Returns:
        A context manager that restores the generators' states on exit.
    """
    devices = list(devices)
    if FORK_RNG_TAKES_DEVICE_TYPE:
        return torch.random.fork_rng(devices=devices, device_type=device_type)
    if device_type != 'cuda' and devices:
        raise ValueError(f'torch {torch.__version__} forks the RNG of cuda '
                         f'devices only, not of {device_type!r}')
    return torch.random.fork_rng(devices=devices)


# ----------------------------------------------------------- default device
def default_device(device: Union[str, torch.device]) -> ContextManager:
    """Context in which factory functions (and so module construction)
    allocate on ``device``: ``with torch.device(device)``.

    Args:
        device (str | torch.device): e.g. ``'meta'`` or ``'cpu'``.
    """
    device = torch.device(device)
    if not hasattr(device, '__enter__'):
        raise RuntimeError(f'torch {torch.__version__} cannot use a device '
                           f'as a context manager; mmrevcol needs torch>=2.0')
    return device


def meta_device() -> ContextManager:
    """``with meta_device(): model = ...`` builds parameters without memory
    (shapes and parameter counts only)."""
    return default_device('meta')


# ------------------------------------------------------ weights-only loading
def add_safe_globals(entries: Iterable[SafeGlobal]) -> bool:
    """Add ``entries`` to torch's weights-only allow-list where torch has
    one that takes them (torch >= 2.6).

    Args:
        entries: Classes/functions, or ``(object, 'module.name')`` pairs for
            objects pickled under another name.

    Returns:
        bool: True if they were registered; False on older torch, which
        registers nothing (:func:`load_weights_only` honours ``entries``
        there with its own restricted unpickler).
    """
    if not NAMED_SAFE_GLOBALS:
        return False
    torch.serialization.add_safe_globals(list(entries))
    return True


def _global_name(entry: SafeGlobal) -> Tuple[str, Any]:
    if isinstance(entry, tuple):
        obj, name = entry
        return name, obj
    return f'{entry.__module__}.{entry.__qualname__}', entry


def weights_only_globals() -> Dict[str, Any]:
    """torch's own weights-only allow-list, ``{'module.name': object}``,
    completed with what newer torch allows and older torch lacks (``bytes``,
    ``set``, ``complex``, ``Counter``, ``torch.device``, every dtype).

    Returns:
        dict: a new dict, the caller may add to it.
    """
    from codecs import encode
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = dict(_get_allowed_globals())
    except (ImportError, AttributeError):  # pragma: no cover - other torch
        allowed = {
            'torch._utils._rebuild_tensor_v2': torch._utils._rebuild_tensor_v2,
            'torch._utils._rebuild_parameter': torch._utils._rebuild_parameter,
            'torch.Size': torch.Size,
            'torch.nn.parameter.Parameter': torch.nn.Parameter,
        }
    allowed.update({
        'collections.OrderedDict': OrderedDict,
        'collections.Counter': Counter,
        'torch.device': torch.device,
        '_codecs.encode': encode,  # bytes (pickle protocol 2)
        'builtins.bytearray': bytearray,
        'builtins.set': set,
        'builtins.complex': complex,
    })
    for name in dir(torch):
        value = getattr(torch, name, None)
        if isinstance(value, torch.dtype):
            allowed.setdefault(str(value), value)
    return allowed


def pickle_global_name(module: str, name: str) -> str:
    """``module.name`` of a global as a Python 3 unpickler resolves it:
    protocol-2 pickles (what ``torch.save`` writes) name builtins
    ``__builtin__.set`` and the like (Python 2 names).

    Args:
        module (str): The module in the pickle.
        name (str): The name in the pickle.

    Returns:
        str: e.g. ``'builtins.set'``.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f'{module}.{name}'


def restricted_pickle_module(allowed: Dict[str, Any]) -> types.ModuleType:
    """A ``pickle_module`` for :func:`torch.load` that resolves only the
    globals in ``allowed`` and refuses every other one.

    Every way a pickle reaches a class or function (``GLOBAL``,
    ``STACK_GLOBAL``, ``INST``, ``OBJ``, extension codes) goes through
    ``find_class``, so nothing outside ``allowed`` can be called or built.

    Args:
        allowed (dict): ``{'module.name': object}``.

    Returns:
        module: with ``Unpickler`` and ``load``.
    """

    class WeightsOnlyUnpickler(pickle.Unpickler):

        def find_class(self, module, name):
            full = pickle_global_name(module, name)
            if full in allowed:
                return allowed[full]
            raise pickle.UnpicklingError(
                f'weights-only load refused the global {full}: it is not an '
                f'allow-listed type (torch {torch.__version__}, read by '
                f'mmrevcol.utils.compat.load_weights_only)')

    module = types.ModuleType('mmrevcol_weights_only_pickle')
    module.Unpickler = WeightsOnlyUnpickler
    module.load = lambda f, **kw: WeightsOnlyUnpickler(f, **kw).load()
    module.UnpicklingError = pickle.UnpicklingError
    return module


def load_weights_only(f: Any,
                      map_location: Any = None,
                      safe_globals: Iterable[SafeGlobal] = ()) -> Any:
    """``torch.load(f, map_location, weights_only=True)`` that also accepts
    ``safe_globals``, on every torch version.

    On torch >= 2.6 it is exactly that, with ``safe_globals`` allow-listed
    for the call (``torch.serialization.safe_globals``). On older torch, whose
    weights-only unpickler takes no (named) allow-list and refuses some
    plain values newer torch reads (``set``, ``bytes`` in protocol 2), ``f``
    is read by :func:`restricted_pickle_module` with torch's allow-list
    completed as newer torch has it (:func:`weights_only_globals`) plus
    ``safe_globals``.

    Args:
        f: A path or a file-like object, as for :func:`torch.load`.
        map_location: As for :func:`torch.load`. Defaults to None.
        safe_globals: Extra allowed classes/functions or
            ``(object, 'module.name')`` pairs. Defaults to none.

    Returns:
        The loaded object.

    Raises:
        pickle.UnpicklingError: the file needs a global that is not allowed;
            nothing from it has been called.
    """
    entries: List[SafeGlobal] = list(safe_globals)
    if NAMED_SAFE_GLOBALS:
        if not entries:
            return torch.load(f, map_location=map_location, weights_only=True)
        with torch.serialization.safe_globals(entries):
            return torch.load(f, map_location=map_location, weights_only=True)
    allowed = weights_only_globals()
    allowed.update(_global_name(entry) for entry in entries)
    return torch.load(f, map_location=map_location, weights_only=False,
                      pickle_module=restricted_pickle_module(allowed))


# ------------------------------------------------------------ torch.compile
#: The oldest torch whose ``torch.compile`` mmrevcol uses
#: (``nn.Module.compile``, and a dynamo that graph-breaks cleanly around a
#: custom ``autograd.Function`` such as the reversible engine's).
MIN_COMPILE_TORCH = (2, 1)


def compile_skip_reason(backend: str = 'inductor',
                        device: Optional[str] = 'cpu') -> Optional[str]:
    """Why ``torch.compile`` cannot be used here, or None when it can.

    Args:
        backend (str): The ``torch.compile`` backend. ``'inductor'`` on the
            CPU also needs a C++ compiler on ``PATH``. Defaults to
            ``'inductor'``.
        device (str | None): ``'cpu'`` or ``'cuda'``, the device the
            compiled code runs on; None: not known yet (the C++ compiler is
            not checked). Defaults to ``'cpu'``.

    Returns:
        str | None: A sentence naming what is missing (the torch version,
        the Python version, the compiler), to print as the reason of a skip.
    """
    if TORCH_VERSION < MIN_COMPILE_TORCH or not hasattr(
            torch.nn.Module, 'compile'):
        return (f'torch.compile of RevCol needs torch >= '
                f'{".".join(map(str, MIN_COMPILE_TORCH))} '
                f'(nn.Module.compile), got torch '
                f'{".".join(map(str, TORCH_VERSION))}')
    try:
        import torch._dynamo as dynamo
    except Exception as err:  # pragma: no cover - broken install
        return f'torch._dynamo cannot be imported: {err}'
    supported = getattr(dynamo, 'is_dynamo_supported', lambda: True)
    if not supported():
        return (f'torch {torch.__version__} has no torch.compile (dynamo) '
                f'for Python {sys.version_info[0]}.{sys.version_info[1]}')
    on_cpu = device is not None and str(device).split(':')[0] == 'cpu'
    if backend == 'inductor' and on_cpu and not any(
            shutil.which(c) for c in ('g++', 'c++', 'clang++')):
        return ("torch.compile(backend='inductor') on the CPU needs a C++ "
                'compiler (g++, c++ or clang++) on PATH; none was found')
    return None


#: The oldest torch verified to compile a whole RevCol / RevColV2 model
#: (dynamo tracing the column stages: mmengine's ``compile=True``); torch 2.1
#: fails to trace them (wrong gradients, failed traces). On older torch
#: :func:`whole_model_compile_skip_reason` gives the reason, which
#: :func:`~mmrevcol.models.reversible.run_columns` raises when traced.
WHOLE_MODEL_COMPILE_TORCH = (2, 13)


def whole_model_compile_skip_reason() -> Optional[str]:
    """Why dynamo should not trace the column engine of a compiled model
    on this torch, or None."""
    if TORCH_VERSION < WHOLE_MODEL_COMPILE_TORCH:
        return (f'torch {".".join(map(str, TORCH_VERSION))} cannot trace the '
                f'RevCol column engine inside torch.compile (verified from '
                f'torch {".".join(map(str, WHOLE_MODEL_COMPILE_TORCH))}); '
                f'leave the model uncompiled (no compile=True in the config) '
                f'and build the backbone with compile_levels=True to compile '
                f'its levels')
    return None


def is_compiling() -> bool:
    """Whether dynamo is tracing the calling code
    (``torch.compiler.is_compiling``, ``torch._dynamo.is_compiling`` on
    torch < 2.3)."""
    check = getattr(getattr(torch, 'compiler', None), 'is_compiling', None)
    if check is None:
        from torch import _dynamo
        check = _dynamo.is_compiling
    return bool(check())


def compile_module(module: torch.nn.Module, **options) -> None:
    """Compile ``module``'s forward in place with :func:`torch.compile`
    (``module.compile(**options)``): parameters, state-dict keys and hooks
    stay as they are.

    Args:
        module (nn.Module): The module.
        **options: :func:`torch.compile` keyword arguments (``backend``,
            ``mode``, ``dynamic``, ...).

    Raises:
        RuntimeError: :func:`compile_skip_reason` gives a reason.
    """
    reason = compile_skip_reason(options.get('backend', 'inductor'), None)
    if reason is not None:
        raise RuntimeError(reason)
    module.compile(**options)


def raise_recompile_limit(count: int) -> int:
    """Let dynamo keep at least ``count`` compiled versions of one function.

    Dynamo caches compiled code per Python function (code object) and falls
    back to eager once a function has ``recompile_limit`` versions (8 on
    newer torch; ``cache_size_limit`` on older torch): the level functions
    of a column backbone are one function run on dozens of modules that
    differ in structure (a level with or without a previous-column input,
    its drop-path rate) and in grad mode (the reversible forward runs them
    without grad, its backward with grad), so beyond the limit most levels
    would silently run eagerly. Never lowers a limit.

    Args:
        count (int): The number of versions needed.

    Returns:
        int: The per-function limit now in force.
    """
    import torch._dynamo.config as config
    limit = 0
    for per_function, accumulated in (
            ('recompile_limit', 'accumulated_recompile_limit'),
            ('cache_size_limit', 'accumulated_cache_size_limit')):
        if hasattr(config, per_function):
            limit = max(getattr(config, per_function), count)
            setattr(config, per_function, limit)
            if hasattr(config, accumulated):
                setattr(config, accumulated,
                        max(getattr(config, accumulated), limit))
            break
    return limit
