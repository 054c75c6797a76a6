"""Shared machinery of the safe metrics: check modes, pending batches, option parsing."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Optional

import numpy as np

from .._compat import NDArray, mx, nd
from .._types import CheckMode
from ..checks import check_sparse_layout, normalize_check_mode
from ..errors import LabelError, LabelShapeError
from ._pending import Counts, PendingBatch, PendingBatches


def _folded(attribute: str, doc: str) -> property:
    """Expose a running total that first folds in the pending lazy batches."""

    def fget(self: SafeMetricBase) -> Any:
        if self._pending:
            self.flush()
        return getattr(self, attribute)

    def fset(self: SafeMetricBase, value: Any) -> None:
        setattr(self, attribute, value)

    return property(fget, fset, doc=doc)


class SafeMetricBase(mx.metric.EvalMetric):  # type: ignore[misc]
    """Base of the gluon_safe metrics: check modes, batch indices and lazy flushing.

    Subclasses call :meth:`_init_safety` before ``EvalMetric.__init__`` (which calls
    ``reset``). Reading ``sum_metric``, ``num_inst`` or their ``global_`` twins, and so
    ``get()``, ``get_global()`` and ``get_name_value()``, first folds in the results of
    lazily checked batches, and raises the error of the first bad one.
    """

    higher_is_better: ClassVar[bool] = True
    """Direction of the metric, for early stopping and checkpoint selection."""

    _stats_errors_first: ClassVar[bool] = False
    """Whether an error in a lazy batch's device statistics outranks a label-value error of
    the same batch, as it does where the eager path checks that layout first."""

    sum_metric = _folded("_sum_metric", "Sum of the local metric, pending batches included.")
    num_inst = _folded("_num_inst", "Number of local instances, pending batches included.")
    global_sum_metric = _folded(
        "_global_sum_metric", "Sum of the global metric, pending batches included."
    )
    global_num_inst = _folded(
        "_global_num_inst", "Number of global instances, pending batches included."
    )

    def _init_safety(self, check: Any) -> None:
        self._check: CheckMode = normalize_check_mode(check)
        self._pending = PendingBatches()
        self._batch = 0

    @property
    def check(self) -> CheckMode:
        """The check mode: ``'auto'``, ``'eager'``, ``'lazy'`` or ``'off'``."""
        return self._check

    def flush(self) -> None:
        """Fold the pending lazy results into the totals; raise the first bad batch.

        Batches before the bad one are counted; the bad batch and every later one are
        dropped. Does nothing (and reads nothing) when no batch is pending.

        Raises
        ------
        LabelError
            The error of the first bad batch since the last flush, naming that batch
            (the index of its ``update`` call since the last ``reset``).
        """
        if not self._pending:
            return
        counts, error = self._pending.take(
            self._read_stats, stats_first=self._stats_errors_first
        )
        for local_sum, global_sum, num in counts:
            self._fold(local_sum, global_sum, num)
        if error is not None:
            raise error

    def reset(self) -> None:
        """Reset all totals and the batch index, after flushing pending batches.

        Raises
        ------
        LabelError
            If a pending batch was bad. The metric is reset all the same.
        """
        try:
            self.flush()
        finally:
            self._pending.clear()
            self._batch = 0
            super().reset()

    def reset_local(self) -> None:
        """Reset the local totals, after folding pending batches into the global ones.

        Raises
        ------
        LabelError
            If a pending batch was bad. The local totals are reset all the same.
        """
        try:
            self.flush()
        finally:
            super().reset_local()

    def _next_batch(self) -> int:
        batch = self._batch
        self._batch += 1
        return batch

    def _add_counts(self, batch: int, local_sum: Any, global_sum: Any, num: int) -> None:
        """Add one pair's counts, behind any pending batch so that order is kept."""
        if self._pending:
            self._pending.add(PendingBatch(batch, counts=(local_sum, global_sum, num)))
            return
        self._fold(local_sum, global_sum, num)

    def _fold(self, local_sum: Any, global_sum: Any, num: int) -> None:
        self._sum_metric += local_sum
        self._global_sum_metric += global_sum
        self._num_inst += num
        self._global_num_inst += num

    def _read_stats(
        self, pending: PendingBatch, stats: np.ndarray[Any, Any]
    ) -> tuple[Counts, Optional[LabelError]]:
        """Turn a device statistics vector into counts and an optional error."""
        raise NotImplementedError(f"{type(self).__name__} queues no device statistics")


