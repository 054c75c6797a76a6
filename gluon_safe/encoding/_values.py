"""Read raw class values (ints, strings, integral floats, bools) into one typed numpy array.

Both encoders read their input here, so a NaN, a None, an empty string, a 0.2 or a
string among numbers gets the same error from ``LabelEncoder`` and
``MultiLabelEncoder``. The valid path is a few vectorised passes; positions and
counts are computed only once something is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import numpy as np
from typing_extensions import Literal, TypeAlias

from ..checks._host import as_python_scalar
from ..checks._host import evidence as mask_evidence
from ..checks._target import integral_mask, scalar_kind
from ..errors import (
    ContinuousLabelError,
    LabelError,
    LabelTypeError,
    NonFiniteLabelError,
)

ClassKind: TypeAlias = Literal["bool", "int", "float", "str"]
"""Python type of an encoder's classes, as stored in its JSON file."""

CLASS_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


def to_numpy(values: Any, *, name: str) -> np.ndarray[Any, Any]:
    """Return ``values`` as a numpy array; Python sequences become object arrays.

    An object array keeps ``[1, 'a']`` from turning into the strings ``['1', 'a']`` and
    ``[True, 2]`` from turning into ``[1, 2]``, so :func:`read_raw_labels` gets the
    real types.

    Raises
    ------
    LabelTypeError
        If ``values`` is a single string.
    """
    if isinstance(values, (str, bytes)):
        raise LabelTypeError(
            f"{name} is a single string, not a sequence of labels",
            values=[values],
            expected="one label per sample, such as ['cat', 'dog', 'cat']",
            hint="Wrap a single label in a list: [value].",
            name=name,
        )
    if hasattr(values, "asnumpy"):
        array: np.ndarray[Any, Any] = values.asnumpy()
        return array
    if isinstance(values, np.ndarray):
        return values
    if not isinstance(values, (list, tuple)) and hasattr(values, "__array__"):
        return np.asarray(values)
    if not isinstance(values, (list, tuple)) and isinstance(values, Iterable):
        values = list(values)
    return np.asarray(values, dtype=object)


def evidence(
    array: np.ndarray[Any, Any],
    mask: np.ndarray[Any, Any],
    origin: Optional[np.ndarray[Any, Any]] = None,
) -> dict[str, Any]:
    """Collect the first offending values, their positions and their count for a LabelError.

    ``origin`` maps each item of a flat ``array`` to its ``(sample, item)`` position
    when the values came from label sets.
    """
    found = mask_evidence(array, mask)
    if origin is not None:
        found["positions"] = [tuple(int(i) for i in origin[p[0]]) for p in found["positions"]]
    return found


def read_raw_labels(
    array: np.ndarray[Any, Any],
    *,
    allow_float: bool,
    name: str,
    origin: Optional[np.ndarray[Any, Any]] = None,
) -> tuple[np.ndarray[Any, Any], ClassKind]:
    """Check raw labels and return them as a bool, int64, float64 or str array with their kind.

    Integral floats such as 2.0 become ints. Other floats become float64 classes only
    when ``allow_float``. Float32 values keep their short form (0.2, not 0.20000000298),
    so a class read from an NDArray matches the same class typed in Python.

    Raises
    ------
    LabelError
        If a value is None or an empty string.
    LabelTypeError
        If the values mix strings with numbers or bools with numbers, or have a type
        that is not a bool, int, float or str.
    NonFiniteLabelError
        If a value is NaN or infinite.
    ContinuousLabelError
        If a float has a fractional part and ``allow_float`` is False.
    """
    if array.dtype.kind == "O":
        array = _objects_as_typed_array(array, name, origin)

    kind = array.dtype.kind
    if kind == "b":
        return array, "bool"
    if kind in "iu":
        return _as_int64(array, name, origin), "int"
    if kind == "U":
        _check_no_empty_strings(array, name, origin)
        return array, "str"
    if kind == "f":
        return _read_floats(array, allow_float, name, origin)
    raise LabelTypeError(
        f"{name} have dtype {array.dtype}, which is not a label type",
        values=array.ravel()[:3].tolist(),
        expected="ints, floats, strings or bools",
        hint="Decode bytes with np.char.decode(labels) and convert other types to str.",
        name=name,
    )


def _objects_as_typed_array(
    array: np.ndarray[Any, Any], name: str, origin: Optional[np.ndarray[Any, Any]]
) -> np.ndarray[Any, Any]:
    kind_of_type = {t: scalar_kind(t) for t in set(map(type, array.ravel()))}
    kinds = set(kind_of_type.values())

    def mask_of(*wanted: str) -> np.ndarray[Any, Any]:
        flags = [kind_of_type[type(v)] in wanted for v in array.ravel()]
        return np.array(flags, dtype=bool).reshape(array.shape)

    if "none" in kinds:
        raise LabelError(
            f"{name} contain missing values (None)",
            **evidence(array, mask_of("none"), origin),
            expected="a class value for every label",
            hint="Drop the samples without a label, or fill them in, before encoding.",
            name=name,
        )
    if "other" in kinds:
        raise LabelTypeError(
            f"{name} contain values that are not bools, ints, floats or strings",
            **evidence(array, mask_of("other"), origin),
            expected="ints, floats, strings or bools",
            hint="Convert each label to one of those types first; decode bytes with .decode().",
            name=name,
        )
    if "str" in kinds and len(kinds) > 1:
        raise _mixed_types_error(array, mask_of("str"), "strings", "numbers", name, origin)
    if "bool" in kinds and len(kinds) > 1:
        raise _mixed_types_error(array, mask_of("bool"), "bools", "numbers", name, origin)

    if kinds == {"str"}:
        return array.astype(str)
    if kinds == {"bool"}:
        return array.astype(bool)
    if kinds <= {"int"}:
        return _objects_as_int64(array, name, origin)
    if any(issubclass(t, (np.float16, np.float32)) for t in kind_of_type):
        array = np.array([as_python_scalar(v) for v in array.ravel()]).reshape(array.shape)
    return array.astype(np.float64)


