"""Sampler that gives each distributed worker an equal, disjoint share of a dataset."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .._compat import gluon
from ._options import check_int


class ShardSampler(gluon.data.Sampler):  # type: ignore[misc]
    """Sample one shard of a dataset, for data-parallel training over several workers.

    All shards draw from the same permutation of ``range(length)`` and take every
    ``num_shards``-th index of it, starting at ``shard_index``. So shards are disjoint,
    and every shard has the same number of samples: with one batch size, every worker
    runs the same number of batches and none waits for the others at the end of an epoch.

    Parameters
    ----------
    length : int
        Number of samples in the dataset.
    num_shards : int
        Number of shards, usually the number of workers (``kvstore.num_workers``).
    shard_index : int
        The shard this sampler yields, usually the worker's rank, in
        ``[0, num_shards)``.
    shuffle : bool, default True
        Shuffle the indices every epoch. When False, the shard contains indices
        ``shard_index, shard_index + num_shards, ...`` in increasing order.
    seed : int, default 0
        Seed of the shuffle. It must be the same on every worker, or shards overlap.
    drop_remainder : bool, default False
        What to do when ``length`` is not a multiple of ``num_shards``. If False, the
        permutation is padded by wrapping around to its start, so a few samples appear
        twice in an epoch, in different shards. If True, the last
        ``length % num_shards`` samples of the permutation are dropped, different ones
        each epoch when shuffling.

    Raises
    ------
    TypeError
        If a count, the seed or the flags have the wrong type.
    ValueError
        If ``length < 0``, ``num_shards < 1``, ``shard_index`` is outside
        ``[0, num_shards)``, or ``drop_remainder=True`` would leave every shard empty.

    Examples
    --------
    >>> shards = [ShardSampler(10, 3, i, shuffle=False) for i in range(3)]
    >>> [list(s) for s in shards]
    [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    >>> len(ShardSampler(10, 3, 0, drop_remainder=True))
    3
    """

    def __init__(
        self,
        length: int,
        num_shards: int,
        shard_index: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
    ) -> None:
        self._length = check_int("length", length, minimum=0)
        self._num_shards = check_int("num_shards", num_shards, minimum=1)
        self._shard_index = check_int("shard_index", shard_index, minimum=0)
        if self._shard_index >= self._num_shards:
            raise ValueError(f"shard_index={shard_index} is out of range for "
                             f"num_shards={num_shards}; expected 0 <= shard_index < "
                             f"{num_shards}")
        self._seed = check_int("seed", seed, minimum=0)
        for name, flag in (("shuffle", shuffle), ("drop_remainder", drop_remainder)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}={flag!r} has type {type(flag).__name__}; expected a "
                                "bool")
        if drop_remainder and 0 < self._length < self._num_shards:
            raise ValueError(f"drop_remainder=True with length={length} < num_shards="
                             f"{num_shards} leaves every shard empty; pass "
                             "drop_remainder=False to pad the shards instead")
        self._shuffle = shuffle
        self._drop_remainder = drop_remainder
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """The epoch whose order :meth:`__iter__` yields; set it with :meth:`set_epoch`."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle order of ``epoch``.

        Every worker that calls ``set_epoch(n)`` with the same ``seed`` gets the same
        permutation, so shards stay disjoint. Each epoch gets a new order, and the same
        epoch always gets the same order, so a resumed run repeats it exactly.

        Raises
        ------
        TypeError
            If ``epoch`` is not an int.
        ValueError
            If ``epoch`` is negative.
        """
        self._epoch = check_int("epoch", epoch, minimum=0)

    def __len__(self) -> int:
        if self._drop_remainder:
            return self._length // self._num_shards
        return -(-self._length // self._num_shards)

    def __iter__(self) -> Iterator[int]:
        order = self._permutation()
        total = len(self) * self._num_shards
        # np.resize repeats the permutation from its start: the wrap-around padding.
        # It also truncates when the remainder is dropped.
        order = np.resize(order, total) if order.size else order
        return iter(order[self._shard_index::self._num_shards].tolist())

    def _permutation(self) -> np.ndarray[Any, Any]:
        if not self._shuffle:
            return np.arange(self._length)
        # Seeding from the (seed, epoch) pair gives independent streams per epoch.
        rng = np.random.default_rng([self._seed, self._epoch])
        return rng.permutation(self._length)

    def __repr__(self) -> str:
        return (f"ShardSampler(length={self._length}, num_shards={self._num_shards}, "
                f"shard_index={self._shard_index}, shuffle={self._shuffle}, seed={self._seed}, "
                f"drop_remainder={self._drop_remainder})")
