"""gluon_safe: label safety and training helpers for Apache MXNet Gluon 1.9.1."""

from __future__ import annotations

import logging

from . import checks, data, encoding, errors, losses, metrics
from .data import DeviceBatch, DeviceDataLoader, ShardSampler, devices, split_batch
from .encoding import LabelEncoder, MultiLabelEncoder
from .errors import (
    CheckpointError,
    ContinuousLabelError,
    DeviceError,
    GluonSafeError,
    LabelError,
    LabelLayoutError,
    LabelRangeError,
    LabelShapeError,
    LabelTypeError,
    LaunchError,
    NonFiniteLabelError,
    NonIntegerLabelError,
    UnseenLabelError,
    WorkerTimeoutError,
)
from .losses import (
    SafeSigmoidBCELoss,
    SafeSigmoidBinaryCrossEntropyLoss,
    SafeSoftmaxCELoss,
    SafeSoftmaxCrossEntropyLoss,
)
from .metrics import MultiLabelAccuracy, SafeAccuracy, SafeMetricBase, SafeTopKAccuracy

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CheckpointError",
    "ContinuousLabelError",
    "DeviceBatch",
    "DeviceDataLoader",
    "DeviceError",
    "GluonSafeError",
    "LabelEncoder",
    "LabelError",
    "LabelLayoutError",
    "LabelRangeError",
    "LabelShapeError",
    "LabelTypeError",
    "LaunchError",
    "MultiLabelAccuracy",
    "MultiLabelEncoder",
    "NonFiniteLabelError",
    "NonIntegerLabelError",
    "SafeAccuracy",
    "SafeMetricBase",
    "SafeSigmoidBCELoss",
    "SafeSigmoidBinaryCrossEntropyLoss",
    "SafeSoftmaxCELoss",
    "SafeSoftmaxCrossEntropyLoss",
    "SafeTopKAccuracy",
    "ShardSampler",
    "UnseenLabelError",
    "WorkerTimeoutError",
    "__version__",
    "checks",
    "data",
    "devices",
    "encoding",
    "errors",
    "losses",
    "metrics",
    "split_batch",
]
