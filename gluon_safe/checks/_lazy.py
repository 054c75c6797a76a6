"""NDArray twins of the host checks, for ``check='lazy'``.

A host check needs the label values on the host, and reading an NDArray waits for
MXNet's asynchronous engine.  The lazy twin instead queues a few operators on the
label's own device that reduce each batch to a small statistics vector.  For every
kind of violation the vector stores its count, the flat position of the first
offender and that offender's value, followed by the minimum and maximum label.
Nothing is read until :meth:`LazyLabelCheck.flush`, which copies all pending
vectors in one read per device and raises the error of the first bad batch.  The
message is the one the host check would give, but lists only the first offending
value, not the first few.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._compat import NDArray, mx, nd
from ..errors import LabelError
from ._diagnose import binary_error, indices_error, rows_error
from ._host import ROW_SUM_ATOL

_BIG = 3.0e38
INDEX_KINDS = ("nonfinite", "nonint", "negative", "too_large")
ELEMENT_ROW_KINDS = ("nonfinite", "negative")
ROW_KINDS = ("multi_hot", "row_sum", "not_one_hot")
BINARY_KINDS = ("nonfinite", "range", "nonbinary")


def _first_offenders(masks: NDArray, values: NDArray) -> NDArray:
    """Return ``[count, first position, first value]`` for each row of ``masks``, flattened."""
    counts = masks.sum(axis=1)
    first = masks.argmax(axis=1)
    first_values = nd.take(values, first)
    return nd.stack(counts, first, first_values, axis=1).reshape((-1,))


def _finite_range(values: NDArray, keep: NDArray) -> NDArray:
    lo = nd.where(keep, values, nd.full(values.shape, _BIG, ctx=values.context)).min()
    hi = nd.where(keep, values, nd.full(values.shape, -_BIG, ctx=values.context)).max()
    return nd.concat(lo, hi, dim=0)


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
    :meth:`update` queues about ten small operators per batch and reads nothing back
    (a test counts the host reads).
    Pending statistics stay on their devices until :meth:`flush`; each is a vector of
    at most 15 floats, so an epoch of thousands of batches holds well under a megabyte.
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
        self._pending: list[tuple[Optional[int], tuple[int, ...], NDArray]] = []

    @property
    def pending(self) -> int:
        """Number of batches queued since the last flush."""
        return len(self._pending)

    def update(self, labels: NDArray, batch: Optional[int] = None) -> None:
        """Queue the device-side check of one batch of labels without reading anything back."""
        shape = tuple(int(d) for d in labels.shape)
        if labels.size == 0:
            return
        values = labels.reshape((-1,)).astype("float32", copy=False)
        if self.task == "indices":
            stats = self._indices_stats(values)
        elif self.task == "rows":
            stats = self._rows_stats(values.reshape((-1, shape[-1])))
        else:
            stats = self._binary_stats(values)
        self._pending.append((batch, shape, stats))

    def reset(self) -> None:
        """Drop every pending verdict without reading it."""
        self._pending = []

    def flush(self) -> None:
        """Read all pending verdicts and raise the error of the first bad batch.

        Raises
        ------
        LabelError
            The subclass the host check would raise, naming the batch.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        host_stats = _read_all([stats for _, _, stats in pending])
        for (batch, shape, _), stats in zip(pending, host_stats):
            error = self._error_from(stats, shape, batch)
            if error is not None:
                raise error

    def _indices_stats(self, values: NDArray) -> NDArray:
        ctx = values.context
        finite = nd.contrib.isfinite(values)
        if self.ignore_label is None:
            considered = nd.ones_like(values)
        else:
            considered = values != float(self.ignore_label)
        safe = nd.where(finite, values, nd.zeros_like(values))
        checked = considered * finite
        nonint = checked * (safe != nd.floor(safe))
        negative = checked * (safe < 0)
        if self.num_classes is None:
            too_large = nd.zeros_like(values)
        else:
            too_large = checked * (safe >= float(self.num_classes))
        masks = nd.stack(considered * (1 - finite), nonint, negative, too_large)
        return nd.concat(
            _first_offenders(masks, values),
            _finite_range(values, checked),
            dim=0,
        ).as_in_context(ctx)

    def _rows_stats(self, rows: NDArray) -> NDArray:
        flat = rows.reshape((-1,))
        finite = nd.contrib.isfinite(flat)
        safe = nd.where(finite, flat, nd.zeros_like(flat))
        element_masks = nd.stack(1 - finite, finite * (safe < 0))
        sums = safe.reshape(rows.shape).sum(axis=1)
        binary_rows = (finite * ((safe == 0) + (safe == 1))).reshape(rows.shape).min(axis=1)
        multi_hot = binary_rows * (sums >= 2)
        bad_sum = (1 - multi_hot) * (nd.abs(sums - 1.0) > ROW_SUM_ATOL)
        if self.soft:
            not_one_hot = nd.zeros_like(sums)
        else:
            not_one_hot = binary_rows == 0
        row_masks = nd.stack(multi_hot, bad_sum, not_one_hot)
        return nd.concat(
            _first_offenders(element_masks, flat),
            _first_offenders(row_masks, sums),
            dim=0,
        )

    def _binary_stats(self, values: NDArray) -> NDArray:
        finite = nd.contrib.isfinite(values)
        safe = nd.where(finite, values, nd.zeros_like(values))
        outside = finite * ((safe < 0) + (safe > 1) > 0)
        if self.strict:
            nonbinary = finite * ((safe != 0) * (safe != 1))
        else:
            nonbinary = nd.zeros_like(values)
        masks = nd.stack(1 - finite, outside, nonbinary)
        return nd.concat(
            _first_offenders(masks, values),
            _finite_range(values, finite),
            dim=0,
        )

    def _error_from(
        self, stats: np.ndarray[Any, Any], shape: tuple[int, ...], batch: Optional[int]
    ) -> Optional[LabelError]:
        total = int(np.prod(shape))
        if self.task == "indices":
            lo, hi = _range_or_nan(stats[12], stats[13])
            for i, kind in enumerate(INDEX_KINDS):
                evidence = _evidence_at(stats, i, shape, total)
                if evidence is not None:
                    return indices_error(
                        kind, **evidence, lo=lo, hi=hi, num_classes=self.num_classes,
                        ignore_label=self.ignore_label, name=self.name, batch=batch,
                    )
            return None
        if self.task == "rows":
            for i, kind in enumerate(ELEMENT_ROW_KINDS + ROW_KINDS):
                row_kind = kind in ROW_KINDS
                evidence = _evidence_at(
                    stats, i, shape[:-1] if row_kind else shape,
                    total // shape[-1] if row_kind else total,
                )
                if evidence is not None:
                    return rows_error(kind, **evidence, soft=self.soft, name=self.name,
                                      batch=batch)
            return None
        lo, hi = _range_or_nan(stats[9], stats[10])
        for i, kind in enumerate(BINARY_KINDS):
            evidence = _evidence_at(stats, i, shape, total)
            if evidence is not None:
                return binary_error(kind, **evidence, lo=lo, hi=hi, strict=self.strict,
                                    name=self.name, batch=batch)
        return None


