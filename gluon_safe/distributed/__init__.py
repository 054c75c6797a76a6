"""Distributed training on MXNet's parameter server or Horovod.

:func:`join_run` turns a ``kvstore`` argument (``'dist_sync'``, ``'dist_device_sync'``,
``'dist_async'``, ``'horovod'`` or a KVStore object) into a :class:`DistributedRun`.
``fit`` and ``evaluate`` use it to shard the data by rank, size each update, check that
every worker starts from the same parameters, and sum metric totals over the workers.
:func:`is_primary` returns True on worker 0, the only one that prints and writes files.

Submodules are imported on first use of a name, because kvstore servers import
``gluon_safe.distributed._server`` while MXNet, and possibly gluon_safe, are still
being imported in their process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:
    from ._gather import Gatherer, HorovodGatherer, KVStoreGatherer
    from ._horovod import HOROVOD_INSTALL, import_horovod, is_horovod_trainer
    from ._kinds import HOROVOD, is_distributed, is_parameter_server
    from ._kvstore import REQUIRED_ENV, create_kvstore
    from ._metrics import check_combinable
    from ._params import check_same_parameters, parameter_fingerprint
    from ._rank import is_primary, worker_rank
    from ._server import RESERVED_KEY_BASE, ServerOptimizer
    from ._session import DistributedRun, join_run
    from ._shard import evaluation_range, shard_for_evaluation, shard_for_training

_EXPORTS: Dict[str, str] = {
    # name: the submodule that defines it; __getattr__ imports it on first use.
    "DistributedRun": "_session",
    "Gatherer": "_gather",
    "HOROVOD": "_kinds",
    "HOROVOD_INSTALL": "_horovod",
    "HorovodGatherer": "_gather",
    "KVStoreGatherer": "_gather",
    "REQUIRED_ENV": "_kvstore",
    "RESERVED_KEY_BASE": "_server",
    "ServerOptimizer": "_server",
    "check_combinable": "_metrics",
    "check_same_parameters": "_params",
    "create_kvstore": "_kvstore",
    "evaluation_range": "_shard",
    "import_horovod": "_horovod",
    "is_distributed": "_kinds",
    "is_horovod_trainer": "_horovod",
    "is_parameter_server": "_kinds",
    "is_primary": "_rank",
    "join_run": "_session",
    "parameter_fingerprint": "_params",
    "shard_for_evaluation": "_shard",
    "shard_for_training": "_shard",
    "worker_rank": "_rank",
}

__all__ = [
    "DistributedRun",
    "Gatherer",
    "HOROVOD",
    "HOROVOD_INSTALL",
    "HorovodGatherer",
    "KVStoreGatherer",
    "REQUIRED_ENV",
    "RESERVED_KEY_BASE",
    "ServerOptimizer",
    "check_combinable",
    "check_same_parameters",
    "create_kvstore",
    "evaluation_range",
    "import_horovod",
    "is_distributed",
    "is_horovod_trainer",
    "is_parameter_server",
    "is_primary",
    "join_run",
    "parameter_fingerprint",
    "shard_for_evaluation",
    "shard_for_training",
    "worker_rank",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_EXPORTS))
