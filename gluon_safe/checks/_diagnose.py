"""Turn a detected violation into a :class:`LabelError` that names its likely cause.

The host checks (numpy) and the lazy device checks (NDArray) both end here, so a
mistake gets the same message whichever mode found it.  The lazy path keeps only
the first offending value and its position; the host path keeps the first few.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from ..errors import (
    LabelError,
    LabelLayoutError,
    LabelRangeError,
    NonFiniteLabelError,
    NonIntegerLabelError,
    format_value,
)

ENCODER_FIX = "encode the raw classes with gluon_safe.LabelEncoder"


def describe_indices(num_classes: Optional[int], ignore_label: Optional[float]) -> str:
    """Describe valid sparse labels for messages, e.g. ``'class indices in [0, 6), 0..5'``."""
    if num_classes is None:
        text = "non-negative class indices"
    elif num_classes == 1:
        text = "class index 0 (num_classes=1)"
    else:
        text = (
            f"class indices in [0, {num_classes}), that is 0..{num_classes - 1} "
            f"(num_classes={num_classes})"
        )
    text += ", integral floats such as 2.0 are valid"
    if ignore_label is not None:
        text += f", or ignore_label={format_value(ignore_label)}"
    return text


def indices_error(
    kind: str,
    *,
    values: Sequence[Any],
    positions: Sequence[Sequence[int]],
    count: int,
    total: int,
    lo: float,
    hi: float,
    num_classes: Optional[int],
    ignore_label: Optional[float],
    name: str,
    batch: Optional[int],
) -> LabelError:
    """Build the error for sparse class-index labels.

    ``kind`` is one of ``'nonfinite'``, ``'nonint'``, ``'negative'``, ``'too_large'``.
    ``lo`` and ``hi`` are the minimum and maximum of the finite, non-ignored labels
    (NaN when there are none); they drive the diagnosis (1-based, normalized).
    """
    expected = describe_indices(num_classes, ignore_label)
    common: dict[str, Any] = dict(
        values=values, positions=positions, count=count, total=total,
        expected=expected, name=name, batch=batch,
    )

    if kind == "nonfinite":
        hint = (
            "NaN or inf labels usually come from a failed parse (an empty CSV cell) or a "
            "division by zero during preprocessing; MXNet would train them as class 0. "
            "Drop or repair those rows before training."
        )
        return NonFiniteLabelError(f"{name} contain NaN or infinite values", hint=hint, **common)

    if kind == "nonint":
        if lo >= 0.0 and hi <= 1.0:
            hint = (
                "The labels lie in [0, 1], so they look normalized (class / max class). "
                "MXNet casts labels to int, which turns every value below 1 into class 0, "
                "so its accuracy looks far better than the model is (near-perfect when "
                "the model predicts class 0). Keep the raw classes and encode them with "
                "gluon_safe.LabelEncoder."
            )
        else:
            hint = (
                f"The labels range over [{_num(lo)}, {_num(hi)}] with fractional values, "
                "so they look like continuous (regression) targets or rescaled classes. "
                f"For classification, {ENCODER_FIX}; for regression use L2Loss or L1Loss."
            )
        return NonIntegerLabelError(f"{name} contain non-integer values", hint=hint, **common)

    if kind == "negative":
        offenders = {float(v) for v in values}
        if offenders == {-1.0} and (lo == -1.0 and hi == 1.0):
            hint = (
                "The labels look like {-1, 1} binary targets. Map -1 to 0 "
                "(labels = (labels + 1) / 2), or pass ignore_label=-1 if -1 marks padding."
            )
        elif offenders == {-1.0}:
            hint = (
                "If -1 marks padding or unknown items, pass ignore_label=-1 so they are left "
                f"out; otherwise {ENCODER_FIX}."
            )
        else:
            hint = (
                "MXNet would clip negative labels onto class 0. Encode the raw classes "
                "with gluon_safe.LabelEncoder."
            )
        return LabelRangeError(f"{name} contain negative class indices", hint=hint, **common)

    if kind == "too_large":
        k = num_classes if num_classes is not None else 0
        if lo >= 1.0 and hi == float(k):
            hint = (
                f"The labels run from {_num(lo)} to {_num(hi)} = num_classes, so they look "
                f"1-based. MXNet would clip {k} onto {k - 1} and never train class 0. "
                f"Subtract 1, or {ENCODER_FIX}."
            )
        else:
            hint = (
                f"The largest label is {_num(hi)} but the model has {k} outputs. Either the "
                f"output layer needs {_num(hi + 1)} units or {ENCODER_FIX}."
            )
        return LabelRangeError(
            f"{name} contain class indices >= num_classes={k}", hint=hint, **common
        )

    raise AssertionError(f"unknown violation kind {kind!r}")  # pragma: no cover


def rows_error(
    kind: str,
    *,
    values: Sequence[Any],
    positions: Sequence[Sequence[int]],
    count: int,
    total: int,
    soft: bool,
    name: str,
    batch: Optional[int],
) -> LabelError:
    """Build the error for one-hot or probability rows.

    ``kind`` is one of ``'nonfinite'``, ``'negative'``, ``'multi_hot'``, ``'row_sum'``,
    ``'not_one_hot'``. For the row kinds the values are the row sums and the positions
    the row indices.
    """
    expected = (
        "rows of non-negative values that sum to 1 (one-hot or probabilities)"
        if soft else "one-hot rows: a single 1 per row, 0 elsewhere"
    )
    common: dict[str, Any] = dict(
        values=values, positions=positions, count=count, total=total,
        expected=expected, name=name, batch=batch,
    )
    if kind == "nonfinite":
        return NonFiniteLabelError(
            f"{name} contain NaN or infinite values",
            hint="Drop or repair the rows with NaN or inf before training.", **common,
        )
    if kind == "negative":
        return LabelRangeError(
            f"{name} contain negative values in dense label rows",
            hint="Dense labels must be a distribution over the classes for each sample.",
            **common,
        )
    if kind == "multi_hot":
        return LabelLayoutError(
            f"{name} rows hold several 1s (multi-hot)",
            hint=(
                "Several 1s per row means several labels per sample: use "
                "SigmoidBinaryCrossEntropyLoss and gluon_safe.MultiLabelAccuracy instead of "
                "softmax cross-entropy or Accuracy."
            ),
            **common,
        )
    if kind == "row_sum":
        return LabelLayoutError(
            f"{name} rows do not sum to 1",
            hint=(
                "A row like [2, 0, 0] is not a distribution. Pass class indices with "
                "sparse_label=True, or normalise each row to sum to 1."
            ),
            **common,
        )
    if kind == "not_one_hot":
        return LabelLayoutError(
            f"{name} rows are not one-hot",
            hint=(
                "Soft targets (probability rows) are accepted only where soft labels were "
                "allowed; otherwise take labels.argmax(axis=1) to get class indices."
            ),
            **common,
        )
    raise AssertionError(f"unknown violation kind {kind!r}")  # pragma: no cover


def binary_error(
    kind: str,
    *,
    values: Sequence[Any],
    positions: Sequence[Sequence[int]],
    count: int,
    total: int,
    lo: float,
    hi: float,
    strict: bool,
    name: str,
    batch: Optional[int],
) -> LabelError:
    """Build the error for binary or multi-label targets (``kind``: nonfinite, range, nonbinary)."""
    expected = "0 or 1" if strict else "values in [0, 1] (0/1 targets or soft targets)"
    common: dict[str, Any] = dict(
        values=values, positions=positions, count=count, total=total,
        expected=expected, name=name, batch=batch,
    )
    if kind == "nonfinite":
        return NonFiniteLabelError(
            f"{name} contain NaN or infinite values",
            hint="Drop or repair those items before training.", **common,
        )
    if kind == "range":
        if lo == -1.0 and hi <= 1.0:
            hint = (
                "The labels look like {-1, 1} targets; binary cross-entropy needs {0, 1}: "
                "use labels = (labels + 1) / 2. With {-1, 1} the loss goes negative and "
                "unbounded."
            )
        elif lo >= 0 and hi > 1 and float(hi).is_integer():
            hint = (
                "Values above 1 look like class indices: binary cross-entropy takes 0/1 "
                "targets per output. For several classes use SoftmaxCrossEntropyLoss."
            )
        else:
            hint = "Binary cross-entropy is only defined for targets in [0, 1]."
        return LabelRangeError(f"{name} contain values outside [0, 1]", hint=hint, **common)
    if kind == "nonbinary":
        return NonIntegerLabelError(
            f"{name} contain values other than 0 and 1",
            hint="Pass strict=False to train on soft targets, or threshold them first.",
            **common,
        )
    raise AssertionError(f"unknown violation kind {kind!r}")  # pragma: no cover


def layout_error(summary: str, *, expected: str, hint: str, name: str = "labels",
                 batch: Optional[int] = None) -> LabelLayoutError:
    """Build a layout error that has no offending values to list, only shapes."""
    return LabelLayoutError(summary, expected=expected, hint=hint, name=name, batch=batch)


def _num(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:g}"
