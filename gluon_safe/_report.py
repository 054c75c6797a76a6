"""Text of the per-epoch progress lines, shared by the demo and by ``fit``.

A line reads ``Epoch: 0, ela: 9.1 sec, Loss: 0.828530, Train_acc 0.6353, Test_acc 0.6304``:
the elapsed seconds of the epoch with 1 decimal, the loss with 6 and each metric with 4.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional

__all__ = ["format_epoch_line", "metric_label", "short_metric_name"]

_SHORT_NAMES = {"accuracy": "acc"}
_TOP_K_NAME = re.compile(r"top_k_accuracy_(\d+)")


def short_metric_name(name: str) -> str:
    """Return the short form of an MXNet metric name used in epoch lines.

    ``'accuracy'`` becomes ``'acc'`` and ``'top_k_accuracy_5'`` becomes ``'top5_acc'``;
    every other name is returned unchanged.

    Examples
    --------
    >>> short_metric_name("accuracy"), short_metric_name("top_k_accuracy_5")
    ('acc', 'top5_acc')
    """
    top_k = _TOP_K_NAME.fullmatch(name)
    if top_k is not None:
        return f"top{top_k.group(1)}_acc"
    return _SHORT_NAMES.get(name, name)


def metric_label(prefix: str, name: str) -> str:
    """Return the label of a metric in an epoch line, such as ``'Train_acc'``.

    Examples
    --------
    >>> metric_label("Test", "accuracy")
    'Test_acc'
    """
    return f"{prefix}_{short_metric_name(name)}"


def format_epoch_line(
    epoch: int, elapsed: float, loss: Optional[float], metrics: Mapping[str, float]
) -> str:
    """Format the progress line of one epoch.

    Parameters
    ----------
    epoch : int
        Epoch number, counted from 0.
    elapsed : float
        Duration of the epoch in seconds, shown with 1 decimal.
    loss : float or None
        Mean training loss per sample, shown with 6 decimals; None leaves the field out.
    metrics : mapping of str to float
        Metric values by label (see :func:`metric_label`), shown with 4 decimals in the
        mapping's order.

    Returns
    -------
    str
        The line, without a trailing newline.

    Examples
    --------
    >>> format_epoch_line(0, 9.13, 0.82853, {"Train_acc": 0.63534, "Test_acc": 0.6304})
    'Epoch: 0, ela: 9.1 sec, Loss: 0.828530, Train_acc 0.6353, Test_acc 0.6304'
    """
    fields = [f"Epoch: {epoch}", f"ela: {elapsed:.1f} sec"]
    if loss is not None:
        fields.append(f"Loss: {loss:.6f}")
    fields.extend(f"{label} {value:.4f}" for label, value in metrics.items())
    return ", ".join(fields)
