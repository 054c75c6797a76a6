"""Combining metric totals over the workers, so that logged values cover all the data."""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from .._compat import mx

__all__ = ["check_combinable", "metric_totals", "set_metric_totals"]

_TOTALS = ("sum_metric", "num_inst", "global_sum_metric", "global_num_inst")
"""The running totals of an ``EvalMetric`` whose sums over workers give the global value."""


def check_combinable(metrics: Sequence[Any]) -> None:
    """Raise unless each metric's value over all workers follows from summed totals.

    MXNet metrics keep ``sum_metric`` and ``num_inst`` and report their ratio, so adding
    the totals of every worker gives the value over all the data. The exceptions keep
    other state: ``PCC`` (a confusion matrix) and the ``average='micro'`` forms of
    ``F1``, ``MCC`` and ``PearsonCorrelation``.

    Raises
    ------
    ValueError
        If a metric (or a child of a composite metric) is one of those exceptions.
    """
    for metric in _leaves(metrics):
        reason = _not_combinable_reason(metric)
        if reason is not None:
            raise ValueError(
                f"the metric {metric.name!r} ({type(metric).__name__}) cannot be combined "
                f"over workers: {reason}. Use average='macro', or compute it after "
                "training with evaluate() on one process."
            )


def metric_totals(metrics: Sequence[Any]) -> List[float]:
    """Return the running totals of every metric, four per metric, composites expanded.

    Reading the totals of a gluon_safe metric first folds in its pending lazy checks.
    """
    return [float(getattr(metric, name)) for metric in _leaves(metrics) for name in _TOTALS]


def set_metric_totals(metrics: Sequence[Any], totals: np.ndarray[Any, Any]) -> None:
    """Write totals in the order of :func:`metric_totals` back into the metrics."""
    values = iter(totals.tolist())
    for metric in _leaves(metrics):
        for name in _TOTALS:
            value = next(values)
            setattr(metric, name, round(value) if name.endswith("num_inst") else value)


def _leaves(metrics: Sequence[Any]) -> List[Any]:
    leaves: List[Any] = []
    for metric in metrics:
        if isinstance(metric, mx.metric.CompositeEvalMetric):
            leaves.extend(_leaves(metric.metrics))
        else:
            leaves.append(metric)
    return leaves


def _not_combinable_reason(metric: Any) -> Any:
    if isinstance(metric, mx.metric.PCC):
        return "it keeps a confusion matrix, not a sum and a count"
    micro_forms = (mx.metric.F1, mx.metric.MCC, mx.metric.PearsonCorrelation)
    average = getattr(metric, "average", getattr(metric, "_average", None))
    if isinstance(metric, micro_forms) and average == "micro":
        return "with average='micro' it keeps counts over all batches, not a sum of values"
    return None
