"""Check-mode plumbing shared by the safe losses.

A safe loss checks its labels in :meth:`forward`, which MXNet 1.9.1 calls with
NDArrays before it runs the cached graph of a hybridized block, and then defers to
MXNet's own computation.  This module contains what the losses share: parsing the
``check`` option, counting forward calls, queueing lazy checks and flushing them.
The loss classes supply the task itself through four hooks.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from .._compat import NDArray, autograd
from .._types import CheckMode
from ..checks import (
    LazyLabelCheck,
    as_label_array,
    normalize_check_mode,
    resolve_check_mode,
)
from ..errors import LabelError

logger = logging.getLogger(__name__)

LABEL_NAME = "labels"
"""Name of the label argument in error messages (``labels[3]`` names the 4th label)."""


class LabelCheckMixin:
    """Run the label checks of a loss in the configured check mode.

    A subclass calls :meth:`_init_label_checks` from its constructor and
    :meth:`_check_labels` at the start of ``forward``, and implements
    :meth:`_check_shapes`, :meth:`_check_values` and :meth:`_lazy_check_options`
    (plus :meth:`_lazy_labels` when the device check needs the labels rearranged).

    Check modes:

    ``'auto'``
        ``'eager'`` for labels on a CPU context (or numpy arrays), ``'lazy'`` for
        labels on a GPU, decided at every call.
    ``'eager'``
        Copy the labels to the host and check them at once (one blocking read per call).
    ``'lazy'``
        Queue the check on the labels' device; :meth:`flush` reads the verdicts.
    ``'off'``
        No checks at all, not even of shapes.

    Shape checks need no device read, so they run at once in every mode but ``'off'``.
    Each checked call gets a batch index, counted from 0 since the last :meth:`flush`;
    lazy errors name it.
    """

    _label_check_mode: CheckMode
    _lazy_label_checks: dict[tuple[tuple[str, Any], ...], LazyLabelCheck]
    _label_batch: int

    def _init_label_checks(self, check: Any) -> None:
        self._label_check_mode = normalize_check_mode(check)
        self._lazy_label_checks = {}
        self._label_batch = 0

    @property
    def check(self) -> CheckMode:
        """The check mode: ``'auto'``, ``'eager'``, ``'lazy'`` or ``'off'``."""
        return self._label_check_mode

    def flush(self) -> None:
        """Read the verdicts of all queued lazy checks and restart the batch count.

        Call it at the end of each epoch (``gluon_safe`` ``fit`` does) when the mode
        is ``'lazy'``, or ``'auto'`` with labels on a GPU. It reads one small array
        per device that has queued checks, and nothing when none are queued.

        Raises
        ------
        LabelError
            The error of the first bad batch since the last flush (the subclass that
            the eager check would raise), naming the batch index.
        """
        self._label_batch = 0
        errors: list[LabelError] = []
        for lazy_check in self._lazy_label_checks.values():
            try:
                lazy_check.flush()
            except LabelError as error:
                errors.append(error)
        if errors:
            raise min(errors, key=lambda error: -1 if error.batch is None else error.batch)

    def _check_labels(self, pred: Any, label: Any) -> None:
        """Check the labels of one forward call; a Symbol ``pred`` skips the checks."""
        # A Symbol arrives when this loss is part of a graph being built, for
        # example inside a hybridized parent block. It carries no values to check.
        if self._label_check_mode == "off" or not isinstance(pred, NDArray):
            return

        batch = self._label_batch
        self._label_batch += 1
        pred_shape = tuple(int(d) for d in pred.shape)

        if self._should_defer(label):
            self._check_shapes(pred_shape, tuple(int(d) for d in label.shape), None)
            self._queue_lazy_check(pred_shape, label, batch)
            return

        values = as_label_array(label, name=LABEL_NAME)
        self._check_shapes(pred_shape, values.shape, values)
        self._check_values(pred_shape, values)

    def _should_defer(self, label: Any) -> bool:
        # Numpy labels are already on the host, so even 'lazy' checks them at once.
        mode = resolve_check_mode(self._label_check_mode, label)
        return mode == "lazy" and isinstance(label, NDArray)

    def _queue_lazy_check(self, pred_shape: tuple[int, ...], label: NDArray, batch: int) -> None:
        options = self._lazy_check_options(pred_shape)
        key = tuple(sorted(options.items()))
        lazy_check = self._lazy_label_checks.get(key)
        if lazy_check is None:
            lazy_check = LazyLabelCheck(name=LABEL_NAME, **options)
            self._lazy_label_checks[key] = lazy_check
            logger.debug("queueing lazy label checks with %s", options)
        # Under autograd.record() the check's operators would otherwise join the
        # recorded graph, although no gradient ever flows through them.
        with autograd.pause():
            lazy_check.update(self._lazy_labels(pred_shape, label), batch=batch)

    def _check_shapes(
        self,
        pred_shape: tuple[int, ...],
        label_shape: tuple[int, ...],
        label_values: Optional[np.ndarray[Any, Any]],
    ) -> None:
        """Raise if the label shape does not fit ``pred_shape``; values only sharpen hints."""
        raise NotImplementedError

    def _check_values(self, pred_shape: tuple[int, ...], values: np.ndarray[Any, Any]) -> None:
        """Raise if the host label values are invalid for this loss."""
        raise NotImplementedError

    def _lazy_check_options(self, pred_shape: tuple[int, ...]) -> dict[str, Any]:
        """Return the :class:`LazyLabelCheck` options (``task`` and its settings)."""
        raise NotImplementedError

    def _lazy_labels(self, pred_shape: tuple[int, ...], label: NDArray) -> NDArray:
        """Return the labels laid out as the lazy check expects them."""
        return label
