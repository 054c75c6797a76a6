"""Per-epoch seeding, so that a resumed run draws the same random numbers as an uninterrupted one.

MXNet cannot read back the state of its random generators, so a checkpoint cannot
store it. Instead ``fit(seed=S)`` reseeds Python, numpy and MXNet at the start of
every epoch from ``(S, epoch)``. Epoch k then draws the same numbers whether or not
the run was interrupted before it.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from .._compat import mx

__all__ = ["epoch_seed", "seed_epoch", "set_sampler_epoch"]


def epoch_seed(seed: int, epoch: int) -> int:
    """Derive the 32-bit seed of one epoch from the run's seed.

    Examples
    --------
    >>> epoch_seed(7, 0) == epoch_seed(7, 0), epoch_seed(7, 0) == epoch_seed(7, 1)
    (True, False)
    """
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed Python's ``random``, numpy's global generator and MXNet (every device)."""
    value = epoch_seed(seed, epoch)
    random.seed(value)
    np.random.seed(value)
    mx.random.seed(value)


def set_sampler_epoch(data: Any, epoch: int) -> bool:
    """Call ``set_epoch(epoch)`` on the first sampler-like object found in ``data``.

    Looks at ``data`` itself, then through a DeviceDataLoader's inner DataLoader and a
    DataLoader's batch sampler down to its sampler, such as a
    :class:`~gluon_safe.ShardSampler`. Returns whether one was found.
    """
    seen = set()
    candidates = [data]
    while candidates:
        candidate = candidates.pop(0)
        if candidate is None or id(candidate) in seen:
            continue
        seen.add(id(candidate))
        set_epoch = getattr(candidate, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
            return True
        for attribute in ("_inner", "_batch_sampler", "_sampler"):
            candidates.append(getattr(candidate, attribute, None))
    return False
