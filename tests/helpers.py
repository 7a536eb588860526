"""Helpers shared by the test modules (``from tests.helpers import ...``;
fixtures stay in conftest.py)."""
import os
import subprocess
import sys

#: The repository root.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: A CPU-sized RevColV2 arch used across the tests.
TINY_V2 = dict(embed_dims=32, num_heads=2, bu_columns=2, bu_depth=4,
               td_columns=2, td_depth=4)


def run_tool(tool, *args, cwd=ROOT, timeout=600, env=None):
    """Run ``python tools/<tool> *args`` in ``cwd`` (importable there, for
    configs that import a module from their directory) and return the
    completed process (stdout/stderr as text)."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(cwd), full_env.get('PYTHONPATH')) if p)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', tool)] + list(args),
        cwd=str(cwd), env=full_env, capture_output=True, text=True,
        timeout=timeout)


def data_root_options(root, train_key='train_dataloader.dataset'):
    """``--cfg-options`` pointing the three dataloaders at ``root``
    (``train_key``: where the train dataset sits, e.g. inside a wrapper)."""
    return [f'{train_key}.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}']



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


def load_script(relpath):
    """Import a script of the repository that is not part of the package
    (``demo/toy_demo.py``, ``.dev_scripts/model_index.py``) as a module."""
    import importlib.util
    path = os.path.join(ROOT, relpath)
    name = '_script_' + os.path.splitext(relpath)[0].replace('/', '_').replace('.', '_')
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
