"""``MultiLabelAccuracy``: accuracy for samples that carry several 0/1 labels at once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence, Tuple, Union, cast

import numpy as np
from typing_extensions import Literal

from .._compat import NDArray, nd
from .._types import CheckMode
from ..checks import check_multilabel, resolve_check_mode
from ..checks._multilabel import check_multilabel_layout
from ..checks._preds import check_probability_preds, pred_range_error
from ..errors import LabelError, LabelShapeError
from ._base import (
    SafeMetricBase,
    all_ndarrays,
    as_pairs,
    pair_name,
    to_host,
    validate_flag,
)
from ._pending import Counts, PendingBatch
from ._registry import registered

Average = Literal["exact_match", "hamming"]
AVERAGES: tuple[str, ...] = ("exact_match", "hamming")


@registered("multilabel_accuracy")
class MultiLabelAccuracy(SafeMetricBase):
    """Accuracy of multi-label predictions against 0/1 targets of shape ``(N, L)``.

    A prediction is positive when its probability is above ``threshold`` (with
    ``from_logits=True``: when the sigmoid of the logit is, which is the same as the
    logit being above ``log(threshold / (1 - threshold))``). Label 1 is positive.
    A sequence of thresholds sets one per label column.

    Parameters
    ----------
    name : str, default 'multilabel_accuracy'
        Name of this metric instance for display.
    output_names, label_names : list of str, optional
        Names used by ``update_dict``, as in MXNet.
    threshold : float or sequence of float, default 0.5
        Probability above which a prediction counts as positive; strictly between 0
        and 1. A sequence of length L gives each of the L label columns its own
        threshold, and the predictions must then have L columns.
    average : {'exact_match', 'hamming'}, default 'exact_match'
        ``'exact_match'``: the fraction of samples whose labels are all predicted
        right (``num_inst`` counts samples). ``'hamming'``: the fraction of right
        cells over all samples and labels (``num_inst`` counts cells).
    from_logits : bool, default False
        Whether the predictions are logits (raw outputs) rather than probabilities.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        ``'auto'`` checks host labels at once and labels on a GPU lazily. ``'eager'``
        checks on the host at every update. ``'lazy'`` keeps the checks and the counts
        on the device until ``get()``, ``flush()`` or ``reset()``. ``'off'`` skips
        the checks.

    Raises
    ------
    ValueError
        If ``threshold`` (or one of its entries) is not strictly between 0 and 1, or is
        an empty sequence, or ``average`` or ``check`` is
        not one of the allowed values.
    TypeError
        If ``from_logits`` is not a bool.

    Examples
    --------
    >>> import mxnet as mx
    >>> from gluon_safe.metrics import MultiLabelAccuracy
    >>> metric = MultiLabelAccuracy(average="hamming")
    >>> metric.update(mx.nd.array([[1, 0, 1]]), mx.nd.array([[0.9, 0.2, 0.4]]))
    >>> metric.get()
    ('multilabel_accuracy', 0.6666666666666666)
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(
        self,
        name: str = "multilabel_accuracy",
        output_names: Optional[list[str]] = None,
        label_names: Optional[list[str]] = None,
        *,
        threshold: Union[float, Sequence[float]] = 0.5,
        average: Average = "exact_match",
        from_logits: bool = False,
        check: CheckMode = "auto",
    ) -> None:
        self.threshold = _validate_threshold(threshold)
        self.average = _validate_average(average)
        self.from_logits = validate_flag(from_logits, "from_logits")
        # Comparing logits with the logit of the threshold avoids a sigmoid per cell
        # and gives the same decision on the host and on the device.
        self._cut: Union[float, np.ndarray[Any, Any]] = _cut_points(self.threshold, from_logits)
        self._device_cuts: dict[Any, NDArray] = {}
        self._init_safety(check)
        super().__init__(
            name, output_names=output_names, label_names=label_names, has_global_stats=True,
            threshold=_config_threshold(self.threshold), average=self.average,
            from_logits=self.from_logits,
            check=self._check,
        )

    def update(self, labels: Any, preds: Any) -> None:
        """Check one batch of 0/1 targets and count the right predictions.

        Parameters
        ----------
        labels : NDArray or list of NDArray
            0/1 targets of shape ``(N, L)``.
        preds : NDArray or list of NDArray
            Probabilities (or logits, with ``from_logits=True``) of shape ``(N, L)``.

        Raises
        ------
        LabelShapeError
            If the predictions are not 2-D, labels and predictions differ in the number
            of arrays or samples, or the predictions have another number of columns than
            a sequence ``threshold`` has entries (checked in every mode).
        LabelLayoutError
            If the labels are not 2-D (class indices) or have another number of columns.
        LabelRangeError
            If a label lies outside [0, 1] (``{-1, 1}`` targets get their own hint, as do
            class indices), or, with ``from_logits=False``, a prediction does.
        NonIntegerLabelError, NonFiniteLabelError
            If a label is neither 0 nor 1, or not finite.

        With ``check='lazy'`` (or ``'auto'`` and labels on a GPU), value errors are
        raised at the next flush point instead.
        """
        labels, preds = as_pairs(labels, preds)
        batch = self._next_batch()

        if self._check != "off":
            for i, (label, pred) in enumerate(zip(labels, preds)):
                check_multilabel_layout(
                    label.shape, pred.shape, name=pair_name(i, len(labels)), batch=batch
                )
        for pred in preds:
            self._check_threshold_count(tuple(pred.shape), batch)
        if self._is_lazy(labels, preds):
            for label, pred in zip(labels, preds):
                self._queue_lazy(label, pred, batch)
            return

        counted = [
            self._count_on_host(label, pred, batch, pair_name(i, len(labels)))
            for i, (label, pred) in enumerate(zip(labels, preds))
        ]
        for num_correct, num in counted:
            self._add_counts(batch, num_correct, num_correct, num)

    def _check_threshold_count(self, pred_shape: tuple[int, ...], batch: int) -> None:
        if not isinstance(self._cut, np.ndarray):
            return
        count = int(self._cut.size)
        if len(pred_shape) == 2 and pred_shape[1] == count:
            return
        raise LabelShapeError(
            f"preds have shape {pred_shape} but threshold has {count} entries, one per "
            "label column",
            expected=f"predictions of shape (N, {count})",
            hint="Give one threshold per output column, or a single threshold for all.",
            name="preds", batch=batch,
        )

    def _is_lazy(self, labels: list[Any], preds: list[Any]) -> bool:
        if not all_ndarrays(labels, preds):
            return False
        return resolve_check_mode(self._check, labels[0]) == "lazy"

    def _count_on_host(self, label: Any, pred: Any, batch: int, name: str) -> tuple[Any, int]:
        label_host = to_host(label)
        pred_host = to_host(pred)
        if self._check != "off":
            check_multilabel(label_host, pred_host.shape[1], strict=True, name=name, batch=batch)
            if not self.from_logits:
                check_probability_preds(pred_host, batch=batch)
        elif label_host.shape != pred_host.shape:
            check_multilabel_layout(label_host.shape, pred_host.shape, name=name, batch=batch)

        hits = (pred_host > self._cut) == (label_host == 1)
        if self.average == "hamming":
            return hits.sum(), int(hits.size)
        return hits.all(axis=1).sum(), int(hits.shape[0])

    def _queue_lazy(self, label: NDArray, pred: NDArray, batch: int) -> None:
        check = self._pending.label_check("binary", task="binary", strict=True)
        check.update(label, batch)

        labels = label.as_in_context(pred.context).astype("float32", copy=False)
        scores = pred.astype("float32", copy=False)
        hits = self._positive_on_device(scores) == (labels == 1)
        if self.average == "hamming":
            parts = [hits.sum()]
            num = int(hits.size)
        else:
            parts = [hits.min(axis=1).sum()]
            num = int(hits.shape[0])
        if not self.from_logits:
            # NaN fails both comparisons, so it counts as outside, as on the host.
            parts.append((1 - (scores >= 0) * (scores <= 1)).sum())
        stats = parts[0] if len(parts) == 1 else nd.concat(*parts, dim=0)
        self._pending.add(PendingBatch(batch, stats=stats, info=_LazyPair(num, int(pred.size))))

    def _positive_on_device(self, scores: NDArray) -> NDArray:
        if not isinstance(self._cut, np.ndarray):
            return scores > self._cut
        cut = self._device_cuts.get(scores.context)
        if cut is None:
            # Copied to each device once; a host-to-device copy reads nothing back.
            cut = nd.array(self._cut.reshape((1, -1)), ctx=scores.context, dtype="float32")
            self._device_cuts[scores.context] = cut
        return nd.broadcast_greater(scores, cut)

    def _read_stats(
        self, pending: PendingBatch, stats: np.ndarray[Any, Any]
    ) -> tuple[Counts, Optional[LabelError]]:
        plan: _LazyPair = pending.info
        num_correct = stats[0]
        error: Optional[LabelError] = None
        if not self.from_logits and stats[1] > 0:
            error = pred_range_error(
                count=round(float(stats[1])), total=plan.total, batch=pending.batch
            )
        return (num_correct, num_correct, plan.num), error


