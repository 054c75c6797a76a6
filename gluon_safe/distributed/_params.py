"""The start-up check that every worker begins from the same parameters."""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from ..errors import LaunchError
from ._gather import Gatherer

__all__ = ["check_same_parameters", "parameter_fingerprint"]


def parameter_fingerprint(params: Sequence[Any]) -> np.ndarray[Any, Any]:
    """Summarize parameter values in 5 float64 numbers.

    The numbers are the count of parameters, the count of values, their sum, their sum of
    squares and a sum weighted by position, which also changes when equal values trade
    places. Uninitialized parameters count with no values.
    """
    count = float(len(params))
    size = total = squares = weighted = 0.0
    for position, param in enumerate(params):
        if param._data is None:
            continue
        values = param.data(param.list_ctx()[0]).asnumpy().astype(np.float64).reshape(-1)
        weights = np.arange(1, values.size + 1, dtype=np.float64) / values.size + position
        size += values.size
        total += float(values.sum())
        squares += float(np.square(values).sum())
        weighted += float(values @ weights)
    return np.array([count, size, total, squares, weighted])


def check_same_parameters(params: Sequence[Any], gatherer: Gatherer) -> None:
    """Raise unless every worker has the same ``params``, compared by fingerprint.

    Collective: every worker must call it.

    Raises
    ------
    LaunchError
        If any worker's parameters differ from worker 0's, naming those workers and
        saying whether the networks or only the values differ.
    """
    rows = gatherer.allgather(parameter_fingerprint(params).tolist())
    differing: List[int] = [rank for rank in range(1, rows.shape[0])
                            if not np.array_equal(rows[rank], rows[0], equal_nan=True)]
    if not differing:
        return

    shapes_differ = any(not np.array_equal(rows[rank, :2], rows[0, :2]) for rank in differing)
    workers = ", ".join(str(rank) for rank in differing)
    if shapes_differ:
        counts = "; ".join(f"worker {rank}: {int(rows[rank, 0])} parameters with "
                           f"{int(rows[rank, 1])} values" for rank in [0, *differing])
        raise LaunchError(
            f"the networks differ between workers ({counts}). Every worker must build "
            "the same network from the same code and arguments."
        )
    raise LaunchError(
        f"the initial parameter values of worker(s) {workers} differ from those of worker "
        "0. Every worker must start from the same values: pass the same seed to fit on "
        "every worker (fit(..., seed=0)), or load the same parameter file on every worker "
        "before fit."
    )
