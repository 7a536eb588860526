"""Helpers shared by several test modules (imported as ``from .helpers
import ...``; fixtures stay in conftest.py)."""


def write_marker(path):
    """What a malicious pickle calls (it must never run)."""
    with open(path, 'w') as f:
        f.write('pwned')
    return path


class WritesAFile:
    """An object whose unpickling writes ``pwned`` to ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return write_marker, (self.path, )
