"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``. mmengine
0.10.7 calls ``torch.load`` without that argument, so resuming a run (and
loading any checkpoint written by :class:`mmengine.runner.Runner`) fails:
besides tensors, a Runner checkpoint holds

* ``message_hub``: :class:`mmengine.logging.HistoryBuffer` objects whose
  state holds numpy arrays (``ndarray`` rebuilt by
  ``numpy._core.multiarray._reconstruct`` with a ``numpy.dtype``) and the
  buffer's statistics methods, pickled as
  ``getattr(HistoryBuffer, 'min' | 'max' | 'current' | 'mean')``;
* numpy scalars (``numpy._core.multiarray.scalar``) in runtime info, e.g. a
  ``best_score`` kept by ``CheckpointHook(save_best=...)``;
* parameter scheduler states; ``OneCycleParamScheduler`` stores its
  annealing function, pickled as
  ``getattr(OneCycleParamScheduler, '_annealing_cos' | '_annealing_linear')``.

:func:`allow_mmengine_checkpoint_types` adds exactly these to torch's
allow-list with :func:`torch.serialization.add_safe_globals` (torch >= 2.6).
It never turns ``weights_only`` off and does not wrap ``torch.load``. The
pickled ``builtins.getattr`` is *not* allow-listed: it would let a checkpoint
reach any attribute of any object it can build (for example a function's
``__globals__``). It is mapped instead to :func:`restricted_getattr`, which
resolves only the attribute names listed above on the two mmengine classes
and raises :class:`pickle.UnpicklingError` for anything else.

Both numpy module paths are registered: ``numpy.core.multiarray`` (pickles
written with numpy 1.x) and ``numpy._core.multiarray`` (numpy 2.x).

Importing mmrevcol changes none of this. :func:`enable_safe_checkpoint_loading`
is the explicit call (the tools make it; a user's script can): it
allow-lists these types where torch has a named allow-list (torch >= 2.6) and
makes mmengine's loader of local checkpoint files
(:class:`mmengine.runner.CheckpointLoader`, prefix ``''``: ``load_from``,
``resume``, ``init_cfg=dict(type='Pretrained')``, ``load_checkpoint``) read
weights-only with the same allow-list on every torch version: on torch < 2.6,
where mmengine's ``torch.load`` unpickles anything, through
:func:`mmrevcol.utils.compat.load_weights_only`'s restricted unpickler.
"""
import os
import os.path as osp
import pickle
from typing import Any, Dict, FrozenSet, List

import numpy as np

from ..utils import compat
from ..utils.compat import SafeGlobal

#: numpy dtype characters of the numeric and boolean dtypes whose dtype
#: classes may be rebuilt (bool, signed/unsigned ints, floats, complex).
NUMERIC_DTYPE_CHARS = '?bBhHiIlLqQefdgFDG'

#: The numpy module paths a ``multiarray`` helper can be pickled under.
NUMPY_MULTIARRAY_MODULES = ('numpy.core.multiarray', 'numpy._core.multiarray')


def _numpy_multiarray():
    """Return numpy's ``multiarray`` module without a deprecation warning."""
    try:
        from numpy._core import multiarray  # numpy >= 2.0
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _allowed_attributes() -> Dict[type, FrozenSet[str]]:
    """Return ``{class: attribute names}`` that :func:`restricted_getattr`
    may resolve; these are the only ``getattr`` reductions in mmengine
    checkpoints."""
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import \
        OneCycleParamScheduler
    return {
        HistoryBuffer: frozenset(('min', 'max', 'current', 'mean')),
        OneCycleParamScheduler: frozenset(
            ('_annealing_cos', '_annealing_linear')),
    }


def restricted_getattr(obj: Any, name: str) -> Any:
    """Stand-in for the pickled ``builtins.getattr`` in mmengine checkpoints.

    Args:
        obj (Any): The object the pickle asks an attribute of; must be one of
            the mmengine classes in :func:`_allowed_attributes` itself (not an
            instance, not a subclass).
        name (str): The attribute name; must be one listed for ``obj``.

    Returns:
        Any: ``getattr(obj, name)`` when the pair is allowed.

    Raises:
        pickle.UnpicklingError: for any other object or attribute name.
    """
    allowed = _allowed_attributes()
    names = None
    if isinstance(obj, type):
        for cls, cls_names in allowed.items():
            if obj is cls:
                names = cls_names
                break
    if names is None or not isinstance(name, str) or name not in names:
        described = ', '.join(
            f'{cls.__module__}.{cls.__qualname__}.{{{", ".join(sorted(n))}}}'
            for cls, n in allowed.items())
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({obj!r}, {name!r}); with '
            f'weights_only=True mmrevcol only resolves {described}')
    return getattr(obj, name)


