"""Horovod, where ``horovod.mxnet`` imports."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["HOROVOD_INSTALL", "import_horovod", "is_horovod_trainer"]

HOROVOD_INSTALL = (
    "HOROVOD_WITH_MXNET=1 pip install --no-build-isolation horovod, after mxnet is "
    "installed (it compiles against the installed mxnet; about 2 minutes on 2 cores)"
)
"""How to install Horovod for MXNet."""


def import_horovod() -> Any:
    """Import ``horovod.mxnet`` and initialize it.

    Raises
    ------
    ImportError
        If ``horovod.mxnet`` does not import, saying how to install it.
    """
    try:
        hvd = importlib.import_module("horovod.mxnet")
    except ImportError as error:
        raise ImportError(
            f"kvstore='horovod' needs horovod.mxnet, which failed to import ({error}). "
            f"Install it with: {HOROVOD_INSTALL}. Or use MXNet's parameter server, "
            "kvstore='dist_sync', which needs no extra package."
        ) from error
    # hvd.init() may be called more than once; later calls do nothing.
    hvd.init()
    return hvd


def is_horovod_trainer(trainer: Any) -> bool:
    """Tell whether ``trainer`` is a ``horovod.mxnet.DistributedTrainer``."""
    return any(cls.__module__.startswith("horovod.") and cls.__name__ == "DistributedTrainer"
               for cls in type(trainer).__mro__)
