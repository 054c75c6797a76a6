"""NDArray twins of the host checks, for ``check='lazy'``.

A host check needs the label values on the host, and reading an NDArray waits for
MXNet's asynchronous engine.  The lazy twin instead runs one small hybridized block
on the label's own device that counts the invalid values of each batch, and keeps
that count (a one-element NDArray) with a reference to the labels.  Nothing is read
until :meth:`LazyLabelCheck.flush`, which copies all pending counts with one read
per device.  For the first batch whose count is not zero it runs the host check on
that batch's labels, so the error message is exactly the one eager mode gives, and
it names the batch.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

from .._compat import NDArray, gluon, mx, nd
from ..errors import LabelError
from ._host import ROW_SUM_ATOL, check_binary, check_class_indices, check_probability_rows

MAX_PENDING = 1024
"""Pending batches that trigger a flush inside :meth:`LazyLabelCheck.update`.

The bound keeps the retained labels small; one read per 1,024 batches costs nothing
measurable.
"""


class _IndexViolations(gluon.HybridBlock):  # type: ignore[misc]
    """Count labels that are not class indices in ``[0, num_classes)``."""

    def __init__(self, num_classes: Optional[int], ignore_label: Optional[float]) -> None:
        super().__init__()
        self._num_classes = num_classes
        self._ignore_label = ignore_label

    def hybrid_forward(self, F: Any, labels: Any) -> Any:
        x = F.cast(labels, "float32")
        # x - x is NaN exactly for NaN and +-inf; NaN also fails x == floor(x).
        bad = ((x - x) != 0) + (x != F.floor(x)) + (x < 0)
        if self._num_classes is not None:
            bad = bad + (x >= float(self._num_classes))
        if self._ignore_label is not None:
            bad = bad * (x != float(self._ignore_label))
        return F.sum(bad)


class _RowViolations(gluon.HybridBlock):  # type: ignore[misc]
    """Count invalid cells and rows of one-hot or probability rows on the last axis."""

    def __init__(self, soft: bool) -> None:
        super().__init__()
        self._soft = soft

    def hybrid_forward(self, F: Any, labels: Any) -> Any:
        x = F.cast(labels, "float32")
        bad_cells = ((x - x) != 0) + (x < 0)
        if not self._soft:
            bad_cells = bad_cells + (x != 0) * (x != 1)
        bad_rows = F.abs(F.sum(x, axis=-1) - 1.0) > ROW_SUM_ATOL
        return F.sum(bad_cells) + F.sum(bad_rows)


class _BinaryViolations(gluon.HybridBlock):  # type: ignore[misc]
    """Count targets outside [0, 1], or (``strict``) other than 0 and 1."""

    def __init__(self, strict: bool) -> None:
        super().__init__()
        self._strict = strict

    def hybrid_forward(self, F: Any, labels: Any) -> Any:
        x = F.cast(labels, "float32")
        bad = ((x - x) != 0) + (x < 0) + (x > 1)
        if self._strict:
            bad = bad + (x != 0) * (x != 1)
        return F.sum(bad)


@functools.cache
def _violation_counter(
    task: str,
    num_classes: Optional[int],
    ignore_label: Optional[float],
    soft: bool,
    strict: bool,
) -> gluon.HybridBlock:
    # Cached per configuration outside the check objects, so the metrics and losses that
    # hold them stay cheap to deepcopy and pickle.
    counter: gluon.HybridBlock
    if task == "indices":
        counter = _IndexViolations(num_classes, ignore_label)
    elif task == "rows":
        counter = _RowViolations(soft)
    else:
        counter = _BinaryViolations(strict)
    counter.hybridize(static_alloc=True)
    return counter


class LazyLabelCheck:
    """Device-side label checks whose verdict is read only at :meth:`flush`.

    Parameters
    ----------
    task : {'indices', 'rows', 'binary'}
        ``'indices'``: sparse class indices (see ``check_class_indices``);
        ``'rows'``: one-hot or probability rows on the last axis
        (see ``check_probability_rows``); ``'binary'``: values in [0, 1] or 0/1
        (see ``check_binary``).
    num_classes : int, optional
        Number of classes for ``'indices'``.
    ignore_label : float, optional
        Exempt value for ``'indices'``.
    soft : bool, default True
        For ``'rows'``: accept probability rows, not only one-hot rows.
    strict : bool, default False
        For ``'binary'``: require exactly 0 or 1.
    name : str, default 'labels'
        Argument name used in messages.

    Notes
    -----
    :meth:`update` runs one cached graph per batch and reads nothing back (a test
    counts the host reads).  It keeps a reference to the labels until the next flush,
    so labels changed in place before the flush are checked as they are then.  After
    :data:`MAX_PENDING` batches, :meth:`update` flushes by itself, and may raise there.
    """

    def __init__(
        self,
        task: str,
        *,
        num_classes: Optional[int] = None,
        ignore_label: Optional[float] = None,
        soft: bool = True,
        strict: bool = False,
        name: str = "labels",
    ) -> None:
        if task not in ("indices", "rows", "binary"):
            raise ValueError(
                f"task={task!r} is not a lazy check task; expected 'indices', 'rows' or 'binary'"
            )
        self.task = task
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.soft = soft
        self.strict = strict
        self.name = name
        self._counter = _violation_counter(task, num_classes, ignore_label, soft, strict)
        self._pending: list[tuple[Optional[int], NDArray, NDArray]] = []

    @property
    def pending(self) -> int:
        """Number of batches queued since the last flush."""
        return len(self._pending)

    def update(self, labels: NDArray, batch: Optional[int] = None) -> None:
        """Queue the device-side check of one batch of labels without reading anything back."""
        if labels.size == 0:
            return
        self._pending.append((batch, labels, self._counter(labels)))
        if len(self._pending) >= MAX_PENDING:
            self.flush()

    def reset(self) -> None:
        """Drop every pending verdict without reading it."""
        self._pending = []

    def flush(self) -> None:
        """Read all pending verdicts and raise the error of the first bad batch.

        Raises
        ------
        LabelError
            The subclass the host check raises for that batch's labels, naming the batch.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        counts = read_all([count for _, _, count in pending])
        for (batch, labels, _), count in zip(pending, counts):
            if count[0] > 0:
                raise self._host_error(labels, batch, int(count[0]))

    def _host_error(self, labels: NDArray, batch: Optional[int], count: int) -> LabelError:
        values = labels.asnumpy()
        try:
            if self.task == "indices":
                check_class_indices(values, self.num_classes, ignore_label=self.ignore_label,
                                    name=self.name, batch=batch)
            elif self.task == "rows":
                check_probability_rows(values, soft=self.soft, name=self.name, batch=batch)
            else:
                check_binary(values, strict=self.strict, name=self.name, batch=batch)
        except LabelError as error:
            return error
        return LabelError(
            f"{self.name} held {count} invalid values when they were queued, but were "
            "changed in place before the check was read",
            expected="labels left unchanged until the lazy check is flushed",
            hint="Copy labels before reusing their buffer, or use check='eager'.",
            name=self.name, batch=batch,
        )


def read_all(arrays: list[NDArray]) -> list[np.ndarray[Any, Any]]:
    """Copy small 1-D NDArrays to the host with one blocking read per device."""
    by_ctx: dict[Any, list[int]] = {}
    for i, array in enumerate(arrays):
        by_ctx.setdefault(array.context, []).append(i)
    result: list[np.ndarray[Any, Any]] = [np.empty(0)] * len(arrays)
    for indices in by_ctx.values():
        stacked = _stack_ragged([arrays[i] for i in indices]).asnumpy().astype(np.float64)
        for row, i in zip(stacked, indices):
            result[i] = row[: int(arrays[i].size)]
    return result



def _stack_ragged(arrays: list[NDArray]) -> NDArray:
    width = max(int(a.size) for a in arrays)
    padded = [
        a if a.size == width else nd.concat(a, nd.zeros((width - a.size,), ctx=a.context), dim=0)
        for a in arrays
    ]
    return nd.stack(*padded)


def is_host_array(labels: Any) -> bool:
    """Tell whether reading ``labels`` costs no device transfer (numpy, or a CPU NDArray)."""
    if isinstance(labels, mx.nd.NDArray):
        return bool(labels.context.device_type in ("cpu", "cpu_pinned", "cpu_shared"))
    return True
