"""``patch()`` and ``unpatch()``: run unmodified MXNet code with the safe metrics and losses.

While patched, these names resolve to the gluon_safe classes:

- ``mx.metric.Accuracy`` and ``mx.metric.TopKAccuracy``;
- every name in MXNet's metric registry that resolves to one of them (in MXNet 1.9.1
  ``'acc'``, ``'accuracy'``, ``'top_k_acc'``, ``'top_k_accuracy'`` and
  ``'topkaccuracy'``), so ``mx.metric.create('acc')`` and the Module API's
  ``mod.fit(..., eval_metric='acc')`` build the safe metric;
- ``gluon.loss.SoftmaxCrossEntropyLoss`` and ``gluon.loss.SigmoidBinaryCrossEntropyLoss``
  with every public alias in ``mxnet.gluon.loss`` (``SoftmaxCELoss``, ``SigmoidBCELoss``).

The registry names and the aliases are read from MXNet when ``patch()`` runs, not
listed here.

MXNet 1.9.1 writes ``super(Accuracy, self).__init__(...)``, which looks ``Accuracy`` up
in the globals of ``mxnet.metric`` at every call. Rebinding the module attribute would
make that ``super`` call find the gluon_safe subclass and break every constructor. So
the module dictionaries are left alone: the module objects get a subclass of their
type whose descriptors return the safe classes for attribute access
(``mx.metric.Accuracy``, ``from mxnet.metric import Accuracy``), while MXNet's own code
keeps seeing its classes. ``unpatch()`` restores the original module types and
registry entries, so afterwards every object is the one that was there before.

Names bound before ``patch()`` keep what they were bound to: an earlier
``from mxnet.metric import Accuracy``, instances created earlier, and MXNet modules
that import the classes at their own import time, such as the default metric of
``mxnet.gluon.contrib.estimator``.
"""

from __future__ import annotations

import logging
import threading
import types
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from typing_extensions import Self

from ._compat import gluon, mx
from .losses import SafeSigmoidBinaryCrossEntropyLoss, SafeSoftmaxCrossEntropyLoss
from .metrics import SafeAccuracy, SafeTopKAccuracy

