"""Softmax cross-entropy that rejects labels MXNet would silently clip."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import numpy as np

from .._compat import NDArray, gluon, mx, nd
from .._types import CheckMode
from ..checks import check_class_indices, check_probability_rows, check_sparse_layout
from ..errors import LabelShapeError
from ._base import LABEL_NAME, LabelCheckMixin

__all__ = ["SafeSoftmaxCELoss", "SafeSoftmaxCrossEntropyLoss"]

_SPARSE_DENSE_FIX = (
    "pass sparse_label=False, or pass class indices (labels.argmax(axis=-1)) instead"
)


class SafeSoftmaxCrossEntropyLoss(
    LabelCheckMixin, gluon.loss.SoftmaxCrossEntropyLoss  # type: ignore[misc]
):
    """Softmax cross-entropy loss that checks its labels first. (alias: SafeSoftmaxCELoss)

    A drop-in replacement for :class:`mxnet.gluon.loss.SoftmaxCrossEntropyLoss`: on
    valid labels the loss values and gradients are MXNet's own. MXNet's ``pick``
    clips class indices into ``[0, num_classes)``, so labels 1..K, -1, NaN or 0.2
    train the wrong class without an error. This loss raises a
    :class:`~gluon_safe.LabelError` that names the offending values and their likely
    cause instead.

    Parameters
    ----------
    axis : int, default -1
        The class axis of the predictions.
    sparse_label : bool, default True
        True: labels are class indices, shape ``pred.shape`` without ``axis``.
        False: labels are probability rows of the predictions' size.
    from_logits : bool, default False
        Whether the predictions are log probabilities already.
    weight : float, optional
        Global scalar weight for the loss.
    batch_axis : int, default 0
        The batch axis.
    num_classes : int, optional
        Number of classes K. Sparse labels must lie in ``[0, K)``. The default is
        the size of the predictions' class axis.
    ignore_label : float, optional
        A sparse label value, such as -1, that marks items to leave out (padding).
        Those items contribute exactly zero loss and zero gradient. Other items
        keep MXNet's values, and the mean over non-batch axes still counts the
        ignored items.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        When the label values are checked. ``'auto'`` checks labels on a CPU context
        at every call and queues checks of labels on a GPU until :meth:`flush`.
        ``'eager'`` reads the labels at every call, ``'lazy'`` reads nothing until
        :meth:`flush`, and ``'off'`` skips every check. Shapes are checked at every
        call in all modes but ``'off'``.
    **kwargs
        Passed to :class:`mxnet.gluon.HybridBlock` (``prefix``, ``params``).

    Raises
    ------
    ValueError
        At construction, if ``check`` is not a check mode, ``num_classes`` is not a
        positive integer, ``ignore_label`` is not a finite number, or
        ``ignore_label`` is given with ``sparse_label=False``.

    Notes
    -----
    The checks run in :meth:`forward`, which MXNet calls with NDArrays even when
    this block is hybridized. When the loss is a child of another hybridized block,
    MXNet passes Symbols instead and no label is checked.

    Examples
    --------
    >>> from gluon_safe._compat import nd
    >>> loss = SafeSoftmaxCrossEntropyLoss()
    >>> pred = nd.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    >>> loss(pred, nd.array([0, 1])).shape
    (2,)
    >>> loss(pred, nd.array([1, 3]))
    Traceback (most recent call last):
    ...
    gluon_safe.errors.LabelRangeError: labels contain class indices >= num_classes=3. ...
    """

    def __init__(
        self,
        axis: int = -1,
        sparse_label: bool = True,
        from_logits: bool = False,
        weight: Optional[float] = None,
        batch_axis: int = 0,
        *,
        num_classes: Optional[int] = None,
        ignore_label: Optional[float] = None,
        check: CheckMode = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            axis=axis,
            sparse_label=sparse_label,
            from_logits=from_logits,
            weight=weight,
            batch_axis=batch_axis,
            **kwargs,
        )
        self._init_label_checks(check)
        self._num_classes = _normalize_num_classes(num_classes)
        self._ignore_label = _normalize_ignore_label(ignore_label, sparse_label)

    @property
    def num_classes(self) -> Optional[int]:
        """The number of classes given at construction (None: the predictions' class axis)."""
        return self._num_classes

    @property
    def ignore_label(self) -> Optional[float]:
        """The label value whose items are left out, or None."""
        return self._ignore_label

    def forward(self, pred: Any, label: Any, sample_weight: Any = None) -> Any:
        """Check ``label`` in the configured mode, then compute MXNet's loss.

        Parameters
        ----------
        pred : NDArray, shape (N, C) or with the classes on ``axis``
            Scores (or log probabilities with ``from_logits=True``).
        label : NDArray
            Sparse labels of shape ``pred.shape`` without ``axis`` (or with a size-1
            class axis), or with ``sparse_label=False`` dense rows of ``pred``'s size.
        sample_weight : NDArray, optional
            Weights broadcastable to the loss before averaging, e.g. shape (N, 1).

        Returns
        -------
        NDArray, shape (N,)
            The loss of each sample, averaged over the non-batch axes.

        Raises
        ------
        LabelShapeError
            If the number of labels does not match the predictions, or the
            predictions have fewer than ``num_classes`` classes on ``axis``
            (with dense labels: a number other than ``num_classes``).
        LabelLayoutError
            If sparse labels have the predictions' shape (one-hot or probability
            rows), or dense rows do not sum to 1 (in lazy mode, from :meth:`flush`).
        LabelRangeError, NonIntegerLabelError, NonFiniteLabelError
            If sparse labels are not class indices in ``[0, num_classes)``, or dense
            rows contain negative values, NaN or inf. In lazy mode these come from
            :meth:`flush` instead.
        NotImplementedError
            If ``ignore_label`` is set while MXNet's numpy mode (``npx.set_np``) is on.
        """
        self._check_labels(pred, label)
        if self._ignore_label is not None and mx.util.is_np_array():
            raise NotImplementedError(
                "ignore_label works only with MXNet's legacy operators, so turn "
                "numpy mode off (mx.npx.reset_np()) or leave ignore_label unset"
            )
        if sample_weight is None:
            return super().forward(pred, label)
        return super().forward(pred, label, sample_weight)

    def hybrid_forward(self, F: Any, pred: Any, label: Any, sample_weight: Any = None) -> Any:
        """Compute MXNet's loss; with ``ignore_label``, zero the loss of ignored items."""
        if self._ignore_label is None:
            return super().hybrid_forward(F, pred, label, sample_weight)

        keep = label != self._ignore_label
        safe_label = F.where(keep, label, F.zeros_like(label))
        # One mask entry per picked score, in the loss's own shape and dtype: a slice
        # of the class axis has exactly the shape of pick(..., keepdims=True).
        score_slot = F.slice_axis(pred, axis=self._axis, begin=0, end=1)
        keep = F.reshape_like(keep, score_slot)
        mask = F.where(keep, F.ones_like(score_slot), F.zeros_like(score_slot))
        # MXNet multiplies the picked loss by sample_weight. Multiplying by the 0/1
        # mask as well leaves kept items bit-identical, and it zeroes the loss and
        # the gradient of ignored ones.
        if sample_weight is None:
            sample_weight = mask
        else:
            sample_weight = F.broadcast_mul(mask, sample_weight)
        return super().hybrid_forward(F, pred, safe_label, sample_weight)

    def _check_shapes(
        self,
        pred_shape: tuple[int, ...],
        label_shape: tuple[int, ...],
        label_values: Optional[np.ndarray[Any, Any]],
    ) -> None:
        self._check_num_classes(pred_shape)
        if self._sparse_label:
            check_sparse_layout(
                label_shape, pred_shape, axis=self._axis, label_values=label_values,
                dense_fix=_SPARSE_DENSE_FIX, name=LABEL_NAME,
            )
        else:
            _check_dense_size(label_shape, pred_shape, self._class_count(pred_shape))

    def _check_values(self, pred_shape: tuple[int, ...], values: np.ndarray[Any, Any]) -> None:
        if self._sparse_label:
            check_class_indices(
                values, self._resolve_num_classes(pred_shape),
                ignore_label=self._ignore_label, name=LABEL_NAME,
            )
        else:
            # MXNet reshapes dense labels like the predictions before using them.
            check_probability_rows(
                values.reshape(pred_shape), soft=True, axis=self._axis, name=LABEL_NAME
            )

    def _lazy_check_options(self, pred_shape: tuple[int, ...]) -> dict[str, Any]:
        if self._sparse_label:
            return dict(
                task="indices",
                num_classes=self._resolve_num_classes(pred_shape),
                ignore_label=self._ignore_label,
            )
        return dict(task="rows", soft=True)

    def _lazy_labels(self, pred_shape: tuple[int, ...], label: NDArray) -> NDArray:
        if self._sparse_label:
            return label
        # The lazy row check reads the classes on the last axis.
        return nd.moveaxis(label.reshape(pred_shape), self._axis, -1)

    def _class_count(self, pred_shape: tuple[int, ...]) -> Optional[int]:
        """Return the size of the class axis, or None when ``axis`` does not exist."""
        if not -len(pred_shape) <= self._axis < len(pred_shape):
            return None
        return pred_shape[self._axis]

    def _resolve_num_classes(self, pred_shape: tuple[int, ...]) -> Optional[int]:
        if self._num_classes is not None:
            return self._num_classes
        return self._class_count(pred_shape)

    def _check_num_classes(self, pred_shape: tuple[int, ...]) -> None:
        # Sparse labels may use fewer classes than the network has outputs, but a
        # label >= the number of outputs would be clipped. Dense rows need one
        # column per class.
        num_outputs = self._class_count(pred_shape)
        if self._num_classes is None or num_outputs is None:
            return
        if self._sparse_label and self._num_classes <= num_outputs:
            return
        if not self._sparse_label and self._num_classes == num_outputs:
            return
        expected = "at least" if self._sparse_label else "exactly"
        raise LabelShapeError(
            f"predictions have {num_outputs} classes on axis {self._axis} (shape "
            f"{pred_shape}) but num_classes={self._num_classes}",
            expected=f"{expected} {self._num_classes} entries on axis {self._axis}",
            hint="Give the output layer num_classes units, or set axis to the class axis.",
            name=LABEL_NAME,
        )


SafeSoftmaxCELoss = SafeSoftmaxCrossEntropyLoss


def _check_dense_size(
    label_shape: tuple[int, ...], pred_shape: tuple[int, ...], num_outputs: Optional[int]
) -> None:
    label_size = math.prod(label_shape)
    pred_size = math.prod(pred_shape)
    if label_size == pred_size:
        return
    if num_outputs and label_size * num_outputs == pred_size:
        hint = (
            "The labels hold one value per prediction row, so they look like class "
            "indices: pass sparse_label=True (the default)."
        )
    else:
        hint = "Dense labels need one row of class probabilities per sample."
    raise LabelShapeError(
        f"{LABEL_NAME} of shape {label_shape} do not match predictions of shape {pred_shape}",
        expected=f"dense labels with {pred_size} values, shape {pred_shape}",
        hint=hint,
        name=LABEL_NAME,
    )


def _normalize_num_classes(num_classes: Any) -> Optional[int]:
    if num_classes is None:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise ValueError(f"num_classes={num_classes!r} is not an integer; expected an int >= 1")
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} is invalid; expected an int >= 1")
    return int(num_classes)


def _normalize_ignore_label(ignore_label: Any, sparse_label: bool) -> Optional[float]:
    if ignore_label is None:
        return None
    if isinstance(ignore_label, bool) or not isinstance(ignore_label, numbers.Real):
        raise ValueError(
            f"ignore_label={ignore_label!r} is not a number; expected a label value such as -1"
        )
    if not math.isfinite(ignore_label):
        raise ValueError(
            f"ignore_label={ignore_label!r} is invalid; expected a finite label value such as -1"
        )
    if not sparse_label:
        raise ValueError(
            f"ignore_label={ignore_label!r} applies to sparse labels only, but "
            "sparse_label=False; leave ignore_label unset for dense labels"
        )
    return float(ignore_label)
