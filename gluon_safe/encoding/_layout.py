"""Shape checks on raw labels, and flattening of label sets into one array of values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..checks._target import infer_target_type
from ..errors import LabelLayoutError, LabelTypeError, format_value


def check_one_label_per_sample(array: np.ndarray[Any, Any], *, name: str) -> None:
    """Raise LabelLayoutError unless ``array`` has shape (N,) or (N, 1).

    The hint depends on what the array looks like: one-hot rows are already encoded,
    and 0/1 rows with several 1s belong to ``MultiLabelEncoder``.
    """
    if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
        return

    target = infer_target_type(array) if array.ndim == 2 else "unknown"
    if array.ndim == 0:
        hint = "Pass a sequence with one label per sample, such as [label]."
    elif target == "dense-rows":
        hint = (
            "The rows look one-hot (or like probabilities), so they are already encoded: "
            f"take {name}.argmax(axis=1) to get class indices."
        )
    elif target == "multilabel":
        hint = (
            "Rows of 0/1 with several 1s are multi-label targets. Use MultiLabelEncoder on "
            "the label sets, or give the rows to a multi-label loss as they are."
        )
    else:
        hint = (
            "If every position holds its own label, encode labels.ravel() and reshape "
            "the result to the original shape."
        )
    raise LabelLayoutError(
        f"{name} have shape {array.shape} but the encoder takes one label per sample",
        expected="shape (N,) or (N, 1)",
        hint=hint,
        name=name,
    )


def flatten_label_sets(
    samples: Any, *, name: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    """Flatten label sets into one array of values.

    Returns the values, an int64 array of shape (M, 2) with the ``(sample, item)``
    position of each value, and the number of samples. A numeric 2-D array is taken
    as one row of labels per sample.

    Raises
    ------
    LabelTypeError
        If ``samples`` is a string, or a sample is a single value instead of a collection.
    LabelLayoutError
        If ``samples`` is a 2-D array of 0/1 indicator rows, which are already encoded.
    """
    if hasattr(samples, "asnumpy"):
        samples = samples.asnumpy()
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Iterable):
        raise LabelTypeError(
            f"{name} must be an iterable of label sets, got {type(samples).__name__}",
            values=[samples],
            expected="one collection of labels per sample, such as [['a', 'b'], ['c'], []]",
            hint="Pass a list with one list, tuple or set of labels per sample.",
            name=name,
        )
    if isinstance(samples, np.ndarray) and samples.ndim == 2 and samples.dtype.kind != "O":
        return _flatten_rows(samples, name)

    items: list[Any] = []
    origin: list[tuple[int, int]] = []
    num_samples = 0
    for i, sample in enumerate(samples):
        num_samples += 1
        if isinstance(sample, (str, bytes)) or not isinstance(sample, Iterable):
            raise _not_a_label_set_error(sample, i, name)
        for j, value in enumerate(sample):
            items.append(value)
            origin.append((i, j))

    flat = np.empty(len(items), dtype=object)
    flat[:] = items
    return flat, np.array(origin, dtype=np.int64).reshape(-1, 2), num_samples


def _flatten_rows(
    rows: np.ndarray[Any, Any], name: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    target = infer_target_type(rows)
    if target in ("multilabel", "dense-rows"):
        raise LabelLayoutError(
            f"{name} of shape {rows.shape} look like 0/1 indicator rows, which are "
            "already encoded",
            expected="one collection of raw labels per sample, such as [['a', 'b'], ['c']]",
            hint="Pass the label sets themselves. If these rows really are sets of the "
                 "raw labels 0 and 1, pass them as a list: rows.tolist().",
            name=name,
        )
    origin = np.indices(rows.shape).reshape(2, -1).T.astype(np.int64)
    return rows.reshape(-1), origin, int(rows.shape[0])


def _not_a_label_set_error(sample: Any, index: int, name: str) -> LabelTypeError:
    if isinstance(sample, (str, bytes)):
        hint = f"A string would be split into its characters; wrap it: [{format_value(sample)}]."
    else:
        hint = "For one label per sample use LabelEncoder; to give a sample one label, wrap it."
    return LabelTypeError(
        f"{name}[{index}] is a single value, not a collection of labels",
        values=[sample],
        positions=[(index,)],
        expected="one list, tuple or set of labels per sample, such as [['a', 'b'], ['c'], []]",
        hint=hint,
        name=name,
    )
