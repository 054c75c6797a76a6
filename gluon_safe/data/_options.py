"""Validation of DeviceDataLoader's options, before MXNet receives them.

MXNet 1.9.1's DataLoader clamps a negative ``num_workers`` to 0, checks ``timeout`` with
an ``assert`` and fails with ``ZeroDivisionError`` on ``batch_size=0``; these checks raise
instead.  The sampler conflicts that MXNet itself rejects are checked here too, because a
DataLoader whose ``__init__`` raises fails once more in its ``__del__`` (an
``AttributeError`` that Python reports as an unraisable exception).
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional

LAST_BATCH_OPTIONS = ("keep", "discard", "rollover")

_LOADER_DEFAULTS: Dict[str, Any] = dict(
    batch_size=None, shuffle=False, sampler=None, last_batch=None, batch_sampler=None,
    batchify_fn=None, num_workers=0, pin_memory=None, pin_device_id=None, prefetch=None,
    thread_pool=False, timeout=120, auto_reload=False,
)


def check_loader_options(
    options: Dict[str, Any],
    *,
    owns_loader: bool,
    device_prefetch: Any,
    num_classes: Any,
    ignore_label: Any,
    encoder: Any,
) -> None:
    """Raise ``ValueError`` or ``TypeError`` for an invalid DeviceDataLoader option.

    ``options`` contains the DataLoader arguments by name. When the loader wraps an
    existing DataLoader (``owns_loader=False``), they must all keep their defaults.
    """
    if owns_loader:
        _check_dataloader_options(options)
    else:
        changed = sorted(name for name, default in _LOADER_DEFAULTS.items()
                         if options[name] is not default and options[name] != default)
        if changed:
            raise ValueError(f"DataLoader options {', '.join(changed)} were given together "
                             "with a DataLoader to wrap, which keeps its own options; pass "
                             "them to that DataLoader, or pass its dataset instead")

    check_int("device_prefetch", device_prefetch, minimum=0)
    if num_classes is not None:
        check_int("num_classes", num_classes, minimum=1)
    if ignore_label is not None and (isinstance(ignore_label, bool)
                                     or not isinstance(ignore_label, numbers.Real)):
        raise TypeError(f"ignore_label={ignore_label!r} is not a number; expected a label "
                        "value such as -1, or None")
    if encoder is not None and not callable(getattr(encoder, "transform", None)):
        raise TypeError(f"encoder={encoder!r} has no transform method; expected a fitted "
                        "encoder such as gluon_safe.LabelEncoder")


def _check_dataloader_options(options: Dict[str, Any]) -> None:
    _check_sampler_conflicts(options)
    if options["batch_size"] is not None:
        check_int("batch_size", options["batch_size"], minimum=1)
    last_batch = options["last_batch"]
    if last_batch is not None and last_batch not in LAST_BATCH_OPTIONS:
        allowed = ", ".join(repr(option) for option in LAST_BATCH_OPTIONS)
        raise ValueError(f"last_batch={last_batch!r} is not an option; expected one of "
                         f"{allowed}, or None for 'keep'")
    check_int("num_workers", options["num_workers"], minimum=0)
    if options["prefetch"] is not None:
        check_int("prefetch", options["prefetch"], minimum=0)
    if options["pin_device_id"] is not None:
        check_int("pin_device_id", options["pin_device_id"], minimum=0)

    timeout = options["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout={timeout!r} is not a number; expected seconds > 0")
    if not float(timeout) > 0:
        raise ValueError(f"timeout={timeout} is invalid; expected seconds > 0")

    for name in ("shuffle", "thread_pool", "auto_reload"):
        _check_bool(name, options[name])
    if options["pin_memory"] is not None:
        _check_bool("pin_memory", options["pin_memory"])


def _check_sampler_conflicts(options: Dict[str, Any]) -> None:
    if options["batch_sampler"] is not None:
        given = [name for name in ("batch_size", "shuffle", "sampler", "last_batch")
                 if options[name] not in (None, False)]
        if given:
            raise ValueError(f"{', '.join(given)} must not be specified if batch_sampler is "
                             "specified, because the batch sampler already decides them")
        return
    if options["batch_size"] is None:
        raise ValueError("batch_size must be specified unless batch_sampler is specified")
    if options["sampler"] is not None and options["shuffle"]:
        raise ValueError("shuffle must not be specified if sampler is specified; the sampler "
                         "decides the order, so pass shuffle=False or drop the sampler")


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` as an int, or raise unless it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r} has type {type(value).__name__}; expected an int "
                        f">= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value} is invalid; expected an int >= {minimum}")
    return int(value)


def _check_bool(name: str, value: Optional[Any]) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}={value!r} has type {type(value).__name__}; expected True or "
                        "False")
