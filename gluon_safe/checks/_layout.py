"""Shape checks: do sparse labels and predictions describe the same batch?

These look at shapes only, which are on the host without waiting for the device, so
they run eagerly in every check mode except ``'off'``.  When label values are at
hand (the host path), they pick a sharper hint.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..errors import LabelShapeError
from ._diagnose import layout_error


def _normalize_axis(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def check_sparse_layout(
    label_shape: Sequence[int],
    pred_shape: Sequence[int],
    *,
    axis: int = 1,
    label_values: Optional[np.ndarray[Any, Any]] = None,
    dense_fix: str = "pass labels.argmax(axis=1)",
    name: str = "labels",
    batch: Optional[int] = None,
) -> None:
    """Check that sparse labels hold one class index per prediction row.

    Parameters
    ----------
    label_shape, pred_shape : tuple of int
        Shapes of the labels and of the predictions (scores with classes on ``axis``).
    axis : int, default 1
        The class axis of the predictions.
    label_values : numpy.ndarray, optional
        The label values, used only to tell one-hot, soft and multi-hot rows apart.
    dense_fix : str
        How the caller accepts dense labels, named in the hint (e.g. ``'pass
        sparse_label=False'``).

    Raises
    ------
    LabelLayoutError
        If the labels have the predictions' shape with more than one class column
        (one-hot, soft or multi-hot rows).
    LabelShapeError
        If the number of labels differs from the number of prediction rows.
    """
    label_shape = tuple(int(d) for d in label_shape)
    pred_shape = tuple(int(d) for d in pred_shape)

    if label_shape == pred_shape:
        if len(pred_shape) >= 2 and pred_shape[_normalize_axis(axis, len(pred_shape))] > 1:
            raise _dense_rows_error(label_shape, label_values, dense_fix, name, batch)
        return

    if len(pred_shape) == 0:
        raise LabelShapeError(
            f"predictions are a scalar but {name} have shape {label_shape}",
            expected="predictions of shape (N, num_classes)", name=name, batch=batch,
            hint="Pass the network output for the whole batch.",
        )
    class_axis = _normalize_axis(axis, len(pred_shape))
    if class_axis >= len(pred_shape):
        raise LabelShapeError(
            f"axis={axis} is out of range for predictions of shape {pred_shape}",
            expected=f"an axis in [-{len(pred_shape)}, {len(pred_shape)})",
            hint="Set axis to the class axis of the predictions.", name=name, batch=batch,
        )
    rows_shape = pred_shape[:class_axis] + pred_shape[class_axis + 1:]
    num_rows = int(np.prod(rows_shape))
    num_labels = int(np.prod(label_shape))
    if num_labels == num_rows:
        return

    num_classes = pred_shape[class_axis]
    if len(label_shape) == len(pred_shape) and label_shape[:-1] == pred_shape[:-1]:
        hint = (
            f"The labels have {label_shape[-1]} columns and the predictions {num_classes}; "
            "one-hot labels must match the output units, and sparse labels need one "
            "index per sample."
        )
    else:
        hint = (
            "Each prediction row needs exactly one label. Check the batch split "
            "(labels and data must be split the same way) and the label reshape."
        )
    raise LabelShapeError(
        f"{name} of shape {label_shape} do not match predictions of shape {pred_shape}",
        expected=f"{num_rows} labels, shape {rows_shape} or {(*rows_shape, 1)}",
        hint=hint, name=name, batch=batch,
    )


def _dense_rows_error(
    shape: tuple[int, ...],
    values: Optional[np.ndarray[Any, Any]],
    dense_fix: str,
    name: str,
    batch: Optional[int],
) -> Exception:
    kind = "dense rows (one-hot, soft targets or multi-hot)"
    if values is not None and values.size and np.all(np.isfinite(values)):
        is_binary = bool(np.all((values == 0) | (values == 1)))
        sums = values.reshape(-1, shape[-1]).sum(axis=-1)
        if is_binary and np.all(sums == 1):
            kind = "one-hot rows"
        elif is_binary:
            kind = "multi-hot (multi-label) rows"
        elif np.all(values >= 0) and np.allclose(sums, 1.0, atol=1e-3):
            kind = "soft-target (probability) rows"

    if kind.startswith("multi-hot"):
        hint = (
            "Several 1s per row means several labels per sample: use "
            "gluon_safe.MultiLabelAccuracy and SigmoidBinaryCrossEntropyLoss."
        )
    else:
        hint = (
            "A multi-class metric or sparse loss needs one class index per sample, and "
            "comparing dense rows cell by cell gives meaningless accuracy. "
            f"To use dense labels, {dense_fix}."
        )
        if values is None:
            # Without the values (a lazy check reads none), multi-hot rows cannot be
            # distinguished from one-hot or soft rows, so the hint names their fix too.
            hint += (
                " If a row marks several labels per sample (multi-hot), use "
                "gluon_safe.MultiLabelAccuracy and SigmoidBinaryCrossEntropyLoss instead."
            )
    return layout_error(
        f"{name} of shape {shape} look like {kind}, not class indices",
        expected=f"one class index per sample, shape {shape[:-1]}",
        hint=hint, name=name, batch=batch,
    )
