"""The epoch loops behind ``fit`` and ``evaluate``.

Per training batch: split onto the devices, forward under ``autograd.record()``,
backward, zero the gradients of idle devices, step with the number of counted samples,
and only then update the metrics, so that their host reads overlap the backward pass.
Loss sums stay on the devices until the end of the epoch; lazy label checks are read
there too.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .._compat import Context, NDArray, autograd, nd
from ..distributed import DistributedRun
from ..errors import LabelError, LossReductionWarning
from ._batches import LoadedBatch, load_batch
from ._grads import zero_idle_gradients
from ._progress import Progress
from ._state import FitState, StopTraining
from ._trainer import Trainer

__all__ = ["Run", "evaluate_batches", "metric_values", "train_epoch"]

logger = logging.getLogger(__name__)

_SKIPS_LOGGED_EACH = 5


@dataclass
class Run:
    """The fixed parts of one ``fit`` call."""

    net: Any
    loss: Any
    trainer: Any
    metrics: List[Any]
    ctx: List[Context]
    params: List[Any]
    callbacks: List[Any]
    progress: Progress
    ignore_label: Optional[float] = None
    warned_mean_loss: bool = field(default=False)
    dist: Optional[DistributedRun] = None
    """The distributed run this worker belongs to; None when training alone."""


class LossTotals:
    """Running loss sums of an epoch, kept on the devices and read once at its end.

    Per-sample losses are kept (detached from the graph) and summed in chunks, so a
    batch costs no extra operator call. Each MXNet operator call costs a fixed
    dispatch time, which matters for small networks.
    """

    _CHUNK = 256
    """Arrays per device summed by one ``concat`` and ``sum``; bounds what is kept."""

    def __init__(self) -> None:
        self._pending: Dict[Context, List[NDArray]] = {}
        self._sums: List[NDArray] = []
        self.kept = 0

    def add(self, losses: Sequence[NDArray], loaded: LoadedBatch) -> None:
        """Add the per-sample losses of one batch; runs on the devices, reads nothing."""
        for loss, labels in zip(losses, loaded.labels):
            values = _per_sample(loss.detach(), int(labels.shape[0]))
            pending = self._pending.setdefault(values.context, [])
            pending.append(values)
            if len(pending) >= self._CHUNK:
                self._sums.append(nd.concat(*pending, dim=0).sum())
                pending.clear()
        self.kept += loaded.kept

    def total(self) -> float:
        """Return the sum of the per-sample losses (0 when nothing was added)."""
        for pending in self._pending.values():
            if pending:
                self._sums.append(nd.concat(*pending, dim=0).sum())
                pending.clear()
        if not self._sums:
            return 0.0
        ctx = self._sums[0].context
        # Every sum has shape (1,): MXNet's full reduction keeps one dimension.
        sums = [s.as_in_context(ctx) for s in self._sums]
        total = nd.add_n(*sums) if len(sums) > 1 else sums[0]
        return float(total.asscalar())

    def mean(self) -> float:
        """Return the mean loss per counted sample (NaN when nothing was counted)."""
        return self.total() / self.kept if self.kept else float("nan")


def global_mean_loss(totals: LossTotals, metrics: Sequence[Any],
                     dist: Optional[DistributedRun]) -> float:
    """Return the mean loss of the epoch, over all workers when ``dist`` is given.

    With ``dist``, the loss, the sample count and the totals of ``metrics`` are summed
    over the workers, so that the metrics then report values over all their data.
    """
    if dist is None:
        return totals.mean()
    total, kept = dist.reduce_totals(totals.total(), totals.kept, metrics)
    return total / kept if kept else float("nan")


def _per_sample(loss: NDArray, rows: int) -> NDArray:
    """Return one loss value per sample, shape (rows,) or (1,) for a single value."""
    if loss.ndim == 1 and loss.shape[0] == rows:
        return loss
    if loss.size == 1:
        # A loss that is already a batch mean stands for `rows` equal losses.
        return loss.reshape((1,)) * rows
    return loss.reshape((loss.shape[0], -1)).mean(axis=1)


def train_epoch(run: Run, state: FitState, data: Iterable[Any]) -> Optional[StopTraining]:
    """Train one epoch; fill ``state.logs`` with its loss and metric values.

    Returns the StopTraining a batch hook asked for, if any.

    Raises
    ------
    LabelError
        From the loss, the metrics or the loader, naming the batch of this epoch,
        unless a callback's ``on_bad_labels`` returned ``'skip'``.
    """
    for metric in run.metrics:
        metric.reset()
    totals = LossTotals()
    loss_calls: List[int] = []
    metric_calls: List[int] = []
    stop: Optional[StopTraining] = None

    for index, batch in enumerate(data):
        state.batch = index
        state.global_batch += 1
        stop = _first_stop(run.callbacks, "on_batch_begin", state)
        if stop is not None:
            break
        loaded = load_batch(batch, run.ctx, index, run.ignore_label)
        try:
            losses, outputs = _forward(run, loaded, loss_calls, index)
        except LabelError as error:
            _skip_or_raise(run, state, error.with_batch(index))
            if run.dist is not None:
                # Every worker must take part in every update: this one adds zeros.
                zero_idle_gradients(run.params, run.ctx)
                run.trainer.step(run.dist.step_size(run.trainer, run.net, loaded.num_samples))
            continue

        _backward_and_step(run, state, loaded, losses)
        totals.add(losses, loaded)
        state.batch_losses, state.batch_samples = losses, loaded.kept
        try:
            _update_metrics(run.metrics, loaded.labels, outputs, metric_calls, index)
        except LabelError as error:
            _skip_or_raise(run, state, error.with_batch(index))

        run.progress.batch_end()
        stop = _first_stop(run.callbacks, "on_batch_end", state)
        if stop is not None:
            break

    flush_lazy_checks(run.loss, run.metrics, loss_calls, metric_calls)
    mean_loss = global_mean_loss(totals, run.metrics, run.dist)
    state.logs = {"loss": mean_loss, **metric_values(run.metrics)}
    return stop


def evaluate_batches(net: Any, data: Iterable[Any], ctx: List[Context], metrics: List[Any],
                     *, loss: Any = None, ignore_label: Optional[float] = None,
                     prefix: str = "", dist: Optional[DistributedRun] = None) -> Dict[str, float]:
    """Run ``net`` over ``data`` in predict mode and return the metric values.

    With ``loss``, the mean loss per counted sample is returned under
    ``prefix + 'loss'``. With ``dist``, ``data`` is this worker's share, and the values
    cover the data of all workers.

    Raises
    ------
    LabelError
        From the loss or the metrics, naming the batch.
    """
    for metric in metrics:
        metric.reset()
    totals = LossTotals()
    loss_calls: List[int] = []
    metric_calls: List[int] = []

    for index, batch in enumerate(data):
        loaded = load_batch(batch, ctx, index, ignore_label)
        try:
            outputs = [net(x) for x in loaded.data]
            if loss is not None:
                losses = [loss(out, y) for out, y in zip(outputs, loaded.labels)]
                loss_calls.extend([index] * len(losses))
                totals.add(losses, loaded)
            _update_metrics(metrics, loaded.labels, outputs, metric_calls, index)
        except LabelError as error:
            raise error.with_batch(index) from None

    flush_lazy_checks(loss, metrics, loss_calls, metric_calls)
    mean_loss = global_mean_loss(totals, metrics, dist)
    values = {prefix + name: value for name, value in metric_values(metrics).items()}
    if loss is not None:
        values = {prefix + "loss": mean_loss, **values}
    return values


def metric_values(metrics: Sequence[Any]) -> Dict[str, float]:
    """Return each metric's current value by name (composite metrics expanded)."""
    values: Dict[str, float] = {}
    for metric in metrics:
        for name, value in metric.get_name_value():
            values[str(name)] = float(value)
    return values


