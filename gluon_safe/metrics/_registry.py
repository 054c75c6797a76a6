"""Register the safe metrics with MXNet's metric registry, without replacing any name.

``mx.metric.create(name)`` and ``mx.metric.create(metric.get_config())`` look metrics up
by lower-case name: the class name (what ``mx.metric.register`` uses) and any alias.
MXNet's own names ('acc', 'accuracy', ...) are never touched here.
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, TypeVar

from .._compat import mx

logger = logging.getLogger(__name__)

MetricClass = TypeVar("MetricClass", bound=type)


def registered(*aliases: str) -> Callable[[MetricClass], MetricClass]:
    """Register the decorated metric class under its lower-case name and ``aliases``."""

    def register(cls: MetricClass) -> MetricClass:
        for name in (cls.__name__, *aliases):
            _register_name(cls, name.lower())
        return cls

    return register


def _register_name(cls: type, name: str) -> None:
    current = mx.registry.get_registry(mx.metric.EvalMetric).get(name)
    if current is cls:
        return
    if current is not None and not _same_definition(current, cls):
        logger.warning(
            "metric name %r is already registered to %s.%s; gluon_safe leaves it unchanged, "
            "so mx.metric.create(%r) does not build %s",
            name, current.__module__, current.__qualname__, name, cls.__qualname__,
        )
        return
    with warnings.catch_warnings():
        # A reloaded gluon_safe module re-registers its own class, which MXNet reports
        # with a UserWarning meant for clashes between different classes.
        warnings.simplefilter("ignore", UserWarning)
        mx.metric.register(cls, name)


def _same_definition(first: type, second: type) -> bool:
    return (first.__module__, first.__qualname__) == (second.__module__, second.__qualname__)