@dataclass(frozen=True)
class _LazyPair:
    """Counts known on the host for one lazily queued pair."""

    num: int
    total: int


Threshold = Union[float, Tuple[float, ...]]


def _validate_threshold(threshold: Any) -> Threshold:
    if isinstance(threshold, (list, tuple, np.ndarray)):
        if len(threshold) == 0:
            raise ValueError("threshold=[] is empty; pass one threshold per label column, "
                             "or a single number")
        return tuple(_validate_one_threshold(value, threshold) for value in threshold)
    return _validate_one_threshold(threshold, threshold)


def _validate_one_threshold(value: Any, given: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"threshold={given!r} must be a number strictly between 0 and 1, "
                         "or a sequence of such numbers")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"threshold={given!r} must lie strictly between 0 and 1")
    return float(value)


def _cut_points(threshold: Threshold, from_logits: bool) -> Union[float, np.ndarray[Any, Any]]:
    """Return the value each prediction is compared with: the threshold, or its logit."""
    if isinstance(threshold, tuple):
        # float32, the dtype of the device comparison, so host and device decide alike.
        return np.array([_cut_point(t, from_logits) for t in threshold], dtype=np.float32)
    return _cut_point(threshold, from_logits)


def _cut_point(threshold: float, from_logits: bool) -> float:
    return math.log(threshold / (1.0 - threshold)) if from_logits else threshold


def _config_threshold(threshold: Threshold) -> Union[float, list[float]]:
    # A list keeps get_config() JSON-friendly; the constructor accepts it back.
    return list(threshold) if isinstance(threshold, tuple) else threshold


def _validate_average(average: Any) -> Average:
    if average not in AVERAGES:
        allowed = ", ".join(repr(a) for a in AVERAGES)
        raise ValueError(f"average={average!r} is not supported; expected one of {allowed}")
    return cast(Average, average)
