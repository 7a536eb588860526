"""The one atomic file writer of the package."""
import os
import os.path as osp
import tempfile
from typing import IO, Callable


def atomic_write(path: str, write: Callable[[IO], None],
                 binary: bool = True) -> str:
    """Write ``path`` through a temporary file in the same folder, then
    :func:`os.replace` it onto ``path``: an interrupted write never leaves a
    partial file, and an existing ``path`` stays intact until the new one is
    complete (its permission bits are kept; a new file gets 0o644).

    Args:
        path (str): The file to write.
        write (callable): ``write(f)`` writes the content to the open file.
        binary (bool): Open the temporary file in binary (default) or text
            (UTF-8) mode.

    Returns:
        str: ``path``.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.',
                               suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb' if binary else 'w',
                       **({} if binary else dict(encoding='utf-8'))) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(path).st_mode & 0o777 if osp.exists(path) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return path
