"""Parse the ``check`` option shared by metrics, losses and loaders."""

from __future__ import annotations

from typing import Any, cast

from .._types import CHECK_MODES, CheckMode
from ._lazy import is_host_array


def normalize_check_mode(check: Any, *, name: str = "check") -> CheckMode:
    """Return ``check`` if it is a known mode, else raise ``ValueError`` listing the modes."""
    if not isinstance(check, str) or check not in CHECK_MODES:
        allowed = ", ".join(repr(m) for m in CHECK_MODES)
        raise ValueError(f"{name}={check!r} is not a check mode; expected one of {allowed}")
    return cast(CheckMode, check)


def resolve_check_mode(check: CheckMode, labels: Any) -> CheckMode:
    """Resolve ``'auto'`` for one batch: ``'eager'`` for host labels, ``'lazy'`` on a GPU.

    Host labels are numpy arrays and NDArrays on a CPU context; reading those costs no
    device transfer, so checking them at once is cheap.
    """
    if check != "auto":
        return check
    return "eager" if is_host_array(labels) else "lazy"
