"""mmrevcol's registries: children of mmengine's root registries.

mmrevcol is a plugin. A config in any default scope (``mmdet``, ``mmseg``,
``mmpretrain``, ``mmengine``) must find ``type='RevColV2'`` once
``custom_imports=dict(imports=['mmrevcol'])`` ran. mmengine resolves a plain
``type`` in the default scope's registry and then in its parents; the mmdet,
mmseg and mmpretrain registries are children of mmengine's root registries
(``mmengine.registry.MODELS`` ...). So :func:`register_everywhere` registers
a class, with :meth:`mmengine.Registry.register_module`, in

* the mmengine root registry of its kind, which every scope reaches through
  its parents: ``type='RevColV2'``;
* the ``mmrevcol`` child registry of that root, defined in this module like a
  downstream library's ``registry.py``: ``type='mmrevcol.RevColV2'`` from any
  scope (mmengine imports ``mmrevcol.registry`` to resolve the prefix), and
  ``default_scope='mmrevcol'``.

Nothing writes into another library's registry.
"""
import importlib
from typing import Callable, Dict, List, Optional, Type

from mmengine import registry as mmengine_registry
from mmengine.registry import Registry

#: Packages whose ``<pkg>.registry`` module :func:`installed_registries`
#: searches, in this order.
SCOPES = ('mmengine', 'mmdet', 'mmseg', 'mmpretrain')

#: The scope of mmrevcol's registries (``type='mmrevcol.RevColV2'``).
SCOPE = 'mmrevcol'

#: ``mmengine.registry`` attribute -> modules that register into it (what
#: :meth:`Registry.import_from_location` imports on the first look-up).
_LOCATIONS = {
    'RUNNERS': [],
    'RUNNER_CONSTRUCTORS': [],
    'LOOPS': [],
    'HOOKS': ['mmrevcol.engine.hooks'],
    'STRATEGIES': [],
    'DATASETS': [],
    'DATA_SAMPLERS': [],
    'TRANSFORMS': [],
    'MODELS': ['mmrevcol.models'],
    'MODEL_WRAPPERS': [],
    'WEIGHT_INITIALIZERS': [],
    'OPTIMIZERS': [],
    'OPTIM_WRAPPERS': [],
    'OPTIM_WRAPPER_CONSTRUCTORS': ['mmrevcol.engine.optimizers'],
    'PARAM_SCHEDULERS': [],
    'METRICS': [],
    'EVALUATOR': [],
    'TASK_UTILS': [],
    'VISUALIZERS': [],
    'VISBACKENDS': [],
    'LOG_PROCESSORS': [],
    'INFERENCERS': [],
    'FUNCTIONS': [],
}


def _child(kind: str) -> Optional[Registry]:
    root = getattr(mmengine_registry, kind, None)
    if root is None:  # an older mmengine without this registry
        return None
    if SCOPE in root.children:  # this module was reloaded
        return root.children[SCOPE]
    return Registry(root.name, parent=root, scope=SCOPE,
                    locations=list(_LOCATIONS[kind]))


#: ``kind -> mmrevcol child registry`` of each mmengine root registry.
CHILDREN: Dict[str, Registry] = {
    kind: child
    for kind, child in ((k, _child(k)) for k in _LOCATIONS)
    if child is not None
}

RUNNERS = CHILDREN.get('RUNNERS')
RUNNER_CONSTRUCTORS = CHILDREN.get('RUNNER_CONSTRUCTORS')
LOOPS = CHILDREN.get('LOOPS')
HOOKS = CHILDREN.get('HOOKS')
STRATEGIES = CHILDREN.get('STRATEGIES')
DATASETS = CHILDREN.get('DATASETS')
DATA_SAMPLERS = CHILDREN.get('DATA_SAMPLERS')
TRANSFORMS = CHILDREN.get('TRANSFORMS')
MODELS = CHILDREN.get('MODELS')
MODEL_WRAPPERS = CHILDREN.get('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = CHILDREN.get('WEIGHT_INITIALIZERS')
OPTIMIZERS = CHILDREN.get('OPTIMIZERS')
OPTIM_WRAPPERS = CHILDREN.get('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = CHILDREN.get('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = CHILDREN.get('PARAM_SCHEDULERS')
METRICS = CHILDREN.get('METRICS')
EVALUATOR = CHILDREN.get('EVALUATOR')
TASK_UTILS = CHILDREN.get('TASK_UTILS')
VISUALIZERS = CHILDREN.get('VISUALIZERS')
VISBACKENDS = CHILDREN.get('VISBACKENDS')
LOG_PROCESSORS = CHILDREN.get('LOG_PROCESSORS')
INFERENCERS = CHILDREN.get('INFERENCERS')
FUNCTIONS = CHILDREN.get('FUNCTIONS')


def installed_registries(kind: str) -> List[Registry]:
    """Return the registries called ``kind`` of every installed library.

    mmrevcol registers only into mmengine's root registry and its own child;
    the downstream registries returned here find its classes through their
    parent (``registry.get(name)``), so this lists where a config can look
    them up.

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


def _targets(kind: str) -> List[Registry]:
    """The registries a class of ``kind`` goes into: mmengine's root and
    mmrevcol's child; for a kind mmengine has no root of, the registries of
    that name in the downstream libraries."""
    if kind in CHILDREN:
        child = CHILDREN[kind]
        return [child.parent, child]
    return installed_registries(kind)


def _same_class(a: Type, b: Type) -> bool:
    return a is b or ((a.__module__, a.__qualname__)
                      == (b.__module__, b.__qualname__))


def register_everywhere(kind: str = 'MODELS',
                        name: Optional[str] = None) -> Callable[[Type], Type]:
    """Class decorator: register into mmengine's root ``kind`` registry
    (found from every scope) and mmrevcol's child of it
    (``type='mmrevcol.<name>'``).

    Args:
        kind (str): Registry attribute name (``'MODELS'``,
            ``'OPTIM_WRAPPER_CONSTRUCTORS'``, ``'HOOKS'`` ...).
            Defaults to ``'MODELS'``.
        name (str, optional): Registered name. Defaults to the class name.

    Re-registering the same class (same module and qualified name: a module
    reload) replaces it; a different class under an existing name raises
    ``KeyError`` naming both, before anything is registered.
    """

    def _register(cls: Type) -> Type:
        key = name or cls.__name__
        targets = _targets(kind)
        for registry in targets:
            existing = registry.module_dict.get(key)
            if existing is not None and not _same_class(existing, cls):
                raise KeyError(
                    f'{key!r} is already registered in {registry.scope}.'
                    f'{kind} by {existing.__module__}.{existing.__qualname__};'
                    f' refusing to replace it with {cls.__module__}.'
                    f'{cls.__qualname__}')
        for registry in targets:
            registry.register_module(
                name=key, module=cls, force=key in registry.module_dict)
        return cls

    return _register
