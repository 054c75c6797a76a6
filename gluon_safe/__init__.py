"""gluon_safe: label safety and training helpers for Apache MXNet Gluon 1.9.1."""

from __future__ import annotations

import logging

from . import checks, errors
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
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CheckpointError",
    "ContinuousLabelError",
    "DeviceError",
    "GluonSafeError",
    "LabelError",
    "LabelLayoutError",
    "LabelRangeError",
    "LabelShapeError",
    "LabelTypeError",
    "LaunchError",
    "NonFiniteLabelError",
    "NonIntegerLabelError",
    "UnseenLabelError",
    "__version__",
    "checks",
    "errors",
]
