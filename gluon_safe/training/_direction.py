"""Whether a monitored value improves by going up or down, as its metric declares it.

Early stopping and best-checkpoint selection need a direction. ``gluon.contrib.estimator``
in MXNet 1.9.1 maximises every monitored value in its 'auto' mode, so a loss monitored
there is "improved" when it grows. Here the direction comes from the metric itself:
gluon_safe metrics declare ``higher_is_better``, a loss always decreases, and a table
covers MXNet's built-in metrics. A value with no declared direction raises; the name of
a metric is never used to guess.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from typing_extensions import Literal

from .._compat import mx

__all__ = ["LOSS", "Direction", "Mode", "metric_direction", "resolve_mode"]

Direction = Literal["min", "max"]
Mode = Literal["auto", "min", "max"]
MODES = ("auto", "min", "max")

LOSS = "loss"
"""Source marker for monitored values that are a loss (always minimised)."""

_BUILTIN_DIRECTIONS: dict[type, Direction] = {
    mx.metric.Accuracy: "max",
    mx.metric.TopKAccuracy: "max",
    mx.metric.F1: "max",
    mx.metric.MCC: "max",
    mx.metric.PearsonCorrelation: "max",
    mx.metric.PCC: "max",
    mx.metric.Perplexity: "min",
    mx.metric.MAE: "min",
    mx.metric.MSE: "min",
    mx.metric.RMSE: "min",
    mx.metric.CrossEntropy: "min",
    mx.metric.NegativeLogLikelihood: "min",
    mx.metric.Loss: "min",
}
"""Directions of the metrics of ``mxnet.metric`` in MXNet 1.9.1. ``CompositeEvalMetric``
and ``CustomMetric`` are missing on purpose: their direction depends on what they wrap."""


def metric_direction(source: Any) -> Optional[Direction]:
    """Return the direction a metric declares, or None when it declares none.

    Parameters
    ----------
    source : EvalMetric or str
        A metric object, or :data:`LOSS` for a loss.

    Returns
    -------
    {'min', 'max'} or None
        From the metric's ``higher_is_better`` attribute if it has one, else from the
        first class in its method resolution order found in the table of MXNet's
        built-in metrics.

    Examples
    --------
    >>> metric_direction(mx.metric.Accuracy()), metric_direction(mx.metric.MAE())
    ('max', 'min')
    >>> metric_direction("loss")
    'min'
    """
    if isinstance(source, str):
        return "min" if source == LOSS else None
    declared = getattr(source, "higher_is_better", None)
    if isinstance(declared, bool):
        return "max" if declared else "min"
    for cls in type(source).__mro__:
        direction = _BUILTIN_DIRECTIONS.get(cls)
        if direction is not None:
            return direction
    return None


def resolve_mode(mode: Any, monitor: str, sources: dict[str, Any], *, owner: str) -> Direction:
    """Turn ``mode`` into a direction for the value ``monitor``.

    Parameters
    ----------
    mode : {'auto', 'min', 'max'}
        The requested mode.
    monitor : str
        The key of the monitored value in the epoch logs, such as ``'val_loss'``.
    sources : dict of str to metric or str
        What produces each log key of the run: a metric object, or :data:`LOSS`.
    owner : str
        Name of the callback, used in messages.

    Raises
    ------
    ValueError
        If ``mode`` is not allowed, ``monitor`` is not a key of ``sources``, or
        ``mode='auto'`` and the metric behind ``monitor`` declares no direction.
    """
    check_mode(mode, owner=owner)
    if monitor not in sources:
        known = ", ".join(repr(key) for key in sources) or "none"
        raise ValueError(f"{owner}: monitor={monitor!r} is not a value this run logs; "
                         f"the logged values are {known}")
    if mode != "auto":
        return mode  # type: ignore[no-any-return]

    source = sources[monitor]
    direction = metric_direction(source)
    if direction is None:
        raise ValueError(
            f"{owner}: mode='auto' cannot tell whether {monitor!r} should go up or down, "
            f"because its metric {type(source).__name__} declares no direction. Pass "
            "mode='max' or mode='min', or give the metric class a boolean "
            "higher_is_better attribute."
        )
    return direction


def check_mode(mode: Any, *, owner: str) -> Mode:
    """Return ``mode`` if it is 'auto', 'min' or 'max', else raise ValueError."""
    if mode not in MODES:
        raise ValueError(f"{owner}: mode={mode!r} is not supported; expected one of "
                         "'auto', 'min', 'max'")
    return mode  # type: ignore[no-any-return]


def is_improvement(value: float, best: Union[float, None], direction: Direction,
                   min_delta: float) -> bool:
    """Tell whether ``value`` beats ``best`` by more than ``min_delta`` in ``direction``.

    NaN never improves; any finite or infinite value improves on no best at all.
    """
    if value != value:
        return False
    if best is None:
        return True
    if direction == "min":
        return value < best - min_delta
    return value > best + min_delta