__all__ = ["Patch", "is_patched", "patch", "unpatch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Target:
    """One MXNet class, where it is defined, and its safe replacement."""

    module: types.ModuleType
    name: str
    safe: type


def _targets() -> tuple[_Target, ...]:
    metric_module = mx.metric
    loss_module = gluon.loss
    return (
        _Target(metric_module, "Accuracy", SafeAccuracy),
        _Target(metric_module, "TopKAccuracy", SafeTopKAccuracy),
        _Target(loss_module, "SoftmaxCrossEntropyLoss", SafeSoftmaxCrossEntropyLoss),
        _Target(loss_module, "SigmoidBinaryCrossEntropyLoss", SafeSigmoidBinaryCrossEntropyLoss),
    )


def _original(target: _Target) -> type:
    # The module dictionary is never written to, so it always contains MXNet's own class.
    original: type = vars(target.module)[target.name]
    return original


class _ReplacedName:
    """Descriptor on a patched module type: reading the name returns the safe class."""

    def __init__(self, module_name: str, name: str, safe: type) -> None:
        self._module_name = module_name
        self._name = name
        self._safe = safe

    def __get__(self, instance: object, owner: Optional[type] = None) -> Any:
        if instance is None:
            return self
        return self._safe

    def __set__(self, instance: object, value: object) -> None:
        raise AttributeError(
            f"{self._module_name}.{self._name} is replaced by gluon_safe.patch(); call "
            "gluon_safe.unpatch() before assigning it"
        )

    def __delete__(self, instance: object) -> None:
        self.__set__(instance, None)


@dataclass
class _ActivePatch:
    """Changes made by ``patch()``, so that ``unpatch()`` can put every object back."""

    module_types: Dict[str, tuple[types.ModuleType, type]]
    """Module name -> (module, its type before the patch)."""

    registry_entries: Dict[str, tuple[type, type]]
    """Metric registry name -> (MXNet class, safe class)."""


_lock = threading.RLock()
_active: Optional[_ActivePatch] = None


class Patch:
    """Handle returned by :func:`patch`; as a context manager it undoes its own patch.

    ``with gluon_safe.patch():`` restores MXNet's classes when the block ends, unless
    the patch was already active when the block began (``patch()`` is idempotent, so
    the block then leaves it active).
    """

    def __init__(self, *, activated: bool) -> None:
        self._activated = activated

    @property
    def activated(self) -> bool:
        """Whether this call of :func:`patch` replaced the classes (False if already patched)."""
        return self._activated

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._activated:
            unpatch()

    def __repr__(self) -> str:
        return f"<gluon_safe.Patch activated={self._activated} active={is_patched()}>"


def patch() -> Patch:
    """Make MXNet's accuracy metrics and classification losses resolve to the safe versions.

    Replaces ``mx.metric.Accuracy``, ``mx.metric.TopKAccuracy``, the metric registry
    names that resolve to them, and ``gluon.loss.SoftmaxCrossEntropyLoss`` and
    ``gluon.loss.SigmoidBinaryCrossEntropyLoss`` with their public aliases, by
    :class:`SafeAccuracy`, :class:`SafeTopKAccuracy`,
    :class:`SafeSoftmaxCrossEntropyLoss` and :class:`SafeSigmoidBinaryCrossEntropyLoss`.
    Nothing else changes. Calling it again while patched does nothing.

    Returns
    -------
    Patch
        A handle; use it as a context manager to undo the patch at the end of a block.

    Examples
    --------
    >>> import mxnet as mx
    >>> import gluon_safe
    >>> with gluon_safe.patch():
    ...     type(mx.metric.create("acc")).__name__
    'SafeAccuracy'
    >>> type(mx.metric.create("acc")).__name__
    'Accuracy'
    """
    global _active
    with _lock:
        if _active is not None:
            return Patch(activated=False)
        _active = _apply(_targets())
        logger.info(
            "gluon_safe.patch: %s now resolve to the gluon_safe classes",
            ", ".join(_patched_names(_active)),
        )
        return Patch(activated=True)


def unpatch() -> None:
    """Restore MXNet's own classes and registry entries; does nothing when not patched.

    A registry name that was registered again while patched keeps its new class, and
    a warning is logged.
    """
    global _active
    with _lock:
        if _active is None:
            return
        active, _active = _active, None
        for module, module_type in active.module_types.values():
            module.__class__ = module_type
        _restore_registry(active.registry_entries)
        logger.info("gluon_safe.unpatch: MXNet's own classes are back")


def is_patched() -> bool:
    """Tell whether :func:`patch` is active."""
    return _active is not None


def _apply(targets: tuple[_Target, ...]) -> _ActivePatch:
    replacements: Dict[str, Dict[str, type]] = {}
    modules: Dict[str, types.ModuleType] = {}
    for target in targets:
        names = _public_names_of(target.module, _original(target))
        modules[target.module.__name__] = target.module
        replacements.setdefault(target.module.__name__, {}).update(
            dict.fromkeys(names, target.safe)
        )

    registry_entries = _registry_entries(targets)
    module_types = {
        name: (module, type(module)) for name, module in modules.items()
    }
    # Build every new type before changing anything, so a failure leaves MXNet untouched.
    new_types = {
        name: _patched_module_type(modules[name], replacements[name]) for name in modules
    }
    for name, module in modules.items():
        module.__class__ = new_types[name]
    registry = _metric_registry()
    for registry_name, (_, safe) in registry_entries.items():
        registry[registry_name] = safe
    return _ActivePatch(module_types, registry_entries)


def _public_names_of(module: types.ModuleType, cls: type) -> List[str]:
    """Return the public names in ``module`` bound to ``cls`` itself (aliases included)."""
    return sorted(
        name for name, value in vars(module).items()
        if value is cls and not name.startswith("_")
    )


def _registry_entries(targets: tuple[_Target, ...]) -> Dict[str, tuple[type, type]]:
    safe_by_original = {_original(t): t.safe for t in targets}
    return {
        name: (cls, safe_by_original[cls])
        for name, cls in sorted(_metric_registry().items())
        if cls in safe_by_original
    }


def _metric_registry() -> Dict[str, type]:
    # mx.registry.get_registry returns a copy; the patch has to change the live mapping
    # that mx.metric.create reads.
    registry: Dict[str, type] = mx.registry._REGISTRY.setdefault(mx.metric.EvalMetric, {})
    return registry


def _patched_module_type(module: types.ModuleType, replacements: Dict[str, type]) -> type:
    namespace: Dict[str, Any] = {
        name: _ReplacedName(module.__name__, name, safe) for name, safe in replacements.items()
    }
    namespace["__module__"] = __name__
    namespace["__doc__"] = f"Type of {module.__name__} while gluon_safe.patch() is active."
    return type("PatchedModule", (type(module),), namespace)


def _restore_registry(entries: Dict[str, tuple[type, type]]) -> None:
    registry = _metric_registry()
    for name, (original, safe) in entries.items():
        current = registry.get(name)
        if current is safe:
            registry[name] = original
        else:
            logger.warning(
                "gluon_safe.unpatch: metric name %r was registered again while patched, "
                "to %r; it keeps that class instead of %s.%s",
                name, current, original.__module__, original.__qualname__,
            )


def _patched_names(active: _ActivePatch) -> List[str]:
    names: List[str] = []
    for module_name, (module, _) in active.module_types.items():
        patched_type = type(module)
        names.extend(
            f"{module_name}.{name}" for name, value in vars(patched_type).items()
            if isinstance(value, _ReplacedName)
        )
    names.extend(f"metric name {name!r}" for name in active.registry_entries)
    return names
