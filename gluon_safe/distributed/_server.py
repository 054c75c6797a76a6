"""The optimizer that kvstore servers run, so that gluon_safe's all-gathers pass unchanged.

With ``update_on_kvstore=True`` (MXNet's default for a distributed kvstore) the workers
send their optimizer to the servers, and the servers apply it to every pushed key. A
metric sum pushed to a spare key would come back as a weight "updated" by Adam. So
gluon_safe sends the servers a :class:`ServerOptimizer` that wraps the trainer's
optimizer. Keys above :data:`RESERVED_KEY_BASE` keep the rows pushed to them, and every
other key goes to the trainer's optimizer unchanged.

A server unpickles this class while ``import mxnet`` (and maybe ``import gluon_safe``)
is still running in the server process, so this module imports nothing from gluon_safe,
and ``gluon_safe.distributed`` loads its other modules lazily.
"""

from __future__ import annotations

from typing import Any, List, Sequence

__all__ = [
    "MAX_WIDTH", "RESERVED_KEY_BASE", "ServerOptimizer", "is_reserved_key", "keep_pushed_rows",
]

RESERVED_KEY_BASE = 200_000
"""First kvstore key that gluon_safe uses for its all-gathers.

The key of an all-gather of rows of ``width`` values is ``RESERVED_KEY_BASE + width``,
because servers see every key as a flat array and need the width to find the rows.
Gluon trainers use the keys 0..N-1 for N parameters. MXNet 1.9.1 picks the server of a
key as ``key * 9973 % num_servers`` in a 32-bit int, so keys stay below 2**31 / 9973
(about 215,000), which leaves room for :data:`MAX_WIDTH`.
"""

MAX_WIDTH = 10_000
"""The widest row an all-gather may use."""


def is_reserved_key(key: Any) -> bool:
    """Tell whether ``key`` is one of gluon_safe's all-gather keys."""
    return (isinstance(key, int) and not isinstance(key, bool)
            and RESERVED_KEY_BASE < key <= RESERVED_KEY_BASE + MAX_WIDTH)


def keep_pushed_rows(stored: Any, pushed: Any, width: int) -> None:
    """Copy into ``stored`` the rows of ``pushed`` whose first column is not 0.

    Both arrays contain (num_workers, width) values, flat on a server. Each worker pushes
    its values in its own row, marked by a non-zero first column, and zeros elsewhere. A
    ``dist_sync`` server receives the sum of all pushes, so every row is marked and the
    whole array is kept. A ``dist_async`` server receives one push at a time and keeps
    that worker's row only.
    """
    # numpy, because `mx.nd` may not be bound yet in a server that is still inside
    # `import mxnet`, and a copy keeps NaN and inf values as they are.
    rows = pushed.asnumpy().reshape((-1, width))
    stored_rows = stored.asnumpy().reshape((-1, width))
    marked = rows[:, 0] != 0
    stored_rows[marked] = rows[marked]
    stored[:] = stored_rows.reshape(stored.shape)


class ServerOptimizer:
    """Wrap an MXNet optimizer so that the all-gather keys bypass it.

    Every attribute other than the two methods below is the wrapped optimizer's, so
    MXNet's ``Updater`` and ``KVStore.set_optimizer`` treat the wrapper as the
    optimizer itself.

    Parameters
    ----------
    optimizer : mxnet.optimizer.Optimizer
        The trainer's optimizer.
    """

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer

    def __getattr__(self, name: str) -> Any:
        # Dunder lookups (such as __setstate__ while unpickling, before `optimizer`
        # exists) must fail normally instead of recursing.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["optimizer"], name)

    def create_state_multi_precision(self, index: Any, weight: Any) -> Any:
        """Create the optimizer state of a parameter key; all-gather keys get none."""
        if is_reserved_key(index):
            return None
        return self.optimizer.create_state_multi_precision(index, weight)

    def update_multi_precision(self, index: Any, weight: Any, grad: Any, state: Any) -> None:
        """Apply the optimizer to parameter keys and :func:`keep_pushed_rows` to the others.

        MXNet's ``Updater`` passes one key, or sequences of keys when it aggregates
        updates.
        """
        if not isinstance(index, (list, tuple)):
            if is_reserved_key(index):
                keep_pushed_rows(weight, grad, index - RESERVED_KEY_BASE)
            else:
                self.optimizer.update_multi_precision(index, weight, grad, state)
            return

        kept: List[int] = []
        for position, key in enumerate(index):
            if is_reserved_key(key):
                keep_pushed_rows(weight[position], grad[position], key - RESERVED_KEY_BASE)
            else:
                kept.append(position)
        if kept:
            self.optimizer.update_multi_precision(
                _pick(index, kept), _pick(weight, kept), _pick(grad, kept), _pick(state, kept)
            )


def _pick(values: Sequence[Any], positions: List[int]) -> List[Any]:
    return [values[position] for position in positions]
