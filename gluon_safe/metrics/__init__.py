"""Evaluation metrics that check their labels, as drop-in MXNet metric classes.

Importing this package registers the new names with MXNet's metric registry, so
``mx.metric.create`` builds them by name or from ``get_config()``:

======================================  ===========================
name                                    class
======================================  ===========================
``'safe_accuracy'``, ``'safe_acc'``     :class:`SafeAccuracy`
``'safe_top_k_accuracy'``,              :class:`SafeTopKAccuracy`
``'safe_top_k_acc'``
``'multilabel_accuracy'``               :class:`MultiLabelAccuracy`
======================================  ===========================

Each class is also registered under its lower-case class name, as
``mx.metric.register`` does. MXNet's own names ('acc', 'accuracy', ...) are left alone.
"""

from __future__ import annotations

from ._base import SafeMetricBase
from .accuracy import SafeAccuracy
from .multilabel import MultiLabelAccuracy
from .topk import SafeTopKAccuracy

__all__ = [
    "MultiLabelAccuracy",
    "SafeAccuracy",
    "SafeMetricBase",
    "SafeTopKAccuracy",
]
