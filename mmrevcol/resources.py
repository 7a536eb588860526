"""Where the configs, tools and ``model-index.yml`` are.

In a checkout they sit next to the package (``<checkout>/configs`` ...). A
wheel installs them inside the package as ``mmrevcol/.mim/configs`` ...
(setup.py's ``add_mim_extension``, the OpenMMLab layout that ``mim`` reads).
:func:`resource_root` prefers the checkout and falls back to ``.mim``.
"""
import os.path as osp

#: The installed (or checked-out) ``mmrevcol`` package folder.
PACKAGE_DIR = osp.dirname(osp.abspath(__file__))

#: ``configs/``, ``tools/`` and ``model-index.yml`` of a wheel install.
MIM_DIR = osp.join(PACKAGE_DIR, '.mim')

#: The folder above the package: the repository root in a checkout.
CHECKOUT_DIR = osp.dirname(PACKAGE_DIR)


def _is_checkout(root: str) -> bool:
    # setup.py too, so that a stray configs/ in site-packages never matches
    return (osp.isfile(osp.join(root, 'setup.py'))
            and osp.isfile(osp.join(root, 'model-index.yml'))
            and osp.isdir(osp.join(root, 'configs')))


def resource_root() -> str:
    """The folder holding ``configs/``, ``tools/`` and ``model-index.yml``.

    Returns:
        str: the checkout root when mmrevcol is imported from a checkout
        (a plain or editable install), else ``mmrevcol/.mim`` (a wheel).
        :func:`resource_path` says what is missing when neither has them.
    """
    if _is_checkout(CHECKOUT_DIR):
        return CHECKOUT_DIR
    return MIM_DIR


def resource_path(*parts: str, must_exist: bool = False) -> str:
    """``osp.join(resource_root(), *parts)``.

    Args:
        *parts (str): Path below the root, e.g. ``'configs', 'toy', 'x.py'``.
        must_exist (bool): Raise :class:`FileNotFoundError`, naming both
            places looked at, when the path does not exist. Defaults to
            False.

    Returns:
        str: the absolute path.
    """
    path = osp.join(resource_root(), *parts)
    if must_exist and not osp.exists(path):
        rel = osp.join(*parts) if parts else '.'
        raise FileNotFoundError(
            f'{rel} is neither in a checkout ({CHECKOUT_DIR}) nor in the '
            f'installed package data ({MIM_DIR}); reinstall mmrevcol from a '
            f'wheel or an sdist, or run from a checkout')
    return path
