"""``SafeAccuracy``: ``mx.metric.Accuracy`` that rejects labels it would silently misread."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np

from .._compat import NDArray, gluon, mx, nd
from .._types import CheckMode
from ..checks import check_class_indices, check_probability_rows
from ..checks._fast import indices_are_valid
from ..checks._preds import check_index_preds, index_preds_error
from ..errors import LabelError, LabelShapeError
from ._base import (
    SafeMetricBase,
    all_ndarrays,
    argmax,
    as_pairs,
    class_count,
    pair_name,
    raise_size_mismatch,
    to_host,
    validate_flag,
    validate_ignore_label,
    validate_num_classes,
)
from ._pending import Counts, PendingBatch
from ._registry import registered


@registered("safe_accuracy", "safe_acc")
class SafeAccuracy(SafeMetricBase, mx.metric.Accuracy):  # type: ignore[misc]
    """Accuracy that checks its labels, with the numbers of ``mx.metric.Accuracy``.

    On valid labels every total (``sum_metric``, ``num_inst``, their ``global_``
    twins) and every result (``get()``, ``get_global()``, ``get_name_value()``)
    equals MXNet's ``Accuracy`` for the same calls. That covers scores with the
    classes on ``axis``, labels of shape ``(N,)`` or ``(N, 1)``, predictions that
    already are class indices (the labels' shape) and several arrays per update.
    Numpy arrays are accepted as well as NDArrays. Invalid labels raise a
    :class:`~gluon_safe.LabelError` instead of being cast to int.

    Parameters
    ----------
    axis : int, default 1
        The class axis of the predictions.
    name : str, default 'accuracy'
        Name of this metric instance for display.
    output_names, label_names : list of str, optional
        Names used by ``update_dict``, as in MXNet.
    num_classes : int, optional
        Number of classes K. By default the size of the predictions' class axis; for
        predictions given as class indices the upper bound is then left unchecked.
    ignore_label : float, optional
        Label value of items to leave out of the counts (padding), such as ``-1``.
        Cannot be combined with ``one_hot``.
    one_hot : bool, default False
        Accept one-hot or probability label rows with the predictions' shape: the rows
        are checked, then reduced to class indices with argmax.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        ``'auto'`` and ``'eager'`` check on the host copy of the labels that
        ``Accuracy.update`` makes anyway, raising at once. ``'lazy'`` reads nothing
        during ``update``: the label checks and the correct-count stay on the device
        until ``get()``, ``get_global()``, ``get_name_value()``, ``flush()`` or
        ``reset()``, which raise the error of the first bad batch. Numpy inputs have
        no device, so ``'lazy'`` checks them on the host. ``'off'`` behaves as
        ``mx.metric.Accuracy``.

    Raises
    ------
    ValueError
        If ``num_classes`` or ``ignore_label`` is invalid, if ``check`` is not a check
        mode, or if ``one_hot`` is combined with ``ignore_label``.
    TypeError
        If ``one_hot`` is not a bool.

    Examples
    --------
    >>> import mxnet as mx
    >>> from gluon_safe.metrics import SafeAccuracy
    >>> metric = SafeAccuracy()
    >>> metric.update(mx.nd.array([0, 1, 1]), mx.nd.array([[0.3, 0.7], [0, 1], [0.4, 0.6]]))
    >>> metric.get()
    ('accuracy', 0.6666666666666666)
    >>> metric.update(mx.nd.array([0.2, 0.4]), mx.nd.array([[0.3, 0.7], [0, 1]]))
    Traceback (most recent call last):
    ...
    gluon_safe.errors.NonIntegerLabelError: batch 1: labels contain non-integer values. ...
    """

    higher_is_better: ClassVar[bool] = True
    # The eager path checks that same-shape predictions are class indices before it
    # checks the label values, so soft-target rows get the layout error, not "normalized".
    _stats_errors_first: ClassVar[bool] = True

    def __init__(
        self,
        axis: int = 1,
        name: str = "accuracy",
        output_names: Optional[list[str]] = None,
        label_names: Optional[list[str]] = None,
        *,
        num_classes: Optional[int] = None,
        ignore_label: Optional[float] = None,
        one_hot: bool = False,
        check: CheckMode = "auto",
    ) -> None:
        self.num_classes = validate_num_classes(num_classes)
        self.ignore_label = validate_ignore_label(ignore_label)
        self.one_hot = validate_flag(one_hot, "one_hot")
        if self.one_hot and self.ignore_label is not None:
            raise ValueError(
                f"ignore_label={ignore_label!r} cannot be combined with one_hot=True: "
                "dense label rows have no single value to ignore"
            )
        self._init_safety(check)
        super().__init__(
            axis=axis, name=name, output_names=output_names, label_names=label_names
        )

    def get_config(self) -> dict[str, Any]:
        """Return the configuration; ``mx.metric.create(config)`` rebuilds this metric."""
        config: dict[str, Any] = super().get_config()
        config.update(
            num_classes=self.num_classes,
            ignore_label=self.ignore_label,
            one_hot=self.one_hot,
            check=self._check,
        )
        return config

    def update(self, labels: Any, preds: Any) -> None:
        """Check one batch of labels and count the correct predictions.

        Parameters
        ----------
        labels : NDArray or list of NDArray
            Class indices, shape ``(N,)`` or ``(N, 1)``; with ``one_hot=True``, rows of
            the predictions' shape.
        preds : NDArray or list of NDArray
            Scores with the classes on ``axis``, or class indices with the labels' shape.

        Raises
        ------
        LabelShapeError
            If labels and predictions disagree on the number of arrays or of samples,
            or the predictions have another number of classes than ``num_classes``.
        LabelLayoutError
            If the labels are dense rows (one-hot, soft or multi-hot) while
            ``one_hot=False``, or predictions with the labels' shape are not integers
            (a single sigmoid column).
        NonIntegerLabelError, LabelRangeError, NonFiniteLabelError
            If a label is fractional (e.g. normalized to [0, 1]), out of range (e.g.
            1-based) or not finite. With ``check='lazy'`` these are raised at the next
            flush point instead.
        """
        labels, preds = as_pairs(labels, preds)
        batch = self._next_batch()

        if self._check == "off" and self.ignore_label is None and not self.one_hot:
            super().update(labels, preds)
            return
        if self._check == "lazy" and all_ndarrays(labels, preds):
            self._update_lazy(labels, preds, batch)
            return
        self._update_host(labels, preds, batch)

    # -- host path: the copies MXNet's Accuracy makes, checked before counting -----------

    def _update_host(self, labels: list[Any], preds: list[Any], batch: int) -> None:
        # Count every pair before adding any, so a bad pair rejects the whole update.
        counted = [
            self._count_on_host(label, pred, batch, pair_name(i, len(labels)))
            for i, (label, pred) in enumerate(zip(labels, preds))
        ]
        for num_correct, num in counted:
            self._add_counts(batch, num_correct, num_correct, num)

    def _count_on_host(self, label: Any, pred: Any, batch: int, name: str) -> tuple[Any, int]:
        label_shape = tuple(label.shape)
        pred_shape = tuple(pred.shape)
        if self.one_hot:
            return self._count_one_hot(label, pred, label_shape, pred_shape, batch, name)

        same_shape = label_shape == pred_shape
        if not same_shape and not _has_axis(pred_shape, self.axis):
            raise_size_mismatch(
                label_shape, pred_shape, axis=self.axis, label_values=None,
                dense_fix=self._dense_fix, name=name, batch=batch,
            )
        pred_host = to_host(pred if same_shape else argmax(pred, self.axis))
        label_host = to_host(label)
        # The same int32 casts as mx.metric.Accuracy, so the counts match it exactly.
        pred_int = pred_host.astype("int32")
        label_int = label_host.astype("int32")

        if pred_int.size != label_int.size:
            raise_size_mismatch(
                label_shape, pred_shape, axis=self.axis, label_values=label_host,
                dense_fix=self._dense_fix, name=name, batch=batch,
            )
        if self._check != "off":
            if same_shape:
                check_index_preds(
                    pred_host, label_shape, axis=self.axis, as_int32=pred_int,
                    label_values=label_host, dense_fix=self._dense_fix, batch=batch,
                    name=name,
                )
                num_classes = self.num_classes
            else:
                num_classes = class_count(pred_shape, self.axis, self.num_classes, batch)
            if not indices_are_valid(label_host, label_int, num_classes, self.ignore_label):
                check_class_indices(
                    label_host, num_classes, ignore_label=self.ignore_label, name=name,
                    batch=batch,
                )
        return self._count_matches(pred_int, label_int, label_host)

    def _count_one_hot(
        self,
        label: Any,
        pred: Any,
        label_shape: tuple[int, ...],
        pred_shape: tuple[int, ...],
        batch: int,
        name: str,
    ) -> tuple[Any, int]:
        self._check_one_hot_shape(label_shape, pred_shape, batch, name)
        num_classes = class_count(pred_shape, self.axis, self.num_classes, batch)
        label_host = to_host(label)
        if self._check != "off":
            check_probability_rows(
                label_host, num_classes, soft=True, axis=self.axis, name=name, batch=batch
            )
        pred_int = to_host(argmax(pred, self.axis)).astype("int32")
        label_int = label_host.argmax(axis=self.axis).astype("int32")
        return self._count_matches(pred_int, label_int, None)

    def _count_matches(
        self,
        pred_int: np.ndarray[Any, Any],
        label_int: np.ndarray[Any, Any],
        label_host: Optional[np.ndarray[Any, Any]],
    ) -> tuple[Any, int]:
        if self.ignore_label is None or label_host is None:
            return (pred_int.ravel() == label_int.ravel()).sum(), int(pred_int.size)
        keep = label_host.ravel() != self.ignore_label
        num_correct = (pred_int.ravel()[keep] == label_int.ravel()[keep]).sum()
        return num_correct, int(keep.sum())

    # -- lazy path: checks and counts stay on the device until a flush point -------------

    def _update_lazy(self, labels: list[NDArray], preds: list[NDArray], batch: int) -> None:
        # Shapes are host metadata, so shape errors still raise at once, and before any
        # pair of this update is queued.
        plans = [
            self._plan_lazy(label, pred, batch, pair_name(i, len(labels)))
            for i, (label, pred) in enumerate(zip(labels, preds))
        ]
        for label, pred, plan in zip(labels, preds, plans):
            self._queue_lazy(label, pred, plan, batch)

    def _plan_lazy(self, label: NDArray, pred: NDArray, batch: int, name: str) -> _LazyPair:
        label_shape = tuple(label.shape)
        pred_shape = tuple(pred.shape)
        if self.one_hot:
            self._check_one_hot_shape(label_shape, pred_shape, batch, name)
            num_classes: Optional[int] = class_count(
                pred_shape, self.axis, self.num_classes, batch
            )
            num_rows = _num_rows(pred_shape, self.axis)
            return _LazyPair(label_shape, pred_shape, num_classes, "rows", False, num_rows)

        if label_shape == pred_shape:
            num = None if self.ignore_label is not None else int(np.prod(label_shape))
            return _LazyPair(label_shape, pred_shape, self.num_classes, "indices", True, num,
                             name)

        if not _has_axis(pred_shape, self.axis) or int(np.prod(label_shape)) != _num_rows(
            pred_shape, self.axis
        ):
            raise_size_mismatch(
                label_shape, pred_shape, axis=self.axis, label_values=None,
                dense_fix=self._dense_fix, name=name, batch=batch,
            )
        num_classes = class_count(pred_shape, self.axis, self.num_classes, batch)
        num_rows = _num_rows(pred_shape, self.axis)
        num = None if self.ignore_label is not None else num_rows
        return _LazyPair(label_shape, pred_shape, num_classes, "indices", False, num)

    def _queue_lazy(self, label: NDArray, pred: NDArray, plan: _LazyPair, batch: int) -> None:
        if plan.task == "rows":
            rows = label if self.axis in (-1, label.ndim - 1) else nd.moveaxis(label, self.axis, -1)
            self._label_check(plan).update(rows, batch)
            label_index = nd.argmax(label, axis=self.axis)
        else:
            self._label_check(plan).update(label, batch)
            label_index = label
        counter = self._match_counter(plan.preds_are_indices)
        stats = counter(pred, label_index.as_in_context(pred.context))
        # The labels are kept (not read) so that a layout error can name their kind.
        labels = label if plan.preds_are_indices else None
        self._pending.add(PendingBatch(batch, stats=stats, info=(plan, labels)))

    def _label_check(self, plan: _LazyPair) -> Any:
        key = (plan.task, plan.num_classes)
        if plan.task == "rows":
            return self._pending.label_check(
                key, task="rows", num_classes=plan.num_classes, soft=True
            )
        return self._pending.label_check(
            key, task="indices", num_classes=plan.num_classes, ignore_label=self.ignore_label
        )

    def _read_stats(
        self, pending: PendingBatch, stats: np.ndarray[Any, Any]
    ) -> tuple[Counts, Optional[LabelError]]:
        plan: _LazyPair
        plan, labels = pending.info
        num_correct = stats[0]
        if plan.num is None:
            num, rest = round(float(stats[1])), stats[2:]
        else:
            num, rest = plan.num, stats[1:]

        error: Optional[LabelError] = None
        if plan.preds_are_indices and rest[0] > 0:
            # An error path: reading the labels here costs nothing on valid batches.
            error = index_preds_error(
                plan.label_shape, plan.pred_shape, axis=self.axis, count=round(float(rest[0])),
                total=int(np.prod(plan.pred_shape)), label_values=to_host(labels),
                dense_fix=self._dense_fix, batch=pending.batch, name=plan.name,
            )
        return (num_correct, num_correct, num), error

    def _match_counter(self, preds_are_indices: bool) -> _MatchCounter:
        return _match_counter(self.axis, preds_are_indices, self.ignore_label)

    # -- shared helpers -----------------------------------------------------------------

    @property
    def _dense_fix(self) -> str:
        return f"pass one_hot=True to SafeAccuracy, or pass labels.argmax(axis={self.axis})"

    def _check_one_hot_shape(
        self, label_shape: tuple[int, ...], pred_shape: tuple[int, ...], batch: int, name: str
    ) -> None:
        if label_shape == pred_shape:
            return
        raise LabelShapeError(
            f"{name} of shape {label_shape} do not match predictions of shape {pred_shape} "
            "but one_hot=True",
            expected=f"label rows of the predictions' shape {pred_shape}",
            hint="Pass one_hot=False (the default) for labels that are class indices.",
            name=name, batch=batch,
        )


@dataclass(frozen=True)
class _LazyPair:
    """What the flush needs to know about one lazily queued pair.

    The device statistics vector contains ``[num_correct]``, then ``num_counted`` when
    ``num`` is None, then the number of non-integer predictions when
    ``preds_are_indices``. ``num`` is None with ``ignore_label``, because then only the
    device holds the count of labels that were counted.
    """

    label_shape: tuple[int, ...]
    pred_shape: tuple[int, ...]
    num_classes: Optional[int]
    task: str
    preds_are_indices: bool
    num: Optional[int]
    name: str = "labels"


class _MatchCounter(gluon.HybridBlock):  # type: ignore[misc]
    """Count correct predictions of one pair on the predictions' device, as one cached graph.

    Returns ``[num_correct]``, then ``num_kept`` when ``ignore_label`` is set, then the
    count of non-integral index predictions when ``preds_are_indices``.
    """

    def __init__(self, axis: int, preds_are_indices: bool, ignore_label: Optional[float]) -> None:
        super().__init__()
        self._axis = axis
        self._preds_are_indices = preds_are_indices
        self._ignore_label = ignore_label

    def hybrid_forward(self, F: Any, pred: Any, label: Any) -> Any:
        if not self._preds_are_indices:
            pred = F.argmax(pred, axis=self._axis)
        preds = F.cast(F.reshape(pred, shape=(-1,)), "float32")
        labels = F.cast(F.reshape(label, shape=(-1,)), "float32")
        # Valid labels and index predictions are integral floats, so comparing them as
        # float32 counts what MXNet's int32 comparison counts. Sums stay exact in float32
        # up to 2**24 items per array.
        matches = preds == labels
        if self._ignore_label is None:
            parts = [F.sum(matches)]
        else:
            keep = labels != float(self._ignore_label)
            parts = [F.sum(matches * keep), F.sum(keep)]
        if self._preds_are_indices:
            parts.append(F.sum(preds != F.floor(preds)))
        return parts[0] if len(parts) == 1 else F.concat(*parts, dim=0)


@functools.cache
def _match_counter(
    axis: int, preds_are_indices: bool, ignore_label: Optional[float]
) -> _MatchCounter:
    # Cached per configuration outside the metric, so metrics stay cheap to deepcopy and
    # pickle (Estimator deep-copies its validation metrics).
    counter = _MatchCounter(axis, preds_are_indices, ignore_label)
    counter.hybridize(static_alloc=True)
    return counter


def _has_axis(shape: tuple[int, ...], axis: int) -> bool:
    return -len(shape) <= axis < len(shape)


def _num_rows(pred_shape: tuple[int, ...], axis: int) -> int:
    """Return the number of predictions (samples) in scores of shape ``pred_shape``."""
    return int(np.prod(pred_shape)) // max(int(pred_shape[axis]), 1)