def _mixed_types_error(
    array: np.ndarray[Any, Any],
    first_mask: np.ndarray[Any, Any],
    first: str,
    second: str,
    name: str,
    origin: Optional[np.ndarray[Any, Any]],
) -> LabelTypeError:
    """Build the error for two type groups, listing the smaller group as the offenders."""
    num_first = int(first_mask.sum())
    num_second = int(array.size - num_first)
    offenders = first_mask if num_first <= num_second else ~first_mask
    if first == "bools":
        hint = (
            "In Python True == 1 and False == 0, so mixing them with numbers would merge "
            "classes silently. Convert the bools with int(value), or the numbers to bools."
        )
    else:
        hint = (
            "A column read with mixed types often causes this. Convert every label to str "
            "(or every label to int) before encoding, so that '1' and 1 are one class."
        )
    return LabelTypeError(
        f"{name} mix {first} with {second} ({first}: {num_first}, {second}: {num_second})",
        **evidence(array, offenders, origin),
        expected=f"labels of one type: all {first} or all {second}",
        hint=hint,
        name=name,
    )


def _objects_as_int64(
    array: np.ndarray[Any, Any], name: str, origin: Optional[np.ndarray[Any, Any]]
) -> np.ndarray[Any, Any]:
    try:
        return array.astype(np.int64)
    except OverflowError:
        flags = [not _INT64_MIN <= int(v) <= _INT64_MAX for v in array.ravel()]
        too_large = np.array(flags, dtype=bool).reshape(array.shape)
        raise _int64_range_error(array, too_large, name, origin) from None


def _as_int64(
    array: np.ndarray[Any, Any], name: str, origin: Optional[np.ndarray[Any, Any]]
) -> np.ndarray[Any, Any]:
    if array.dtype == np.uint64:
        # Compare as uint64: mixing uint64 with int64 promotes both to float64.
        too_large = array > np.uint64(_INT64_MAX)
        if too_large.any():
            raise _int64_range_error(array, too_large, name, origin)
    return array.astype(np.int64, copy=False)


def _int64_range_error(
    array: np.ndarray[Any, Any],
    mask: np.ndarray[Any, Any],
    name: str,
    origin: Optional[np.ndarray[Any, Any]],
) -> LabelTypeError:
    return LabelTypeError(
        f"{name} contain integers outside the int64 range",
        **evidence(array, mask, origin),
        expected=f"integers from {_INT64_MIN} to {_INT64_MAX}",
        hint="Convert such ids to str to use them as class names.",
        name=name,
    )


def _check_no_empty_strings(
    array: np.ndarray[Any, Any], name: str, origin: Optional[np.ndarray[Any, Any]]
) -> None:
    # str.isspace is False for '', so both tests are needed.
    empty = (array == "") | np.char.isspace(array)
    if empty.any():
        raise LabelError(
            f"{name} contain empty strings",
            **evidence(array, empty, origin),
            expected="a non-empty class name for every label",
            hint="Empty or whitespace-only strings usually come from empty CSV cells. Drop "
                 "or fill those samples before encoding.",
            name=name,
        )


def _read_floats(
    array: np.ndarray[Any, Any],
    allow_float: bool,
    name: str,
    origin: Optional[np.ndarray[Any, Any]],
) -> tuple[np.ndarray[Any, Any], ClassKind]:
    nonfinite = ~np.isfinite(array)
    if nonfinite.any():
        raise NonFiniteLabelError(
            f"{name} contain NaN or infinite values",
            **evidence(array, nonfinite, origin),
            expected="finite class values",
            hint="NaN usually comes from an empty cell or a failed parse. Drop or repair "
                 "those samples before encoding.",
            name=name,
        )

    integral = integral_mask(array)
    if integral.all():
        return array.astype(np.int64), "int"
    if not allow_float:
        raise _continuous_error(array, ~integral, name, origin)
    if array.dtype in (np.float16, np.float32):
        # float32 0.2 prints as '0.2'; going through its repr avoids 0.20000000298.
        return array.astype(str).astype(np.float64), "float"
    return array.astype(np.float64, copy=False), "float"


def _continuous_error(
    array: np.ndarray[Any, Any],
    fractional: np.ndarray[Any, Any],
    name: str,
    origin: Optional[np.ndarray[Any, Any]],
) -> ContinuousLabelError:
    lo, hi = float(array.min()), float(array.max())
    if lo >= 0.0 and hi <= 1.0:
        hint = (
            "All values lie in [0, 1], so they look normalized (class / max class). MXNet "
            "casts such labels to int, which makes nearly all of them class 0. Fit the "
            "encoder on the raw classes (such as 1..6) instead."
        )
    else:
        hint = (
            f"The values range over [{lo:g}, {hi:g}] with fractional parts, so they look "
            "like regression targets. For regression use L2Loss or L1Loss without an encoder."
        )
    hint += " Pass allow_float=True only if these floats really are class names."
    return ContinuousLabelError(
        f"{name} look continuous: they contain non-integer values",
        **evidence(array, fractional, origin),
        expected="discrete class values: ints, strings, bools or integral floats such as 2.0",
        hint=hint,
        name=name,
    )
