"""Per-batch results that a lazily checked metric reads only at flush points.

A lazy metric must not read device memory during ``update``, yet it must never fold
the counts of a bad batch into its totals. So each update leaves a
:class:`PendingBatch`: counts already known on the host, or a small statistics vector
still on the device, plus any label error found so far. :meth:`PendingBatches.take`
reads all of them at once and returns the counts of the batches before the first bad
one, together with that batch's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Optional, Tuple

import numpy as np

from .._compat import NDArray
from ..checks import LazyLabelCheck
from ..checks._lazy import read_all
from ..errors import LabelError

Counts = Tuple[Any, Any, int]
"""``(local_sum, global_sum, num)``: what one batch adds to a metric's totals."""


@dataclass
class PendingBatch:
    """The not yet folded result of one label and prediction pair.

    Attributes
    ----------
    batch : int
        Index of the ``update`` call since the last ``reset``.
    counts : tuple, optional
        Counts already known on the host.
    stats : NDArray, optional
        A 1-D statistics vector on the device; the metric turns it into counts.
    info : object
        What the metric needs to interpret ``stats`` (shapes, layout of the vector).
    error : LabelError, optional
        An error already found on the host, raised when this batch is reached.
    """

    batch: int
    counts: Optional[Counts] = None
    stats: Optional[NDArray] = None
    info: Any = None
    error: Optional[LabelError] = None


ReadStats = Callable[[PendingBatch, "np.ndarray[Any, Any]"], Tuple[Counts, Optional[LabelError]]]


class PendingBatches:
    """Pending batches plus the lazy label checks queued for them."""

    def __init__(self) -> None:
        self._batches: list[PendingBatch] = []
        self._checks: dict[Hashable, LazyLabelCheck] = {}

    def __len__(self) -> int:
        return len(self._batches) + sum(check.pending for check in self._checks.values())

    def add(self, pending: PendingBatch) -> None:
        """Queue the result of one pair."""
        self._batches.append(pending)

    def label_check(self, key: Hashable, **options: Any) -> LazyLabelCheck:
        """Return the lazy label check stored under ``key``, creating it from ``options``."""
        check = self._checks.get(key)
        if check is None:
            check = LazyLabelCheck(**options)
            self._checks[key] = check
        return check

    def clear(self) -> None:
        """Drop everything pending without reading it."""
        self._batches = []
        for check in self._checks.values():
            check.reset()

    def take(
        self, read_stats: ReadStats, *, stats_first: bool = False
    ) -> tuple[list[Counts], Optional[LabelError]]:
        """Read everything pending and empty the queue.

        Parameters
        ----------
        read_stats : callable
            ``read_stats(pending, host_stats) -> (counts, error)`` for each batch that
            left a device statistics vector.
        stats_first : bool, default False
            Whether an error found in a batch's statistics outranks a label-check error
            of the same batch. True where the statistics carry a layout check that the
            eager path runs before the label values are checked.

        Returns
        -------
        counts : list of tuple
            The counts of every batch before the first bad one, in update order.
        error : LabelError or None
            The error of the first bad batch.
        """
        batches, self._batches = self._batches, []
        label_error = self._first_label_error()
        device_stats = read_all([b.stats for b in batches if b.stats is not None])

        batch_error: Optional[LabelError] = None
        counted: list[tuple[int, Counts]] = []
        stats_iter = iter(device_stats)
        for pending in batches:
            found = pending.error
            counts = pending.counts
            if pending.stats is not None:
                counts, stats_error = read_stats(pending, next(stats_iter))
                found = found or stats_error
            if found is not None and batch_error is None:
                batch_error = found
            if counts is not None:
                counted.append((pending.batch, counts))

        error = _first_error(batch_error, label_error, stats_first)
        if error is None:
            return [counts for _, counts in counted], None
        # Every pair of the bad update is dropped, as the eager path drops the whole update.
        bad = _batch_of(error)
        return [counts for batch, counts in counted if batch < bad], error

    def _first_label_error(self) -> Optional[LabelError]:
        first: Optional[LabelError] = None
        for check in self._checks.values():
            try:
                check.flush()
            except LabelError as error:
                if first is None or _batch_of(error) < _batch_of(first):
                    first = error
        return first


def _first_error(
    batch_error: Optional[LabelError], label_error: Optional[LabelError], stats_first: bool
) -> Optional[LabelError]:
    """Return the error of the earlier batch; ``stats_first`` decides between those of one batch."""
    if batch_error is None or label_error is None:
        return batch_error or label_error
    if _batch_of(batch_error) == _batch_of(label_error):
        return batch_error if stats_first else label_error
    return min(batch_error, label_error, key=_batch_of)


def _batch_of(error: LabelError) -> int:
    # Every pending result carries its batch index, so None only guards the type.
    return -1 if error.batch is None else error.batch
