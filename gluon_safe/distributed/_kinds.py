"""Recognition of the ``kvstore`` arguments that select distributed training."""

from __future__ import annotations

from typing import Any

from .._compat import mx

__all__ = ["HOROVOD", "is_distributed", "is_parameter_server", "kvstore_name"]

HOROVOD = "horovod"
"""The ``kvstore`` value that selects Horovod instead of MXNet's parameter server."""


def kvstore_name(kvstore: Any) -> str:
    """Return the type name of a kvstore argument: the string itself, or ``KVStore.type``."""
    if isinstance(kvstore, str):
        return kvstore
    if isinstance(kvstore, mx.kv.KVStore):
        return str(kvstore.type)
    return ""


def is_parameter_server(kvstore: Any) -> bool:
    """Tell whether ``kvstore`` selects MXNet's parameter server.

    MXNet 1.9.1 treats every kvstore type that contains ``'dist'`` as distributed:
    ``'dist_sync'``, ``'dist_device_sync'`` (also spelled ``'dist_sync_device'``) and
    ``'dist_async'``.
    """
    return "dist" in kvstore_name(kvstore)


def is_distributed(kvstore: Any) -> bool:
    """Tell whether ``kvstore`` selects the parameter server or Horovod."""
    return kvstore_name(kvstore) == HOROVOD or is_parameter_server(kvstore)
