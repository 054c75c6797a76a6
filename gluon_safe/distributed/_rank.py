"""The rank of a worker process, so that only worker 0 prints, logs epochs and writes files."""

from __future__ import annotations

from typing import Any

from ._horovod import import_horovod, is_horovod_trainer
from ._kinds import is_parameter_server

__all__ = ["is_primary", "worker_rank"]


def worker_rank(trainer: Any) -> int:
    """Return the rank of this worker in the distributed run of ``trainer``, else 0.

    The rank comes from the trainer's distributed kvstore object, or from Horovod for
    a ``horovod.mxnet.DistributedTrainer``. A trainer whose kvstore is still a string
    has not joined a run yet and counts as rank 0; ``fit`` replaces such strings by the
    kvstore object before it trains.
    """
    kvstore = getattr(trainer, "_kvstore", None)
    if kvstore is None:
        kvstore = getattr(trainer, "_kvstore_params", {}).get("kvstore")
    if kvstore is not None and not isinstance(kvstore, str) and is_parameter_server(kvstore):
        return int(kvstore.rank)
    if is_horovod_trainer(trainer):
        return int(import_horovod().rank())
    return 0


def is_primary(trainer: Any) -> bool:
    """Tell whether this process is worker 0 (or not distributed at all)."""
    return worker_rank(trainer) == 0
