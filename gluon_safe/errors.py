"""The exception tree of gluon_safe.

Every exception derives from :class:`GluonSafeError` and from the builtin that code
catching MXNet's own errors already expects (``ValueError`` for bad values,
``TypeError`` for bad types, ``RuntimeError`` for failed processes), so existing
``except ValueError:`` clauses keep working::

    GluonSafeError
    ├── LabelError (ValueError)
    │   ├── NonIntegerLabelError      0.2 where a class index is expected
    │   ├── LabelRangeError           -1 or K where 0..K-1 is expected
    │   ├── NonFiniteLabelError       NaN or inf
    │   ├── LabelLayoutError          one-hot rows to a sparse metric, wrong shape
    │   │   └── LabelShapeError       label and prediction batch sizes differ
    │   ├── LabelTypeError (TypeError) strings mixed with numbers
    │   ├── ContinuousLabelError      regression-like targets given to an encoder
    │   └── UnseenLabelError          a raw value the encoder was not fitted on
    ├── DeviceError (ValueError)      a GPU that does not exist
    ├── CheckpointError (ValueError)  a checkpoint that is damaged or not ours
    ├── WorkerTimeoutError (TimeoutError) a DataLoader worker delivered no batch in time
    ├── NonFiniteError (FloatingPointError) NaN or inf in a loss or gradient
    ├── StaleGradientError (RuntimeError) step() without a fresh gradient
    └── LaunchError (RuntimeError)    a distributed process failed to start or run

    LossReductionWarning (UserWarning) a mean loss divided again by step(batch_size)

A :class:`LabelError` carries its evidence as attributes (``values``, ``positions``,
``count``, ``total``, ``expected``, ``hint``, ``batch``) and repeats them in its message.
"""

from __future__ import annotations

import multiprocessing
from typing import Any, Optional, Sequence

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
    "LossReductionWarning",
    "NonFiniteError",
    "NonFiniteLabelError",
    "NonIntegerLabelError",
    "StaleGradientError",
    "UnseenLabelError",
    "WorkerTimeoutError",
]

MAX_SHOWN = 5
"""How many offending values a message lists before it counts the rest."""


class GluonSafeError(Exception):
    """Root of every exception raised by gluon_safe."""


def format_value(value: Any) -> str:
    """Format one label value the way a user would type it (2.0 -> '2.0', 'a' -> "'a'")."""
    if isinstance(value, float):
        return repr(value) if value == value else "nan"
    if hasattr(value, "item"):
        return format_value(value.item())
    return repr(value)


def _format_position(position: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(i)) for i in position) + "]"


class LabelError(GluonSafeError, ValueError):
    """Labels that do not fit the task: wrong values, wrong layout or wrong type.

    Parameters
    ----------
    summary : str
        One sentence saying what is wrong, e.g. ``"labels contain non-integer values"``.
    values : sequence, optional
        The first few offending values (at most :data:`MAX_SHOWN` are kept).
    positions : sequence of tuple of int, optional
        Index of each value in ``values`` inside the label array.
    count : int, optional
        How many values are offending in all; defaults to ``len(values)``.
    total : int, optional
        How many values were checked.
    expected : str
        What valid labels look like, e.g. ``"class indices 0..5 (2.0 counts as 2)"``.
    hint : str
        The likely cause and the fix.
    batch : int, optional
        Index of the batch that held the labels, when known.
    name : str, default 'labels'
        Name of the checked argument, used in the message.
    sample_indices : sequence of int, optional
        Dataset indices of the samples that hold the values shown, when a data loader
        that owns its sampler found them.

    Attributes
    ----------
    values, positions, count, total, expected, hint, batch, name, sample_indices
        The parameters above, as given.
    """

    def __init__(
        self,
        summary: str,
        *,
        values: Sequence[Any] = (),
        positions: Sequence[Sequence[int]] = (),
        count: Optional[int] = None,
        total: Optional[int] = None,
        expected: str = "",
        hint: str = "",
        batch: Optional[int] = None,
        name: str = "labels",
        sample_indices: Sequence[int] = (),
    ) -> None:
        self.summary = summary
        self.values: tuple[Any, ...] = tuple(values)[:MAX_SHOWN]
        self.positions: tuple[tuple[int, ...], ...] = tuple(
            tuple(int(i) for i in p) for p in positions
        )[:MAX_SHOWN]
        self.count = len(tuple(values)) if count is None else int(count)
        self.total = total
        self.expected = expected
        self.hint = hint
        self.batch = batch
        self.name = name
        self.sample_indices: tuple[int, ...] = tuple(int(i) for i in sample_indices)
        super().__init__(self._compose())

    def _compose(self) -> str:
        head = self.summary
        if self.batch is not None:
            head = f"batch {self.batch}: {head}"
        parts = [head + "."]

        received = self._describe_received()
        if received:
            parts.append(f"Received: {received}.")
        if self.expected:
            parts.append(f"Expected: {self.expected}.")
        if self.hint:
            parts.append(self.hint)
        if self.sample_indices:
            indices = ", ".join(str(i) for i in self.sample_indices)
            parts.append(f"Dataset indices of the samples shown: {indices}.")
        return " ".join(parts)

    def _describe_received(self) -> str:
        if not self.values:
            return ""
        listed = []
        for i, value in enumerate(self.values):
            item = format_value(value)
            if i < len(self.positions):
                item += f" at {self.name}{_format_position(self.positions[i])}"
            listed.append(item)
        text = ", ".join(listed)
        if self.count > len(self.values):
            text += f" and {self.count - len(self.values)} more"
        if self.total is not None:
            text += f" ({self.count} of {self.total} values)"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions,
        # and errors raised in DataLoader worker processes are pickled.
        state = {
            "values": self.values,
            "positions": self.positions,
            "count": self.count,
            "total": self.total,
            "expected": self.expected,
            "hint": self.hint,
            "batch": self.batch,
            "name": self.name,
            "sample_indices": self.sample_indices,
        }
        return (_rebuild, (type(self), self.summary, state))

    def with_batch(self, batch: int, sample_indices: Sequence[int] = ()) -> LabelError:
        """Return a copy of this error that names its batch and, if given, dataset indices."""
        state = self.__reduce__()[1][2]
        state["batch"] = batch
        if sample_indices:
            state["sample_indices"] = tuple(sample_indices)
        copy: LabelError = _rebuild(type(self), self.summary, state)
        return copy


