"""Checks on predictions whose layout reveals a label mistake.

Two cases reach a metric silently in MXNet 1.9.1:

* predictions with the labels' shape that are not integers. ``mx.metric.Accuracy``
  treats same-shape predictions as class indices and casts them to int, so a single
  sigmoid column turns into all zeros, and score rows next to one-hot label rows are
  compared cell by cell;
* probabilities expected but logits given (values outside [0, 1]), which makes a
  0.5 threshold meaningless.

Each check has an error builder that the lazy device path shares.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, cast

import numpy as np

from ..errors import LabelError, LabelLayoutError, LabelRangeError
from ._host import evidence
from ._layout import _dense_rows_error, _normalize_axis


def index_preds_error(
    label_shape: Sequence[int],
    pred_shape: Sequence[int],
    *,
    axis: int,
    label_values: Optional[np.ndarray[Any, Any]] = None,
    values: Sequence[Any] = (),
    positions: Sequence[Sequence[int]] = (),
    count: Optional[int] = None,
    total: Optional[int] = None,
    dense_fix: str = "pass labels.argmax(axis=1)",
    batch: Optional[int] = None,
    name: str = "labels",
) -> LabelError:
    """Build the error for non-integer predictions that have the labels' shape.

    With a class axis longer than 1, the labels are the likely culprit (dense rows
    next to score rows), so the error describes the labels. With one column or none,
    the predictions are a single score per sample (a sigmoid output).
    """
    label_shape = tuple(int(d) for d in label_shape)
    pred_shape = tuple(int(d) for d in pred_shape)
    if len(pred_shape) >= 2 and pred_shape[_normalize_axis(axis, len(pred_shape))] > 1:
        # _dense_rows_error builds a LabelLayoutError; its annotation is wider.
        return cast(
            LabelError, _dense_rows_error(label_shape, label_values, dense_fix, name, batch)
        )

    return LabelLayoutError(
        f"preds have the labels' shape {pred_shape} but hold non-integer values, so they "
        "are not class indices",
        values=values, positions=positions, count=count, total=total,
        expected=(
            "class scores of shape (N, num_classes), or integer class indices with the "
            "labels' shape"
        ),
        hint=(
            "One score per sample (a single sigmoid or linear output) cannot be compared "
            "with class indices, and MXNet would cast the scores to int. Give the network "
            "two output units (softmax over classes 0 and 1), or threshold the scores and "
            "use a binary metric, e.g. gluon_safe.MultiLabelAccuracy(threshold=0.5)."
        ),
        name="preds", batch=batch,
    )


def check_index_preds(
    preds: np.ndarray[Any, Any],
    label_shape: Sequence[int],
    *,
    axis: int = 1,
    as_int32: Optional[np.ndarray[Any, Any]] = None,
    label_values: Optional[np.ndarray[Any, Any]] = None,
    dense_fix: str = "pass labels.argmax(axis=1)",
    batch: Optional[int] = None,
    name: str = "labels",
) -> None:
    """Check that predictions given with the labels' shape are integer class indices.

    Parameters
    ----------
    preds : numpy.ndarray
        Predictions with the same shape as the labels.
    label_shape : tuple of int
        Shape of the labels.
    axis : int, default 1
        The class axis that score predictions would have.
    as_int32 : numpy.ndarray, optional
        ``preds.astype('int32')`` when the caller has it already.
    label_values : numpy.ndarray, optional
        The labels, used to name their layout (one-hot, soft, multi-hot) in the message.
    dense_fix : str
        How the caller accepts dense labels, named in the hint.
    batch : int, optional
        Batch index to name in the message.
    name : str, default 'labels'
        Name of the labels in the message, such as ``'labels[1]'`` for a second device.

    Raises
    ------
    LabelLayoutError
        If a prediction is not an integer: a single sigmoid column, or score rows next
        to dense label rows.
    """
    if as_int32 is None:
        as_int32 = preds.astype("int32")
    if (as_int32 == preds).all():
        return

    with np.errstate(invalid="ignore"):
        nonint = ~(np.floor(preds) == preds)
    raise index_preds_error(
        label_shape, preds.shape, axis=axis, label_values=label_values,
        **evidence(preds, nonint), dense_fix=dense_fix, batch=batch, name=name,
    )


def pred_range_error(
    *,
    values: Sequence[Any] = (),
    positions: Sequence[Sequence[int]] = (),
    count: Optional[int] = None,
    total: Optional[int] = None,
    batch: Optional[int] = None,
) -> LabelRangeError:
    """Build the error for probability predictions outside [0, 1]."""
    return LabelRangeError(
        "preds contain values outside [0, 1] but from_logits=False",
        values=values, positions=positions, count=count, total=total,
        expected="probabilities in [0, 1] (sigmoid outputs)",
        hint=(
            "Raw network outputs are logits: pass from_logits=True, or apply "
            "mx.nd.sigmoid to the outputs first."
        ),
        name="preds", batch=batch,
    )


def check_probability_preds(
    preds: np.ndarray[Any, Any], *, batch: Optional[int] = None
) -> None:
    """Check that predictions are probabilities in [0, 1].

    Raises
    ------
    LabelRangeError
        If a prediction lies outside [0, 1] or is NaN: logits given where
        probabilities are expected.
    """
    if preds.size == 0:
        return
    if preds.min() >= 0 and preds.max() <= 1:
        return

    outside = ~((preds >= 0) & (preds <= 1))
    raise pred_range_error(**evidence(preds, outside), batch=batch)
