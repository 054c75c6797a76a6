"""Callbacks of ``fit``: the hook interface, early stopping, NaN termination, CSV logging.

A callback decides and ``fit`` acts: a hook returns None, :class:`StopTraining` or
:class:`RestoreParameters`, and ``fit`` stops, restores and logs. The stopping rule of
:class:`EarlyStopping` is the pure function :func:`early_stopping_decision`, which tests
can drive without training.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
from typing_extensions import Literal

from ..distributed import is_primary
from ..errors import LabelError
from ._direction import Direction, Mode, check_mode, is_improvement, resolve_mode
from ._state import Directive, FitState, RestoreParameters, StopTraining

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "EarlyStoppingState",
    "TerminateOnNaN",
    "early_stopping_decision",
]

BadLabelsAction = Optional[Literal["skip"]]
PathLike = Union[str, "os.PathLike[str]"]


class Callback:
    """Base class of ``fit`` callbacks; every hook does nothing by default.

    Hooks run in the order the callbacks were given. ``on_train_begin``,
    ``on_epoch_end``, ``on_batch_end`` and ``on_train_end`` may return a
    :class:`StopTraining` or :class:`RestoreParameters` directive.
    """

    def on_train_begin(self, state: FitState) -> Directive:
        """Run once before the first epoch (after a resume restored the state)."""
        return None

    def on_train_end(self, state: FitState) -> Directive:
        """Run once after the last epoch, or after a callback stopped the run."""
        return None

    def on_epoch_begin(self, state: FitState) -> Directive:
        """Run before each epoch; ``state.epoch`` is the epoch about to start."""
        return None

    def on_epoch_end(self, state: FitState) -> Directive:
        """Run after each epoch; ``state.logs`` contains its values."""
        return None

    def on_batch_begin(self, state: FitState) -> Directive:
        """Run before each training batch; ``state.batch`` is its index in the epoch."""
        return None

    def on_batch_end(self, state: FitState) -> Directive:
        """Run after each training update; ``state.batch_loss()`` reads its loss."""
        return None

    def on_bad_labels(self, state: FitState, error: LabelError) -> BadLabelsAction:
        """Decide what happens to a batch whose labels failed a check.

        Return None to let ``fit`` raise ``error`` (the default), or ``'skip'`` to skip
        the batch; ``fit`` counts and logs each skip. An error of the loss skips the
        batch before its update. A metric checks after the update, so skipping on its
        error only leaves the batch out of the metric. Errors raised by the data loader end its
        iteration, and errors found by lazy checks at the end of an epoch come after
        the updates, so neither reaches this hook: ``fit`` raises them.
        """
        return None

    def state_dict(self) -> Dict[str, Any]:
        """Return the state a checkpoint stores: JSON values and numpy arrays."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`."""


@dataclass(frozen=True)
class EarlyStoppingState:
    """The progress of early stopping: best value, its epoch, epochs without improvement."""

    best: Optional[float] = None
    best_epoch: Optional[int] = None
    wait: int = 0


