"""``SafeTopKAccuracy``: ``mx.metric.TopKAccuracy`` with checked labels."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import numpy as np

from .._compat import mx
from .._types import CheckMode
from ..checks import check_class_indices, check_sparse_layout
from ..checks._fast import indices_are_valid
from ..errors import LabelError, LabelShapeError
from ._base import (
    SafeMetricBase,
    as_pairs,
    class_count,
    pair_name,
    to_host,
    validate_ignore_label,
    validate_num_classes,
)
from ._pending import Counts, PendingBatch
from ._registry import registered

_DENSE_FIX = "pass labels.argmax(axis=1)"


@registered("safe_top_k_accuracy", "safe_top_k_acc")
class SafeTopKAccuracy(SafeMetricBase, mx.metric.TopKAccuracy):  # type: ignore[misc]
    """Top-k accuracy that checks its labels, with the numbers of ``mx.metric.TopKAccuracy``.

    A sample counts as correct when its label is among the ``top_k`` highest scores.
    On valid labels every total and result equals MXNet's ``TopKAccuracy``, including
    its quirk for 1-D predictions (see the note below).

    Parameters
    ----------
    top_k : int, default 1
        How many of the highest scores may hold the label; must be at least 2 (use
        :class:`SafeAccuracy` for top-1). The default 1 is kept from MXNet's signature,
        which rejects it as well.
    name : str, default 'top_k_accuracy'
        Name prefix; as in MXNet the metric is named ``f'{name}_{top_k}'``.
    output_names, label_names : list of str, optional
        Names used by ``update_dict``, as in MXNet.
    num_classes : int, optional
        Number of classes K. By default the number of score columns.
    ignore_label : float, optional
        Label value of samples to leave out of the counts, such as ``-1``.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        ``'auto'`` and ``'eager'`` check on the host copy of the labels and raise at
        once. ``'lazy'`` raises label value errors only at the next flush point
        (``get()``, ``flush()``, ``reset()``), like :class:`SafeAccuracy`. It saves no
        transfer here, because MXNet's top-k computation reads scores and labels on
        the host at every update. ``'off'`` behaves as ``mx.metric.TopKAccuracy``.

    Raises
    ------
    ValueError
        If ``top_k`` is not an int of at least 2, or another option is invalid.

    Notes
    -----
    NOTE: for 1-D predictions MXNet 1.9.1 compares the positions of the top-k entries
    of the single score vector with the labels element by element and adds the result
    to ``sum_metric`` only, not to ``global_sum_metric``, while ``num_inst`` and
    ``global_num_inst`` both grow. This class keeps that behaviour for parity, so pass
    2-D scores ``(N, num_classes)``.
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(
        self,
        top_k: int = 1,
        name: str = "top_k_accuracy",
        output_names: Optional[list[str]] = None,
        label_names: Optional[list[str]] = None,
        *,
        num_classes: Optional[int] = None,
        ignore_label: Optional[float] = None,
        check: CheckMode = "auto",
    ) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 2:
            raise ValueError(
                f"top_k={top_k!r} must be an int of at least 2; for top-1 accuracy use "
                "SafeAccuracy"
            )
        self.num_classes = validate_num_classes(num_classes)
        self.ignore_label = validate_ignore_label(ignore_label)
        self._base_name = str(name)
        self._init_safety(check)
        super().__init__(
            top_k=int(top_k), name=name, output_names=output_names, label_names=label_names
        )

    def get_config(self) -> dict[str, Any]:
        """Return the configuration; ``mx.metric.create(config)`` rebuilds this metric.

        NOTE: MXNet's own ``TopKAccuracy.get_config`` stores the suffixed name
        (``'top_k_accuracy_5'``), so a rebuilt MXNet metric is named
        ``'top_k_accuracy_5_5'``. This config stores the name as given instead.
        """
        config: dict[str, Any] = super().get_config()
        config.update(
            name=self._base_name,
            num_classes=self.num_classes,
            ignore_label=self.ignore_label,
            check=self._check,
        )
        return config

    def update(self, labels: Any, preds: Any) -> None:
        """Check one batch of labels and count the labels found in the top k scores.

        Parameters
        ----------
        labels : NDArray or list of NDArray
            Class indices, shape ``(N,)`` or ``(N, 1)``.
        preds : NDArray or list of NDArray
            Scores of shape ``(N, num_classes)``.

        Raises
        ------
        LabelShapeError
            If labels and predictions disagree on the number of arrays or samples, the
            predictions have more than 2 dimensions, or another number of classes than
            ``num_classes``.
        ValueError
            If ``top_k`` exceeds the number of classes.
        LabelLayoutError
            If the labels are dense rows (one-hot, soft or multi-hot).
        NonIntegerLabelError, LabelRangeError, NonFiniteLabelError
            If a label is fractional, out of range or not finite; with ``check='lazy'``
            at the next flush point instead.
        """
        labels, preds = as_pairs(labels, preds)
        batch = self._next_batch()

        if self._check == "off" and self.ignore_label is None:
            super().update(labels, preds)
            return

        counted: list[Counts] = []
        deferred: Optional[LabelError] = None
        for i, (label, pred) in enumerate(zip(labels, preds)):
            name = pair_name(i, len(labels))
            label_host, pred_index = self._host_pair(label, pred, batch, name)
            label_int = label_host.astype("int32")
            try:
                self._check_values(label_host, label_int, pred_index, batch, name)
            except LabelError as error:
                if self._check != "lazy":
                    raise
                deferred = deferred or error
            if deferred is None:
                counted.append(self._count(label_host, label_int, pred_index))

        if deferred is not None:
            self._pending.add(PendingBatch(batch, error=deferred))
            return
        for counts in counted:
            self._add_counts(batch, *counts)

    def _host_pair(
        self, label: Any, pred: Any, batch: int, name: str
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Check the shapes and return the host labels and the top-k partition."""
        label_shape = tuple(label.shape)
        pred_shape = tuple(pred.shape)
        label_host = to_host(label)
        if len(pred_shape) > 2:
            raise LabelShapeError(
                f"preds have shape {pred_shape} but top-k accuracy takes scores of shape "
                "(N, num_classes)",
                expected="predictions with at most 2 dimensions",
                hint="Reshape the scores to (N, num_classes) and the labels to (N,).",
                name="preds", batch=batch,
            )
        if len(pred_shape) == 2:
            num_classes = class_count(pred_shape, 1, self.num_classes, batch)
            if self.top_k > num_classes:
                raise ValueError(
                    f"top_k={self.top_k} exceeds the {num_classes} classes of preds with "
                    f"shape {pred_shape}; lower top_k"
                )
            if self._check != "off":
                check_sparse_layout(
                    label_shape, pred_shape, axis=1, label_values=label_host,
                    dense_fix=_DENSE_FIX, name=name, batch=batch,
                )

        pred_host = to_host(pred).astype("float32")
        # The partition MXNet's TopKAccuracy uses: the last top_k columns hold the
        # top_k highest scores, in no particular order.
        pred_index = np.argpartition(pred_host, -self.top_k)
        if label_host.size != pred_index.shape[0]:
            raise LabelShapeError(
                f"{name} of shape {label_shape} do not match predictions of shape {pred_shape}",
                expected=f"{pred_index.shape[0]} labels, one per sample",
                hint="Each prediction row needs exactly one label.", name=name, batch=batch,
            )
        return label_host, pred_index

    def _check_values(
        self,
        label_host: np.ndarray[Any, Any],
        label_int: np.ndarray[Any, Any],
        pred_index: np.ndarray[Any, Any],
        batch: int,
        name: str,
    ) -> None:
        if self._check == "off":
            return
        num_classes = pred_index.shape[1] if pred_index.ndim == 2 else self.num_classes
        if not indices_are_valid(label_host, label_int, num_classes, self.ignore_label):
            check_class_indices(
                label_host, num_classes, ignore_label=self.ignore_label, name=name, batch=batch
            )

    def _count(
        self,
        label_host: np.ndarray[Any, Any],
        label_int: np.ndarray[Any, Any],
        pred_index: np.ndarray[Any, Any],
    ) -> Counts:
        """Count as ``mx.metric.TopKAccuracy.update`` does, minus the ignored samples."""
        labels = label_int.ravel()
        if self.ignore_label is not None:
            keep = label_host.ravel() != self.ignore_label
            labels = labels[keep]
            pred_index = pred_index[keep]
        num_samples = int(pred_index.shape[0])

        if pred_index.ndim == 1:
            # MXNet's 1-D quirk (see the class notes): local sum only.
            return (pred_index == labels).sum(), 0, num_samples
        num_classes = pred_index.shape[1]
        top_k = min(num_classes, self.top_k)
        top_columns = pred_index[:, num_classes - top_k:]
        num_correct = (top_columns == labels[:, None]).sum()
        return num_correct, num_correct, num_samples