def as_pairs(labels: Any, preds: Any) -> tuple[list[Any], list[Any]]:
    """Wrap single arrays in lists and check that labels and preds pair up.

    Raises
    ------
    LabelShapeError
        If the number of label arrays differs from the number of prediction arrays.
    """
    label_list = [labels] if _is_array(labels) else list(labels)
    pred_list = [preds] if _is_array(preds) else list(preds)
    if len(label_list) != len(pred_list):
        raise LabelShapeError(
            f"got {len(label_list)} label arrays but {len(pred_list)} prediction arrays",
            expected="one label array per prediction array",
            hint=(
                "Pass the per-device lists of labels and outputs together, both split "
                "by gluon.utils.split_and_load with the same ctx_list."
            ),
        )
    return label_list, pred_list


def _is_array(value: Any) -> bool:
    return isinstance(value, (NDArray, np.ndarray))


def pair_name(index: int, count: int) -> str:
    """Name a label array in messages: ``labels``, or ``labels[1]`` when there are several."""
    return "labels" if count == 1 else f"labels[{index}]"


def to_host(array: Any) -> np.ndarray[Any, Any]:
    """Return ``array`` as numpy; an NDArray is copied to the host (a blocking read)."""
    if isinstance(array, NDArray):
        return array.asnumpy()  # type: ignore[no-any-return]
    return np.asarray(array)


def argmax(preds: Any, axis: int) -> Any:
    """Take the argmax where the predictions live: on their device for an NDArray."""
    if isinstance(preds, NDArray):
        return nd.argmax(preds, axis=axis)
    return np.argmax(np.asarray(preds), axis=axis)


def all_ndarrays(*arrays: list[Any]) -> bool:
    """Tell whether every array in the given lists is an NDArray (a lazy path needs them)."""
    return all(isinstance(a, NDArray) for group in arrays for a in group)


def class_count(
    pred_shape: tuple[int, ...], axis: int, num_classes: Optional[int], batch: int
) -> int:
    """Return the size of the class axis of score predictions.

    Raises
    ------
    LabelShapeError
        If ``num_classes`` was given and differs from the class axis.
    """
    found = int(pred_shape[axis])
    if num_classes is not None and found != num_classes:
        raise LabelShapeError(
            f"preds have {found} classes on axis {axis} (shape {pred_shape}) but "
            f"num_classes={num_classes}",
            expected=f"predictions with {num_classes} entries on axis {axis}",
            hint=(
                "Set num_classes to the number of output units, or leave it None to take "
                "it from the predictions."
            ),
            name="preds", batch=batch,
        )
    return found


def raise_size_mismatch(
    label_shape: tuple[int, ...],
    pred_shape: tuple[int, ...],
    *,
    axis: int,
    label_values: Optional[np.ndarray[Any, Any]],
    dense_fix: str,
    name: str,
    batch: int,
) -> None:
    """Raise the error for labels whose count differs from the prediction rows.

    Raises
    ------
    LabelLayoutError
        If the labels look like dense rows.
    LabelShapeError
        Otherwise.
    """
    check_sparse_layout(
        label_shape, pred_shape, axis=axis, label_values=label_values,
        dense_fix=dense_fix, name=name, batch=batch,
    )
    # check_sparse_layout accepts any label shape whose size matches the rows. It returns
    # only for a mismatch it does not model, such as a 0-d label.
    raise LabelShapeError(
        f"{name} of shape {label_shape} do not match predictions of shape {pred_shape}",
        expected="one label per prediction row", name=name, batch=batch,
    )


def validate_num_classes(num_classes: Any) -> Optional[int]:
    """Return ``num_classes`` if it is None or a positive int, else raise ValueError."""
    if num_classes is None:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes={num_classes!r} must be a positive int or None")
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} must be a positive int or None")
    return int(num_classes)


def validate_ignore_label(ignore_label: Any) -> Optional[float]:
    """Return ``ignore_label`` if it is None or a finite number, else raise ValueError."""
    if ignore_label is None:
        return None
    if isinstance(ignore_label, bool) or not isinstance(ignore_label, (int, float, np.number)):
        raise ValueError(f"ignore_label={ignore_label!r} must be a number or None")
    if not math.isfinite(float(ignore_label)):
        raise ValueError(
            f"ignore_label={ignore_label!r} must be finite: NaN never equals a label, so "
            "nothing would be ignored"
        )
    return float(ignore_label)


def validate_flag(value: Any, name: str) -> bool:
    """Return ``value`` if it is a bool, else raise TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be True or False")
    return value