def early_stopping_decision(
    state: EarlyStoppingState,
    value: float,
    epoch: int,
    *,
    direction: Direction,
    patience: int,
    min_delta: float,
) -> Tuple[EarlyStoppingState, bool, Optional[str]]:
    """Decide on one epoch's monitored value.

    Parameters
    ----------
    state : EarlyStoppingState
        The state before this epoch.
    value : float
        The monitored value of this epoch; NaN never counts as an improvement.
    epoch : int
        The epoch, for the state and the reason.
    direction : {'min', 'max'}
        Whether lower or higher values are better.
    patience : int
        Epochs without improvement to tolerate; the run stops at the first epoch
        without improvement after ``patience`` such epochs (at once when 0).
    min_delta : float
        How much a value must beat the best one to count as an improvement.

    Returns
    -------
    state : EarlyStoppingState
        The state after this epoch.
    improved : bool
        Whether this epoch set a new best.
    reason : str or None
        Why to stop, or None to go on.

    Examples
    --------
    >>> s = EarlyStoppingState()
    >>> s, improved, reason = early_stopping_decision(s, 0.5, 0, direction="min",
    ...                                                patience=0, min_delta=0.0)
    >>> improved, reason
    (True, None)
    >>> s, improved, reason = early_stopping_decision(s, 0.6, 1, direction="min",
    ...                                                patience=0, min_delta=0.0)
    >>> reason
    'no improvement for 1 epoch over the best value 0.5 at epoch 0'
    """
    if is_improvement(value, state.best, direction, min_delta):
        return EarlyStoppingState(best=value, best_epoch=epoch, wait=0), True, None

    waited = replace(state, wait=state.wait + 1)
    if waited.wait <= patience:
        return waited, False, None
    plural = "" if waited.wait == 1 else "s"
    return waited, False, (
        f"no improvement for {waited.wait} epoch{plural} over the best value "
        f"{state.best!r} at epoch {state.best_epoch}"
    )


class EarlyStopping(Callback):
    """Stop training when a monitored value stops improving.

    Parameters
    ----------
    monitor : str
        The epoch-log key to watch, such as ``'val_loss'`` or ``'val_accuracy'``.
    mode : {'auto', 'min', 'max'}, default 'auto'
        ``'auto'`` takes the direction the metric behind ``monitor`` declares: the
        ``higher_is_better`` attribute of gluon_safe metrics, 'min' for losses, and a
        table of MXNet's built-in metrics. It raises when the metric declares none.
    patience : int, default 0
        Epochs without improvement to tolerate before stopping.
    min_delta : float, default 0.0
        Minimum change that counts as an improvement.
    restore_best : bool, default False
        At the end of training, load the parameters of the best epoch. Each new best
        copies every parameter to the host.

    Raises
    ------
    ValueError
        At construction, if ``mode`` is unknown, ``patience`` is negative or not an
        int, or ``min_delta`` is negative or not finite. At the start of training,
        if ``monitor`` is not logged by the run or ``mode='auto'`` finds no direction.
    """

    def __init__(self, monitor: str, *, mode: Mode = "auto", patience: int = 0,
                 min_delta: float = 0.0, restore_best: bool = False) -> None:
        self.monitor = monitor
        self.mode = check_mode(mode, owner="EarlyStopping")
        self.patience = _check_count("patience", patience)
        self.min_delta = _check_min_delta(min_delta)
        self.restore_best = bool(restore_best)
        self.direction: Optional[Direction] = None
        self.progress = EarlyStoppingState()
        self.stopped_epoch: Optional[int] = None
        self._best_values: Dict[str, np.ndarray[Any, Any]] = {}

    def on_train_begin(self, state: FitState) -> Directive:
        self.direction = resolve_mode(self.mode, self.monitor, state.sources,
                                      owner="EarlyStopping")
        return None

    def on_epoch_end(self, state: FitState) -> Directive:
        if self.monitor not in state.logs:
            return None  # for example, no validation run this epoch
        value = state.logs[self.monitor]
        if self.direction is None:
            raise RuntimeError("EarlyStopping.on_epoch_end ran before on_train_begin")

        self.progress, improved, reason = early_stopping_decision(
            self.progress, value, state.epoch, direction=self.direction,
            patience=self.patience, min_delta=self.min_delta,
        )
        if improved and self.restore_best:
            self._best_values = state.snapshot_parameters()
        if reason is None:
            return None
        self.stopped_epoch = state.epoch
        return StopTraining(f"EarlyStopping on {self.monitor!r}: {reason}")

    def on_train_end(self, state: FitState) -> Directive:
        if not (self.restore_best and self._best_values):
            return None
        if self.progress.best_epoch == state.epoch:
            return None
        return RestoreParameters(
            self._best_values,
            f"EarlyStopping restored the parameters of epoch {self.progress.best_epoch}, "
            f"where {self.monitor!r} was best ({self.progress.best!r})",
        )

    def state_dict(self) -> Dict[str, Any]:
        return {
            "best": self.progress.best,
            "best_epoch": self.progress.best_epoch,
            "wait": self.progress.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_values": dict(self._best_values),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.progress = EarlyStoppingState(
            best=state["best"], best_epoch=state["best_epoch"], wait=int(state["wait"])
        )
        self.stopped_epoch = state.get("stopped_epoch")
        self._best_values = dict(state.get("best_values") or {})


