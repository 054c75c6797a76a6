"""Infer what kind of target an array of labels holds, from its shape and values.

The verdict selects hints ("these rows look one-hot") and lets the encoders reject
one-hot or multi-hot rows. Input it cannot classify, such as ragged lists or strings
mixed with numbers, gives ``'unknown'``, and the ``check_*`` functions report the details.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from typing_extensions import Literal, TypeAlias

from ._host import ROW_SUM_ATOL

TargetType: TypeAlias = Literal[
    "binary", "multiclass", "multilabel", "continuous", "dense-rows", "unknown"
]
"""Kind of target returned by :func:`infer_target_type`."""

ScalarKind: TypeAlias = Literal["bool", "int", "float", "str", "none", "other"]
"""Kind of one Python or numpy scalar type, as returned by :func:`scalar_kind`."""

MAX_EXACT_FLOAT_INT = 2**53
"""Above this magnitude float64 cannot represent every integer, so 1e30 is not a class id."""


def scalar_kind(value_type: type) -> ScalarKind:
    """Classify a scalar type: Python and numpy bools, ints, floats and strings, or None.

    ``bool`` is checked before ``int`` because it subclasses ``int``. Every other type,
    such as bytes, lists or complex numbers, is ``'other'``.
    """
    if issubclass(value_type, (bool, np.bool_)):
        return "bool"
    if issubclass(value_type, (int, np.integer)):
        return "int"
    if issubclass(value_type, (float, np.floating)):
        return "float"
    if issubclass(value_type, str):
        return "str"
    if value_type is type(None):
        return "none"
    return "other"


def integral_mask(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Return a mask of the exact integers in a float array (2.0 yes; 0.2, NaN and 1e30 no)."""
    with np.errstate(invalid="ignore"):
        mask: np.ndarray[Any, Any] = (np.floor(array) == array) & (
            np.abs(array) < MAX_EXACT_FLOAT_INT
        )
    return mask


def infer_target_type(values: Any) -> TargetType:
    """Infer the kind of target that ``values`` hold.

    Parameters
    ----------
    values : array-like
        A numpy array, an MXNet NDArray, or a (nested) sequence of numbers or strings.

    Returns
    -------
    {'binary', 'multiclass', 'multilabel', 'continuous', 'dense-rows', 'unknown'}
        For a 1-D array, or a 2-D array with one column:

        - ``'binary'``: at most 2 distinct discrete values (ints, bools, integral
          floats such as 2.0, or strings);
        - ``'multiclass'``: more than 2 distinct discrete values;
        - ``'continuous'``: floats with a fractional part, such as 0.2.

        For a 2-D array of shape (N, C) with C >= 2:

        - ``'dense-rows'``: non-negative rows that sum to 1 (one-hot or probabilities);
        - ``'multilabel'``: 0/1 rows, some with no 1 or several 1s;
        - ``'continuous'``: other floats with a fractional part;
        - ``'unknown'``: anything else, such as rows of class ids ``[[1, 5], [2, 3]]``.

        ``'unknown'`` is also returned for empty input, scalars, arrays of more than 2
        dimensions, NaN or infinite values, ragged sequences and types that are not
        numbers or strings (including strings mixed with numbers).

    Examples
    --------
    >>> infer_target_type([1, 2, 3])
    'multiclass'
    >>> infer_target_type([0.2, 0.4, 1.0])
    'continuous'
    >>> infer_target_type([[0, 1, 0], [1, 0, 0]])
    'dense-rows'
    >>> infer_target_type([[0, 1, 1], [1, 0, 0]])
    'multilabel'
    """
    array = _as_typed_array(values)
    if array is None or array.size == 0 or array.ndim not in (1, 2):
        return "unknown"
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]

    if array.dtype.kind == "U":
        return _infer_by_count(array) if array.ndim == 1 else "unknown"
    if array.dtype.kind == "b":
        array = array.astype(np.int8)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        return "unknown"

    if array.ndim == 1:
        if array.dtype.kind == "f" and not integral_mask(array).all():
            return "continuous"
        return _infer_by_count(array)
    return _infer_rows(array)


def _as_typed_array(values: Any) -> Optional[np.ndarray[Any, Any]]:
    """Return ``values`` as a bool, int, float or str array, or None for any other kind."""
    if hasattr(values, "asnumpy"):
        array: np.ndarray[Any, Any] = values.asnumpy()
    elif isinstance(values, np.ndarray):
        array = values
    else:
        # dtype=object keeps [1, 'a'] from becoming the strings ['1', 'a'], and
        # [True, 2] from becoming [1, 2]; a ragged sequence becomes an array of lists.
        array = np.asarray(values, dtype=object)

    if array.dtype.kind == "O":
        return _objects_as_typed_array(array)
    if array.dtype.kind in "biufU":
        return array
    return None


def _objects_as_typed_array(array: np.ndarray[Any, Any]) -> Optional[np.ndarray[Any, Any]]:
    kinds = {scalar_kind(t) for t in set(map(type, array.ravel()))}
    if kinds == {"str"}:
        return array.astype(str)
    if kinds == {"bool"}:
        return array.astype(bool)
    if kinds <= {"int"}:
        try:
            return array.astype(np.int64)
        except OverflowError:
            return None
    if kinds <= {"int", "float"}:
        return array.astype(np.float64)
    return None


def _infer_by_count(array: np.ndarray[Any, Any]) -> TargetType:
    return "binary" if np.unique(array).size <= 2 else "multiclass"


def _infer_rows(array: np.ndarray[Any, Any]) -> TargetType:
    sums = array.sum(axis=1)
    if np.all((array == 0) | (array == 1)):
        return "dense-rows" if np.all(sums == 1) else "multilabel"
    if np.all(array >= 0) and np.all(np.abs(sums - 1.0) <= ROW_SUM_ATOL):
        return "dense-rows"
    if array.dtype.kind == "f" and not integral_mask(array).all():
        return "continuous"
    return "unknown"
