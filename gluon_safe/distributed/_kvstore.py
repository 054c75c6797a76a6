"""Creating the parameter-server kvstore of a worker process, once."""

from __future__ import annotations

import logging
import os
from typing import Any, Dict

from .._compat import mx
from ..errors import LaunchError

__all__ = ["REQUIRED_ENV", "create_kvstore"]

logger = logging.getLogger(__name__)

REQUIRED_ENV = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER",
                "DMLC_NUM_WORKER")
"""The variables through which MXNet's parameter server finds the scheduler and its peers."""

_CREATED: Dict[str, Any] = {}


def create_kvstore(name: str) -> Any:
    """Return the distributed kvstore ``name`` of this process, creating it on first use.

    MXNet 1.9.1 supports one distributed kvstore per process: a second
    ``mx.kv.create('dist_sync')`` blocks for ever, waiting for servers that never
    reply to it. So the first one is kept and returned to every later call.

    Raises
    ------
    LaunchError
        If the ``DMLC_*`` variables that a launcher sets are missing, or this process
        is not a worker.
    ValueError
        If this process already created a distributed kvstore of another type.
    """
    if name in _CREATED:
        return _CREATED[name]
    if _CREATED:
        existing = next(iter(_CREATED))
        raise ValueError(f"this process already uses the distributed kvstore {existing!r}, "
                         f"so it cannot create {name!r}: MXNet supports one per process. "
                         f"Pass kvstore={existing!r}.")

    missing = [variable for variable in REQUIRED_ENV if not os.environ.get(variable)]
    if missing:
        raise LaunchError(
            f"kvstore={name!r} needs the environment of a distributed launch, but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Start "
            "the script with a launcher, such as: gluon-safe launch -n 2 -s 1 -- python "
            "train.py"
        )
    role = os.environ["DMLC_ROLE"]
    if role != "worker":
        raise LaunchError(f"kvstore={name!r} was requested in a process with "
                          f"DMLC_ROLE={role!r}; only workers create a kvstore")

    kvstore = mx.kv.create(name)
    _CREATED[name] = kvstore
    logger.info("created kvstore %r: worker %d of %d", name, kvstore.rank, kvstore.num_workers)
    return kvstore
