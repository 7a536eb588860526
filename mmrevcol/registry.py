"""One helper that registers a class into every installed OpenMMLab registry.

mmrevcol is a plugin: a config in any default scope (``mmdet``, ``mmseg``,
``mmpretrain``) must find ``type='RevColV2'`` once
``custom_imports=dict(imports=['mmrevcol'])`` ran. Each registry of the same
kind (``MODELS``, ``OPTIM_WRAPPER_CONSTRUCTORS``, ``HOOKS`` ...) exists once per
library, so :func:`register_everywhere` adds the class to the mmengine root
registry and to the registry of that name in each downstream library that is
installed. Libraries that are not installed are skipped silently.
"""
import importlib
from typing import Callable, List, Optional, Type

#: Packages whose ``<pkg>.registry`` module is searched, in this order.
SCOPES = ('mmengine', 'mmdet', 'mmseg', 'mmpretrain')


def installed_registries(kind: str) -> List:
    """Return the registries called ``kind`` of every installed library.

    Args:
        kind (str): Attribute name in ``<pkg>.registry``, e.g. ``'MODELS'``.

    Returns:
        list[mmengine.Registry]: one per installed library that defines it.
    """
    found = []
    for pkg in SCOPES:
        try:
            module = importlib.import_module(f'{pkg}.registry')
        except ImportError:
            continue
        registry = getattr(module, kind, None)
        if registry is None:
            continue
        if all(registry is not other for other in found):
            found.append(registry)
    if not found:
        raise KeyError(f'no installed OpenMMLab library has a registry named '
                       f'{kind!r}; looked in {", ".join(SCOPES)}')
    return found


def register_everywhere(kind: str = 'MODELS',
                        name: Optional[str] = None) -> Callable[[Type], Type]:
    """Class decorator: register into the ``kind`` registry of every library.

    Args:
        kind (str): Registry attribute name (``'MODELS'``,
            ``'OPTIM_WRAPPER_CONSTRUCTORS'``, ``'HOOKS'`` ...).
            Defaults to ``'MODELS'``.
        name (str, optional): Registered name. Defaults to the class name.

    Re-registering the same class (a module reload) is a no-op; a different
    class under an existing name raises ``KeyError`` naming both.
    """

    def _register(cls: Type) -> Type:
        key = name or cls.__name__
        for registry in installed_registries(kind):
            existing = registry._module_dict.get(key)
            if existing is not None:
                same = (existing is cls or
                        (existing.__module__, existing.__qualname__)
                        == (cls.__module__, cls.__qualname__))
                if same:
                    registry._module_dict[key] = cls
                    continue
                raise KeyError(
                    f'{key!r} is already registered in {registry.scope}.'
                    f'{kind} by {existing.__module__}.{existing.__qualname__};'
                    f' refusing to replace it with {cls.__module__}.'
                    f'{cls.__qualname__}')
            registry.register_module(name=key, module=cls)
        return cls

    return _register