def _rebuild(cls: type[Any], message: str, state: dict[str, Any]) -> Any:
    return cls(message, **state)


class NonIntegerLabelError(LabelError):
    """Labels that should be class indices hold fractional values such as 0.2."""


class LabelRangeError(LabelError):
    """Class indices outside ``[0, num_classes)``, or probabilities outside ``[0, 1]``."""


class NonFiniteLabelError(LabelError):
    """Labels hold NaN or infinity."""


class LabelLayoutError(LabelError):
    """Labels are laid out for another task: one-hot rows, multi-hot rows, wrong rank."""


class LabelShapeError(LabelLayoutError):
    """Labels and predictions disagree on the batch size or on their shapes."""


class LabelTypeError(LabelError, TypeError):
    """Label values of a type the task cannot use, such as strings mixed with numbers."""


class ContinuousLabelError(LabelError):
    """Targets that look continuous (regression-like) were given where classes are expected."""


class UnseenLabelError(LabelError):
    """A :class:`~gluon_safe.LabelEncoder` met raw values it was not fitted on."""


class DeviceError(GluonSafeError, ValueError):
    """A requested device does not exist or the device specification is invalid."""


class CheckpointError(GluonSafeError, ValueError):
    """A checkpoint is damaged, incomplete or was written for another model."""


class WorkerTimeoutError(GluonSafeError, multiprocessing.TimeoutError, TimeoutError):
    """A DataLoader worker did not deliver a batch within ``timeout`` seconds.

    Subclasses ``multiprocessing.TimeoutError``, which MXNet's DataLoader raises, and the
    builtin ``TimeoutError``, so existing handlers for either still catch it.
    """


class LaunchError(GluonSafeError, RuntimeError):
    """A process of a distributed launch failed, timed out or could not be started."""


class NonFiniteError(GluonSafeError, FloatingPointError):
    """A loss or gradient contains NaN or infinity (raised with ``on_nonfinite='raise'``).

    Attributes
    ----------
    source : str
        ``'loss'`` or ``'gradient'``.
    batch : object or None
        The batch label the caller gave to ``Trainer.step``, when it gave one.
    step : int
        Number of updates the trainer had applied before this one.
    nonfinite_fields : tuple of str or None
        The fields of the batch that hold NaN or infinity, among ``'data'`` and
        ``'label'``. Empty when the batch was finite, so the model produced the value;
        None when the batch was not given to ``Trainer.step``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        batch: object,
        step: int,
        nonfinite_fields: Optional[tuple[str, ...]] = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.batch = batch
        self.step = step
        self.nonfinite_fields = nonfinite_fields

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions.
        state = {
            "source": self.source,
            "batch": self.batch,
            "step": self.step,
            "nonfinite_fields": self.nonfinite_fields,
        }
        return (_rebuild, (type(self), self.args[0], state))


class StaleGradientError(GluonSafeError, RuntimeError):
    """``Trainer.step`` found parameters whose gradient no ``backward()`` has written.

    MXNet 1.9.1 raises a ``UserWarning`` for this condition. This error names the
    parameters, grouped by block, and the devices.

    Attributes
    ----------
    parameters : tuple of str
        Names of the stale parameters.
    contexts : tuple of str
        The devices on which at least one of them is stale.
    no_backward : bool
        True when no parameter at all has a new gradient, so ``step`` ran twice for
        one ``backward()`` or before any.
    """

    def __init__(
        self,
        message: str,
        *,
        parameters: tuple[str, ...],
        contexts: tuple[str, ...],
        no_backward: bool,
    ) -> None:
        super().__init__(message)
        self.parameters = parameters
        self.contexts = contexts
        self.no_backward = no_backward

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            "parameters": self.parameters,
            "contexts": self.contexts,
            "no_backward": self.no_backward,
        }
        return (_rebuild, (type(self), self.args[0], state))


class LossReductionWarning(UserWarning):
    """A loss that is already a batch mean met ``trainer.step(batch_size)``, which divides again."""