def flush_lazy_checks(loss: Any, metrics: Sequence[Any], loss_calls: List[int],
                      metric_calls: List[int]) -> None:
    """Read the pending lazy label checks; re-raise their error with the epoch's batch.

    The loss counts one call per device and the metrics one per update, so their
    call indices are mapped back to batch indices.
    """
    components = [(loss, loss_calls)] + [(metric, metric_calls) for metric in metrics]
    for component, calls in components:
        flush = getattr(component, "flush", None)
        if flush is None:
            continue
        try:
            flush()
        except LabelError as error:
            raise _relabel(error, calls) from None


def _relabel(error: LabelError, calls: List[int]) -> LabelError:
    if error.batch is None or not 0 <= error.batch < len(calls):
        return error
    return error.with_batch(calls[error.batch])


def _forward(run: Run, loaded: LoadedBatch, loss_calls: List[int],
             index: int) -> tuple[List[NDArray], List[NDArray]]:
    with autograd.record():
        outputs = [run.net(x) for x in loaded.data]
        losses = []
        for out, labels in zip(outputs, loaded.labels):
            loss_calls.append(index)
            losses.append(run.loss(out, labels))
    return losses, outputs


def _backward_and_step(run: Run, state: FitState, loaded: LoadedBatch,
                       losses: List[NDArray]) -> None:
    autograd.backward(losses)
    zero_idle_gradients(run.params, run.ctx[len(loaded.ctx):])
    if run.dist is not None:
        # Workers step on every batch, even one whose labels are all ignore_label,
        # because each update waits for all of them; see DistributedRun.step_size.
        batch_size = run.dist.step_size(run.trainer, run.net, loaded.num_samples)
        if isinstance(run.trainer, Trainer):
            run.trainer.step(batch_size, loss=losses,
                             batch=f"{state.batch} of epoch {state.epoch}",
                             data=loaded.data, label=loaded.labels)
        else:
            run.trainer.step(batch_size)
        return
    if loaded.kept == 0:
        logger.debug("batch %d of epoch %d: every label is ignore_label, no update",
                     state.batch, state.epoch)
        return
    if isinstance(run.trainer, Trainer):
        run.trainer.step(loaded.kept, loss=losses, batch=f"{state.batch} of epoch {state.epoch}",
                         data=loaded.data, label=loaded.labels)
        return
    _warn_if_mean_loss(run, losses, loaded)
    run.trainer.step(loaded.kept)


