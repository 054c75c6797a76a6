"""gluon_safe: label safety and training helpers for Apache MXNet Gluon 1.9.1."""

from __future__ import annotations

import logging

from . import checks, data, encoding, errors, losses, metrics, training
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
    LossReductionWarning,
    NonFiniteError,
    NonFiniteLabelError,
    NonIntegerLabelError,
    StaleGradientError,
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
from .patching import patch, unpatch
from .training import (
    Callback,
    Checkpoint,
    CSVLogger,
    EarlyStopping,
    History,
    Resume,
    TerminateOnNaN,
    Trainer,
    evaluate,
    fit,
    load_checkpoint,
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "ContinuousLabelError",
    "DeviceBatch",
    "DeviceDataLoader",
    "DeviceError",
    "EarlyStopping",
    "GluonSafeError",
    "History",
    "LabelEncoder",
    "LabelError",
    "LabelLayoutError",
    "LabelRangeError",
    "LabelShapeError",
    "LabelTypeError",
    "LaunchError",
    "LossReductionWarning",
    "MultiLabelAccuracy",
    "MultiLabelEncoder",
    "NonFiniteError",
    "NonFiniteLabelError",
    "NonIntegerLabelError",
    "Resume",
    "SafeAccuracy",
    "SafeMetricBase",
    "SafeSigmoidBCELoss",
    "SafeSigmoidBinaryCrossEntropyLoss",
    "SafeSoftmaxCELoss",
    "SafeSoftmaxCrossEntropyLoss",
    "SafeTopKAccuracy",
    "ShardSampler",
    "StaleGradientError",
    "TerminateOnNaN",
    "Trainer",
    "UnseenLabelError",
    "WorkerTimeoutError",
    "__version__",
    "checks",
    "data",
    "devices",
    "encoding",
    "errors",
    "evaluate",
    "fit",
    "load_checkpoint",
    "losses",
    "metrics",
    "patch",
    "split_batch",
    "training",
    "unpatch",
]
