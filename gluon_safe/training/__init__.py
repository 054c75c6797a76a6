"""Training helpers: a guarded Trainer, ``fit`` and ``evaluate``, callbacks, checkpoints.

:class:`Trainer` is a ``gluon.Trainer`` with global-norm clipping, a non-finite guard
and stale-gradient errors that name the parameters. :func:`fit` runs the epoch loop
over every device with label checks, progress lines and callbacks;
:func:`evaluate` computes metrics. :class:`Checkpoint` writes atomic bundles that
``fit(resume_from=...)`` continues from exactly when a seed is given.
"""

from __future__ import annotations

from ..errors import LossReductionWarning, NonFiniteError, StaleGradientError
from ._bundle import Bundle, read_bundle
from ._callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    EarlyStoppingState,
    TerminateOnNaN,
    early_stopping_decision,
)
from ._checkpoint import Checkpoint
from ._direction import metric_direction
from ._fit import evaluate, fit
from ._history import History
from ._resume import Resume
from ._state import FitState, RestoreParameters, StopTraining
from ._trainer import Trainer

load_checkpoint = read_bundle

__all__ = [
    "Bundle",
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "EarlyStoppingState",
    "FitState",
    "History",
    "LossReductionWarning",
    "NonFiniteError",
    "RestoreParameters",
    "Resume",
    "StaleGradientError",
    "StopTraining",
    "TerminateOnNaN",
    "Trainer",
    "early_stopping_decision",
    "evaluate",
    "fit",
    "load_checkpoint",
    "metric_direction",
]