def _warn_if_mean_loss(run: Run, losses: List[NDArray], loaded: LoadedBatch) -> None:
    averaged = [int(loss.size) == 1 and int(labels.shape[0]) > 1
                for loss, labels in zip(losses, loaded.labels)]
    if run.warned_mean_loss or not any(averaged):
        return
    run.warned_mean_loss = True
    warnings.warn(
        f"the loss returns one value per device, but fit divides the gradient by the "
        f"{loaded.kept} samples of the batch, so a batch-mean loss is normalized twice. Return "
        "one loss per sample (the Gluon losses do).",
        LossReductionWarning,
        stacklevel=5,
    )


def _update_metrics(metrics: Sequence[Any], labels: List[NDArray], outputs: List[NDArray],
                    metric_calls: List[int], index: int) -> None:
    if not metrics:
        return
    metric_calls.append(index)
    for metric in metrics:
        metric.update(labels, outputs)


def _skip_or_raise(run: Run, state: FitState, error: LabelError) -> None:
    for callback in run.callbacks:
        decision = callback.on_bad_labels(state, error)
        if decision is None:
            continue
        if decision != "skip":
            raise ValueError(f"{type(callback).__name__}.on_bad_labels returned {decision!r}; "
                             "expected None or 'skip'")
        state.skipped_batches += 1
        if state.skipped_batches <= _SKIPS_LOGGED_EACH or state.skipped_batches % 100 == 0:
            logger.warning("skipped batch %d of epoch %d on request of %s (%d skipped so "
                           "far): %s", state.batch, state.epoch, type(callback).__name__,
                           state.skipped_batches, error)
        return
    raise error


def _first_stop(callbacks: Sequence[Any], hook: str, state: FitState) -> Optional[StopTraining]:
    stop: Optional[StopTraining] = None
    for callback in callbacks:
        directive = getattr(callback, hook)(state)
        if isinstance(directive, StopTraining) and stop is None:
            stop = directive
    return stop
