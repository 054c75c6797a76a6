"""Label checks on host (numpy) arrays.

Each ``check_*`` function returns None for valid labels and raises a
:class:`~gluon_safe.errors.LabelError` subclass otherwise.  The valid path is a few
vectorised reductions (min, max, one integrality test); the full diagnosis runs only
once something is wrong.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import MAX_SHOWN, LabelTypeError
from ._diagnose import binary_error, indices_error, layout_error, rows_error

ROW_SUM_ATOL = 1e-3
"""Tolerance on ``|row sum - 1|`` for probability rows; float32 softmax rows stay far inside it."""


def as_label_array(labels: Any, *, name: str = "labels") -> np.ndarray[Any, Any]:
    """Return ``labels`` as a numeric numpy array (NDArrays are copied to the host).

    Raises
    ------
    LabelTypeError
        If the values are not numbers (strings, objects, mixed types).
    """
    if hasattr(labels, "asnumpy"):
        array: np.ndarray[Any, Any] = labels.asnumpy()
    else:
        array = np.asarray(labels)
    if array.dtype.kind not in "biuf":
        sample = array.ravel()[:MAX_SHOWN].tolist()
        raise LabelTypeError(
            f"{name} must be numbers, got dtype {array.dtype}",
            values=sample,
            expected="a numeric array (int or float)",
            hint="Map raw class values such as strings with gluon_safe.LabelEncoder first.",
            name=name,
        )
    return array


def as_python_scalar(value: Any) -> Any:
    """Convert a numpy scalar to a Python one; float32 keeps its short form (0.2)."""
    if isinstance(value, (np.float32, np.float16)):
        return float(str(value))
    return value.item() if hasattr(value, "item") else value


def _first_positions(mask: np.ndarray[Any, Any]) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in p) for p in np.argwhere(mask)[:MAX_SHOWN]]


def evidence(array: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> dict[str, Any]:
    positions = _first_positions(mask)
    return dict(
        values=[as_python_scalar(array[p]) for p in positions],
        positions=positions,
        count=int(mask.sum()),
        total=int(array.size),
    )


def _finite_range(values: np.ndarray[Any, Any]) -> tuple[float, float]:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.min()), float(finite.max())


def check_class_indices(
    labels: Any,
    num_classes: Optional[int] = None,
    *,
    ignore_label: Optional[float] = None,
    name: str = "labels",
    batch: Optional[int] = None,
) -> None:
    """Check that ``labels`` are class indices in ``[0, num_classes)``.

    Parameters
    ----------
    labels : array-like of any shape
        Sparse labels, one class index per item. Integral floats such as ``2.0`` are
        valid, since MXNet labels are float32 by default.
    num_classes : int, optional
        Number of classes K. When None, only the upper bound is left unchecked.
    ignore_label : float, optional
        A value that marks items to leave out (padding), such as ``-1``. It is exempt
        from every check.
    name : str, default 'labels'
        Argument name used in the message.
    batch : int, optional
        Batch index to name in the message.

    Raises
    ------
    LabelTypeError
        If the labels are not numeric.
    NonFiniteLabelError
        If a label is NaN or infinite.
    NonIntegerLabelError
        If a label has a fractional part (e.g. 0.2: labels normalized to [0, 1]).
    LabelRangeError
        If a label is negative or ``>= num_classes`` (e.g. 1-based labels).

    Examples
    --------
    >>> check_class_indices([0.0, 2.0, 1.0], num_classes=3)
    >>> check_class_indices([0.2, 0.4], num_classes=3)
    Traceback (most recent call last):
    ...
    gluon_safe.errors.NonIntegerLabelError: labels contain non-integer values. ...
    """
    array = as_label_array(labels, name=name)
    if array.size == 0:
        return
    if _indices_look_valid(array, num_classes, ignore_label):
        return
    _raise_for_indices(array, num_classes, ignore_label, name, batch)


def _indices_look_valid(
    array: np.ndarray[Any, Any], num_classes: Optional[int], ignore_label: Optional[float]
) -> bool:
    values = array
    if ignore_label is not None:
        values = array[array != ignore_label]
        if values.size == 0:
            return True
    lo = values.min()
    hi = values.max()
    # NaN makes both comparisons False, so it falls through to the full diagnosis.
    if not lo >= 0:
        return False
    if num_classes is not None and not hi < num_classes:
        return False
    if values.dtype.kind == "f" and not np.isfinite(hi):
        return False
    if values.dtype.kind == "f":
        return bool(np.all(np.floor(values) == values))
    return True


def _raise_for_indices(
    array: np.ndarray[Any, Any],
    num_classes: Optional[int],
    ignore_label: Optional[float],
    name: str,
    batch: Optional[int],
) -> None:
    considered = np.ones(array.shape, dtype=bool)
    if ignore_label is not None:
        considered = array != ignore_label
    lo, hi = _finite_range(array[considered])
    context: dict[str, Any] = dict(lo=lo, hi=hi, num_classes=num_classes, ignore_label=ignore_label,
                   name=name, batch=batch)

    if array.dtype.kind == "f":
        nonfinite = considered & ~np.isfinite(array)
        if nonfinite.any():
            raise indices_error("nonfinite", **evidence(array, nonfinite), **context)
        with np.errstate(invalid="ignore"):
            nonint = considered & (np.floor(array) != array)
        if nonint.any():
            raise indices_error("nonint", **evidence(array, nonint), **context)

    negative = considered & (array < 0)
    if negative.any():
        raise indices_error("negative", **evidence(array, negative), **context)

    if num_classes is not None:
        too_large = considered & (array >= num_classes)
        if too_large.any():
            raise indices_error("too_large", **evidence(array, too_large), **context)


def check_probability_rows(
    labels: Any,
    num_classes: Optional[int] = None,
    *,
    soft: bool = True,
    axis: int = -1,
    name: str = "labels",
    batch: Optional[int] = None,
) -> None:
    """Check dense labels: one-hot rows, or (``soft=True``) probability rows.

    Parameters
    ----------
    labels : array-like, shape (N, C) or any shape with the classes on ``axis``
        Dense labels.
    num_classes : int, optional
        Expected size C of the class axis.
    soft : bool, default True
        Accept any non-negative row that sums to 1. When False, each row must hold a
        single 1 and zeros elsewhere.
    axis : int, default -1
        The class axis.

    Raises
    ------
    LabelLayoutError
        If the class axis has the wrong size, a row does not sum to 1 (``[2, 0, 0]``,
        multi-hot rows), or (``soft=False``) a row is not one-hot.
    LabelRangeError
        If a value is negative.
    NonFiniteLabelError
        If a value is NaN or infinite.
    """
    array = as_label_array(labels, name=name).astype(np.float64, copy=False)
    if array.ndim == 0:
        raise layout_error(
            f"{name} is a scalar but dense labels need a class axis",
            expected="an array of shape (N, C)", hint="Pass one row per sample.",
            name=name, batch=batch,
        )
    if num_classes is not None and array.shape[axis] != num_classes:
        raise layout_error(
            f"{name} have {array.shape[axis]} columns on axis {axis} (shape "
            f"{array.shape}) but num_classes={num_classes}",
            expected=f"dense rows of length {num_classes}",
            hint="Check that the label columns match the network's output units.",
            name=name, batch=batch,
        )
    if array.size == 0:
        return
    rows = np.moveaxis(array, axis, -1)
    common: dict[str, Any] = dict(soft=soft, name=name, batch=batch)

    nonfinite = ~np.isfinite(rows)
    if nonfinite.any():
        raise rows_error("nonfinite", **evidence(rows, nonfinite), **common)
    negative = rows < 0
    if negative.any():
        raise rows_error("negative", **evidence(rows, negative), **common)
    sums = rows.sum(axis=-1)
    binary_rows = np.all((rows == 0) | (rows == 1), axis=-1)
    multi_hot = binary_rows & (sums >= 2)
    if multi_hot.any():
        raise rows_error("multi_hot", **evidence(sums, multi_hot), **common)
    bad_sum = np.abs(sums - 1.0) > ROW_SUM_ATOL
    if bad_sum.any():
        raise rows_error("row_sum", **evidence(sums, bad_sum), **common)
    if not soft:
        not_one_hot = ~binary_rows
        if not_one_hot.any():
            raise rows_error("not_one_hot", **evidence(sums, not_one_hot), **common)


def check_binary(
    labels: Any,
    *,
    strict: bool = False,
    name: str = "labels",
    batch: Optional[int] = None,
) -> None:
    """Check binary or multi-label targets: values in [0, 1], or exactly 0/1 when ``strict``.

    Raises
    ------
    NonFiniteLabelError
        If a value is NaN or infinite.
    LabelRangeError
        If a value lies outside [0, 1] (``{-1, 1}`` targets get their own hint).
    NonIntegerLabelError
        If ``strict`` and a value is neither 0 nor 1.
    """
    array = as_label_array(labels, name=name)
    if array.size == 0:
        return
    lo, hi = array.min(), array.max()
    if lo >= 0 and hi <= 1 and (not strict or np.all((array == 0) | (array == 1))):
        return

    flo, fhi = _finite_range(array)
    common: dict[str, Any] = dict(lo=flo, hi=fhi, strict=strict, name=name, batch=batch)
    if array.dtype.kind == "f":
        nonfinite = ~np.isfinite(array)
        if nonfinite.any():
            raise binary_error("nonfinite", **evidence(array, nonfinite), **common)
    outside = (array < 0) | (array > 1)
    if outside.any():
        raise binary_error("range", **evidence(array, outside), **common)
    nonbinary = (array != 0) & (array != 1)
    raise binary_error("nonbinary", **evidence(array, nonbinary), **common)


def check_multilabel(
    labels: Any,
    num_labels: Optional[int] = None,
    *,
    strict: bool = True,
    name: str = "labels",
    batch: Optional[int] = None,
) -> None:
    """Check multi-label targets: shape (N, L) with 0/1 values (or [0, 1] when not ``strict``).

    Raises
    ------
    LabelLayoutError
        If the labels are not 2-D or have a number of columns other than ``num_labels``.
    NonFiniteLabelError, LabelRangeError, NonIntegerLabelError
        As :func:`check_binary`.
    """
    array = as_label_array(labels, name=name)
    if array.ndim != 2:
        raise layout_error(
            f"{name} have shape {array.shape} but multi-label targets are 2-D",
            expected="shape (N, num_labels), one 0/1 column per label",
            hint="A 1-D array of class indices belongs to a multi-class metric; "
                 "convert it with gluon_safe.MultiLabelEncoder if each sample has a set of labels.",
            name=name, batch=batch,
        )
    if num_labels is not None and array.shape[1] != num_labels:
        raise layout_error(
            f"{name} have {array.shape[1]} columns (shape {array.shape}) but "
            f"num_labels={num_labels}",
            expected=f"shape (N, {num_labels})",
            hint="Check that the label columns match the network's output units.",
            name=name, batch=batch,
        )
    check_binary(array, strict=strict, name=name, batch=batch)
