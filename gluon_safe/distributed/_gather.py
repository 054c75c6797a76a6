"""All-gathers of a few float64 values per worker, through the kvstore or Horovod.

Metric sums, loss sums and parameter checksums are small, so each worker sends its
values to every other one and every worker adds them up in the same order, which
gives every worker bit-identical totals.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence

import numpy as np

from .._compat import mx, nd
from ..errors import LaunchError
from ._server import MAX_WIDTH, RESERVED_KEY_BASE, ServerOptimizer

__all__ = [
    "Gatherer",
    "HorovodGatherer",
    "KVStoreGatherer",
    "gatherer_for_kvstore",
    "join_float32_parts",
    "split_into_float32",
]

logger = logging.getLogger(__name__)


class Gatherer:
    """Exchange values between the workers of one distributed run.

    Attributes
    ----------
    rank : int
        This worker's rank, from 0.
    num_workers : int
        Number of workers.
    """

    rank: int
    num_workers: int

    def allgather(self, values: Sequence[float]) -> np.ndarray[Any, Any]:
        """Return every worker's ``values``, shape (num_workers, len(values)), float64.

        Every worker must call this with as many values, in the same order of calls.
        """
        raise NotImplementedError

    def allreduce_sum(self, values: Sequence[float]) -> np.ndarray[Any, Any]:
        """Return the sum over the workers of ``values``, the same on every worker."""
        return np.asarray(self.allgather(values).sum(axis=0))


class KVStoreGatherer(Gatherer):
    """All-gather through a parameter-server kvstore.

    Each number of values gets a kvstore key of its own. A worker pushes a
    (num_workers, width) array with a call counter and its values in its own row and
    zeros elsewhere. A ``dist_sync`` server adds the pushes of all workers, so pulling
    returns every row. Servers that apply an optimizer must run
    :class:`~gluon_safe.distributed._server.ServerOptimizer`, which keeps pushed rows
    as they are; the counter in each row shows whether they did.

    The values travel as float32, which is what MXNet 1.9.1's ``dist_sync`` kept of
    float64 arrays in a test on this package's pip build (0.3 came back as
    0.30000001). So each float64 value goes as three float32 parts that add up to it
    exactly (see :func:`split_into_float32`).
    """

    def __init__(self, kvstore: Any) -> None:
        self.kvstore = kvstore
        self.rank = int(kvstore.rank)
        self.num_workers = int(kvstore.num_workers)
        self.is_async = "async" in str(kvstore.type)
        self.has_server_optimizer = False
        self._keys: Dict[int, int] = {}
        self._calls = 0

    def install_server_optimizer(self, optimizer: Any) -> None:
        """Send the servers ``optimizer`` wrapped in a :class:`ServerOptimizer`.

        Replaces the optimizer that ``gluon.Trainer`` sent, before any update used it.
        """
        self.kvstore.set_optimizer(ServerOptimizer(optimizer))
        self.has_server_optimizer = True

    def allgather(self, values: Sequence[float]) -> np.ndarray[Any, Any]:
        parts = split_into_float32(np.asarray(values, dtype=np.float64).reshape(-1))
        width = parts.size + 1
        if width > MAX_WIDTH:
            raise ValueError(f"cannot all-gather {len(values)} values; at most "
                             f"{(MAX_WIDTH - 1) // 3} fit in one call")
        key = self._key(width)

        self._calls += 1
        pushed = np.zeros((self.num_workers, width), dtype=np.float32)
        pushed[self.rank, 0] = self._calls
        pushed[self.rank, 1:] = parts
        self.kvstore.push(key, nd.array(pushed, dtype=np.float32))
        if self.is_async:
            # An async server applies each push on arrival; wait until every worker's
            # push has been applied before reading.
            nd.waitall()
            self.kvstore._barrier()
        pulled = nd.zeros(pushed.shape, dtype=np.float32)
        self.kvstore.pull(key, out=pulled)
        gathered = pulled.asnumpy()
        if self.is_async:
            # No worker may push the next call's row before every worker has read this one.
            self.kvstore._barrier()

        self._check_rows(gathered, pushed)
        return join_float32_parts(gathered[:, 1:])

    def _key(self, width: int) -> int:
        key = self._keys.get(width)
        if key is not None:
            return key
        if self.is_async and not self.has_server_optimizer:
            # An async server without an optimizer aborts on the first push. This one only
            # keeps rows here, and a trainer's optimizer replaces it later.
            self.install_server_optimizer(mx.optimizer.SGD())
        key = RESERVED_KEY_BASE + width
        # init() is collective: every worker calls it, rank 0 sends the zeros.
        self.kvstore.init(key, nd.zeros((self.num_workers, width), dtype=np.float32))
        self._keys[width] = key
        return key

    def _check_rows(self, gathered: np.ndarray[Any, Any], pushed: np.ndarray[Any, Any]) -> None:
        own_row_kept = np.array_equal(gathered[self.rank], pushed[self.rank], equal_nan=True)
        if own_row_kept and np.all(gathered[:, 0] == self._calls):
            return
        if not own_row_kept:
            raise LaunchError(
                "the kvstore servers changed the values that gluon_safe exchanges between "
                "workers: they apply the optimizer to them, so they do not run gluon_safe's "
                "ServerOptimizer. Start the servers with `gluon-safe launch`, or import "
                "gluon_safe before mxnet in the script that the servers run."
            )
        raise LaunchError(
            f"worker {self.rank} expected the all-gather number {self._calls} of every "
            f"worker, but received the numbers {gathered[:, 0].astype(int).tolist()}: the "
            "workers call fit or evaluate in different orders or different numbers of times"
        )


class HorovodGatherer(Gatherer):
    """All-gather through Horovod."""

    def __init__(self, hvd: Any) -> None:
        self.hvd = hvd
        self.rank = int(hvd.rank())
        self.num_workers = int(hvd.size())

    def allgather(self, values: Sequence[float]) -> np.ndarray[Any, Any]:
        row = np.asarray(values, dtype=np.float64).reshape(1, -1)
        gathered = self.hvd.allgather(nd.array(row, dtype=np.float64))
        return np.asarray(gathered.asnumpy())


def split_into_float32(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Return three float32 parts per float64 value, shape (3 * len(values),).

    Each part takes the float32 rounding of what the previous parts left, so 24 + 24 +
    24 bits cover the 53 of a float64, and zero or a value with
    ``2**-97 (about 6.4e-30) <= |x| <= 3.4e38`` is the exact float64 sum of its parts.
    Smaller magnitudes lose their last bits below float32's subnormal range; larger ones
    overflow float32. NaN and infinite values are sent as they are.

    Examples
    --------
    >>> parts = split_into_float32(np.array([0.1]))
    >>> parts.dtype, float(join_float32_parts(parts.reshape(1, -1))[0, 0]) == 0.1
    (dtype('float32'), True)
    """
    values = np.asarray(values, dtype=np.float64)
    parts = np.zeros((values.size, 3), dtype=np.float32)
    finite = np.isfinite(values)
    parts[~finite, 0] = values[~finite]
    remainder = np.where(finite, values, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for column in range(3):
            parts[:, column] = np.where(finite, remainder.astype(np.float32), parts[:, column])
            remainder = remainder - parts[:, column].astype(np.float64)
    return parts.reshape(-1)


def join_float32_parts(parts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Invert :func:`split_into_float32` row by row: (rows, 3 * m) float32 to (rows, m)."""
    grouped = np.asarray(parts, dtype=np.float64).reshape(parts.shape[0], -1, 3)
    return np.asarray(grouped[..., 0] + grouped[..., 1] + grouped[..., 2])


_GATHERERS: Dict[int, KVStoreGatherer] = {}


def gatherer_for_kvstore(kvstore: Any) -> KVStoreGatherer:
    """Return the gatherer of ``kvstore``, one per kvstore object.

    Sharing one keeps ``fit`` and ``evaluate`` from initializing the same key twice,
    which a ``dist_sync`` server would take for a push and wait on for ever.
    """
    gatherer: Optional[KVStoreGatherer] = _GATHERERS.get(id(kvstore))
    if gatherer is None or gatherer.kvstore is not kvstore:
        gatherer = KVStoreGatherer(kvstore)
        _GATHERERS[id(kvstore)] = gatherer
    return gatherer
