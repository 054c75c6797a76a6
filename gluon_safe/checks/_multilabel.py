"""Shape check for multi-label targets against their predictions.

Shapes are host metadata, so this runs eagerly in every check mode except ``'off'``,
before the label values (see ``check_multilabel``) are checked or queued.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..errors import LabelShapeError
from ._diagnose import layout_error


def check_multilabel_layout(
    label_shape: Sequence[int],
    pred_shape: Sequence[int],
    *,
    name: str = "labels",
    batch: Optional[int] = None,
) -> None:
    """Check that multi-label targets and predictions both have shape ``(N, L)``.

    Raises
    ------
    LabelShapeError
        If the predictions are not 2-D, or labels and predictions differ in the number
        of samples.
    LabelLayoutError
        If the labels are not 2-D (class indices, say) or have another number of
        columns than the predictions.
    """
    label_shape = tuple(int(d) for d in label_shape)
    pred_shape = tuple(int(d) for d in pred_shape)
    if len(pred_shape) != 2:
        raise LabelShapeError(
            f"preds have shape {pred_shape} but multi-label predictions are 2-D",
            expected="predictions of shape (N, num_labels), one column per label",
            hint="Reshape the network output to (N, num_labels).", name="preds", batch=batch,
        )
    num_labels = pred_shape[1]
    if len(label_shape) != 2:
        raise layout_error(
            f"{name} have shape {label_shape} but multi-label targets are 2-D",
            expected=f"shape {pred_shape}, one 0/1 column per label",
            hint=(
                "One class index per sample belongs to a multi-class metric such as "
                "gluon_safe.SafeAccuracy; if each sample has a set of labels, encode them "
                "as 0/1 columns with gluon_safe.MultiLabelEncoder."
            ),
            name=name, batch=batch,
        )
    if label_shape[1] != num_labels:
        raise layout_error(
            f"{name} have {label_shape[1]} columns (shape {label_shape}) but the "
            f"predictions have {num_labels} (shape {pred_shape})",
            expected=f"shape {pred_shape}",
            hint=(
                "Each output unit needs one 0/1 label column. Class indices in a single "
                "column belong to a multi-class metric such as gluon_safe.SafeAccuracy."
            ),
            name=name, batch=batch,
        )
    if label_shape[0] != pred_shape[0]:
        raise LabelShapeError(
            f"{name} of shape {label_shape} do not match predictions of shape {pred_shape}",
            expected=f"{pred_shape[0]} label rows, one per prediction row",
            hint="Split labels and data the same way (same batch size, same ctx_list).",
            name=name, batch=batch,
        )