def _evidence_at(
    stats: np.ndarray[Any, Any], kind_index: int, shape: tuple[int, ...], total: int
) -> Optional[dict[str, Any]]:
    count, position, value = stats[3 * kind_index: 3 * kind_index + 3]
    if count < 0.5:
        return None
    index = np.unravel_index(int(position), shape) if shape else ()
    return dict(
        values=[float(str(np.float32(value)))], positions=[tuple(int(i) for i in index)],
        count=round(float(count)), total=total,
    )


def _range_or_nan(lo: float, hi: float) -> tuple[float, float]:
    if lo > hi:  # no finite value was considered
        return float("nan"), float("nan")
    return float(lo), float(hi)


def _read_all(stats: list[NDArray]) -> list[np.ndarray[Any, Any]]:
    """Copy statistics vectors to the host with one blocking read per device."""
    by_ctx: dict[Any, list[int]] = {}
    for i, s in enumerate(stats):
        by_ctx.setdefault(s.context, []).append(i)
    result: list[np.ndarray[Any, Any]] = [np.empty(0)] * len(stats)
    for indices in by_ctx.values():
        group = [stats[i] for i in indices]
        stacked = _stack_ragged(group).asnumpy().astype(np.float64)
        for row, i in zip(stacked, indices):
            result[i] = row[: int(stats[i].size)]
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