class TerminateOnNaN(Callback):
    """Stop training when the training loss becomes NaN or infinite.

    Parameters
    ----------
    every : {'batch', 'epoch'}, default 'batch'
        ``'batch'`` reads each batch's loss back to the host, one blocking read per
        batch, and stops after the first bad batch. ``'epoch'`` checks only the epoch's
        mean loss, which costs nothing extra.

    Notes
    -----
    The update of the bad batch is already applied when this callback reads its loss.
    To keep NaN out of the parameters, use ``Trainer(on_nonfinite='skip')`` or
    ``'raise'``, which check before updating.
    """

    def __init__(self, *, every: Literal["batch", "epoch"] = "batch") -> None:
        if every not in ("batch", "epoch"):
            raise ValueError(f"every={every!r} is not supported; expected 'batch' or 'epoch'")
        self.every = every

    def on_batch_end(self, state: FitState) -> Directive:
        if self.every != "batch":
            return None
        loss = state.batch_loss()
        if math.isfinite(loss) or state.batch_samples == 0:
            return None
        return StopTraining(f"TerminateOnNaN: the loss of batch {state.batch} in epoch "
                            f"{state.epoch} is {loss}")

    def on_epoch_end(self, state: FitState) -> Directive:
        loss = state.logs.get("loss", math.nan)
        if math.isfinite(loss):
            return None
        return StopTraining(f"TerminateOnNaN: the mean loss of epoch {state.epoch} is {loss}")


class CSVLogger(Callback):
    """Append one CSV row per epoch: ``epoch`` and every logged value.

    Parameters
    ----------
    path : str or path-like
        The CSV file. It is rewritten with a header at the start of training, unless
        ``append`` is True or the run resumes from a checkpoint.
    separator : str, default ','
        The field separator.
    append : bool, default False
        Keep the rows already in the file.

    Raises
    ------
    ValueError
        At the start of training, when appending to a file whose header lists other
        columns than this run logs.

    Notes
    -----
    In distributed training only worker 0 writes the file.
    """

    def __init__(self, path: PathLike, *, separator: str = ",", append: bool = False) -> None:
        self.path = os.fspath(path)
        self.separator = separator
        self.append = append
        self._columns: List[str] = []

    def on_train_begin(self, state: FitState) -> Directive:
        self._columns = ["epoch", *state.sources]
        if not is_primary(state.trainer):
            return None
        keep = (self.append or state.resumed) and _has_content(self.path)
        if keep:
            self._check_header()
            return None
        with open(self.path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, delimiter=self.separator).writerow(self._columns)
        return None

    def on_epoch_end(self, state: FitState) -> Directive:
        if not is_primary(state.trainer):
            return None
        values = state.logs
        row = [str(state.epoch)] + [
            _format_value(values.get(column, math.nan)) for column in self._columns[1:]
        ]
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle, delimiter=self.separator).writerow(row)
        return None

    def _check_header(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=self.separator), [])
        if header != self._columns:
            raise ValueError(f"CSVLogger: {self.path} has the columns {header}, but this run "
                             f"logs {self._columns}; pass another path, or append=False "
                             "to rewrite the file")


def _has_content(path: str) -> bool:
    return os.path.isfile(path) and os.path.getsize(path) > 0


def _format_value(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}={value!r} is not a non-negative int")
    return int(value)


def _check_min_delta(value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not math.isfinite(float(value)) or value < 0):
        raise ValueError(f"min_delta={value!r} is not a non-negative finite number")
    return float(value)