def mmengine_checkpoint_safe_globals() -> List[SafeGlobal]:
    """Return the allow-list entries mmengine checkpoints need.

    Returns:
        list: classes/functions (registered under their own
        ``module.qualname``) and ``(object, 'module.name')`` pairs for
        objects pickled under another name.
    """
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import \
        OneCycleParamScheduler
    multiarray = _numpy_multiarray()
    entries: List[SafeGlobal] = [
        HistoryBuffer,
        OneCycleParamScheduler,
        np.ndarray,
        np.dtype,
        (restricted_getattr, 'builtins.getattr'),
    ]
    for module in NUMPY_MULTIARRAY_MODULES:
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # A dtype is rebuilt with ``numpy.dtype(...)`` and then its state is set
    # (pickle BUILD), which torch only allows on allow-listed types: the
    # per-dtype classes (``numpy.dtypes.Float64DType`` ...).
    dtype_classes = []
    for char in NUMERIC_DTYPE_CHARS:
        cls = type(np.dtype(char))
        if cls not in dtype_classes:
            dtype_classes.append(cls)
    entries.extend(dtype_classes)
    return entries


def allow_mmengine_checkpoint_types() -> List[SafeGlobal]:
    """Allow-list the types in mmengine checkpoints for weights-only loading.

    Calls :func:`torch.serialization.add_safe_globals` with
    :func:`mmengine_checkpoint_safe_globals` where torch takes them
    (torch >= 2.6, see :func:`mmrevcol.utils.compat.add_safe_globals`;
    older torch registers nothing: there, :func:`load_mmengine_checkpoint`
    applies the list). Idempotent: calling it again registers nothing new
    (torch keeps a set) and returns the same list.

    Returns:
        list: the entries that are allow-listed for mmengine checkpoints.
    """
    entries = mmengine_checkpoint_safe_globals()
    compat.add_safe_globals(entries)
    return entries


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be read: empty, truncated, text or
    another format, or not holding a dict. The message names the file, what
    was found and what is expected."""


#: What every checkpoint reader of mmrevcol expects, for the messages.
EXPECTED_CHECKPOINT = (
    'expected a file written by torch.save (a zip archive, or the legacy '
    'pickle format) holding a dict: a state dict or {"state_dict": ...} '
    'as mmengine, the OpenMMLab tools and '
    'tools/model_converters/revcol_converter.py write')

#: First bytes of the two formats torch.save writes.
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = 0x80


def check_checkpoint_file(path: str, what: str = 'checkpoint') -> str:
    """Check, from its size and first bytes, that ``path`` can be a
    checkpoint, before any loader reads it.

    Reads at most the first bytes and the zip directory (no tensor data),
    so it is cheap on large files.

    Args:
        path (str): A local file (``~`` is expanded).
        what (str): How the messages name the file, e.g. ``'resume
            checkpoint'`` or ``'init_cfg.checkpoint'``. Defaults to
            ``'checkpoint'``.

    Returns:
        str: the expanded path.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointFileError: ``path`` is a directory, empty, truncated, or
            not in a format ``torch.save`` writes.
    """
    import zipfile
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'{what} must be a file path, got '
                        f'{type(path).__name__}: {path!r}')
    path = osp.expanduser(os.fspath(path))
    if not osp.exists(path):
        raise FileNotFoundError(f'{what} {path!r} can not be found (no such '
                                f'file); {EXPECTED_CHECKPOINT}')
    if osp.isdir(path):
        raise CheckpointFileError(f'{what} {path!r} is a directory; '
                                  f'{EXPECTED_CHECKPOINT}')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(
            f'{what} {path!r} is empty (0 bytes): an interrupted download '
            f'or copy? {EXPECTED_CHECKPOINT}')
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise CheckpointFileError(
                f'{what} {path!r} is truncated: a zip archive ({size} bytes) '
                f'without its end (the download, copy or save stopped '
                f'early); {EXPECTED_CHECKPOINT}')
        return path
    if head[0] == _PICKLE_PROTO:
        return path  # legacy format; a truncated one fails in the loader
    shown = head[:32]
    kind = ('text' if all(32 <= b < 127 or b in b'\t\r\n' for b in shown)
            else 'an unknown format')
    raise CheckpointFileError(
        f'{what} {path!r} is not a PyTorch checkpoint: it starts with '
        f'{shown!r} ({kind}); {EXPECTED_CHECKPOINT}')


def unreadable_checkpoint(path: str, err: BaseException,
                          what: str = 'checkpoint') -> CheckpointFileError:
    """The :class:`CheckpointFileError` for a file a loader failed on (for
    errors other than a refused global, which stays
    :class:`pickle.UnpicklingError`)."""
    return CheckpointFileError(
        f'{what} {path!r} cannot be read: {type(err).__name__}: {err} '
        f'(truncated or corrupt?); {EXPECTED_CHECKPOINT}')


def check_checkpoint_dict(obj: Any, path: str,
                          what: str = 'checkpoint') -> Any:
    """Raise :class:`CheckpointFileError` unless the loaded ``obj`` is a
    dict; return it."""
    if not isinstance(obj, dict):
        raise CheckpointFileError(
            f'{what} {path!r} holds a {type(obj).__name__}, not a dict; '
            f'{EXPECTED_CHECKPOINT}')
    return obj


def load_mmengine_checkpoint(filename: str, map_location: Any = None) -> Any:
    """Read a local checkpoint file weights-only, mmengine's types allowed.

    Args:
        filename (str): The file (``~`` is expanded).
        map_location: As for :func:`torch.load`. Defaults to None.

    Returns:
        The loaded checkpoint.

    Raises:
        FileNotFoundError: no such file.
        CheckpointFileError: the file is empty, truncated, not a PyTorch
            checkpoint or does not hold a dict (see
            :func:`check_checkpoint_file`).
        pickle.UnpicklingError: the file needs another global (a class or a
            function outside the allow-list); nothing from it was called.
    """
    filename = check_checkpoint_file(filename)
    try:
        obj = compat.load_weights_only(
            filename, map_location=map_location,
            safe_globals=mmengine_checkpoint_safe_globals())
    except pickle.UnpicklingError as err:
        if 'weights' in str(err).lower() or 'global' in str(err).lower():
            raise  # a refused global: the file asks to run code
        raise unreadable_checkpoint(filename, err) from err
    except (EOFError, OSError, RuntimeError, KeyError, ValueError) as err:
        raise unreadable_checkpoint(filename, err) from err
    return check_checkpoint_dict(obj, filename)


def load_from_local_weights_only(filename: str, map_location: Any = None):
    """mmengine checkpoint loader for local paths (prefix ``''``), installed
    by :func:`enable_safe_checkpoint_loading`; see
    :func:`load_mmengine_checkpoint`. (mmengine logs the loader's name after
    ``load_from_``: "Loads checkpoint by local_weights_only backend".)"""
    return load_mmengine_checkpoint(filename, map_location)


def enable_safe_checkpoint_loading() -> None:
    """Make mmengine read local checkpoint files weights-only, on every
    torch version.

    * allow-lists the types mmengine's own checkpoints hold
      (:func:`allow_mmengine_checkpoint_types`), so that a direct
      ``torch.load(path, weights_only=True)`` reads them on torch >= 2.6;
    * registers :func:`load_from_local_weights_only` as mmengine's loader
      for local paths (``CheckpointLoader.register_scheme(prefixes='',
      force=True)``), used by ``load_from``, ``resume``, ``Pretrained``
      init configs and :func:`mmengine.runner.load_checkpoint`. On torch <
      2.6, whose ``torch.load`` unpickles anything by default, this is what
      makes loading refuse a checkpoint that would run code.

    Other schemes (``http://``, ``s3://`` ...) keep mmengine's loaders.
    ``tools/train.py``, ``tools/test.py`` (through
    :func:`mmrevcol.apis.build_runner`) and the analysis tools call it;
    importing mmrevcol does not. Idempotent.
    """
    from mmengine.runner import CheckpointLoader
    allow_mmengine_checkpoint_types()
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_weights_only, force=True)
