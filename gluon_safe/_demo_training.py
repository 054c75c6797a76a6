"""Data preparation and the hand-written Gluon training loop behind ``gluon-safe demo``.

The loop is written the way a typical Gluon script writes it (``autograd.record``,
``loss.backward``, ``Trainer.step``, a metric updated per batch), so that swapping
MXNet's loss and metric for gluon_safe's shows exactly what a user would see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ._compat import autograd, gluon, mx, nd
from ._report import format_epoch_line, metric_label
from .datasets import WineData

BATCH_SIZE = 16
LEARNING_RATE = 0.005
HIDDEN_UNITS = 64
TEST_FRACTION = 0.25


@dataclass(frozen=True)
class WineSplit:
    """A stratified train/test split of the Wine data, features min-max scaled.

    The scaling uses the minimum and maximum of the training features only, so test
    features may fall slightly outside [0, 1]. Classes keep their stored values 1..3.
    """

    train_features: np.ndarray[Any, np.dtype[np.float32]]
    train_classes: np.ndarray[Any, np.dtype[np.int64]]
    test_features: np.ndarray[Any, np.dtype[np.float32]]
    test_classes: np.ndarray[Any, np.dtype[np.int64]]
    train_rows: np.ndarray[Any, np.dtype[np.int64]]
    """Row numbers of the training samples in the full data set, ascending."""

    test_rows: np.ndarray[Any, np.dtype[np.int64]]
    """Row numbers of the test samples in the full data set, ascending."""


@dataclass(frozen=True)
class EpochResult:
    """Statistics of one training epoch."""

    epoch: int
    elapsed: float
    """Wall-clock seconds of the epoch, training and test evaluation together."""

    loss: float
    """Mean training loss per sample."""

    train_accuracy: float
    """Accuracy over the epoch's training batches, as the metric reported it."""

    test_accuracy: float

    def line(self) -> str:
        """Return the epoch line, e.g. ``Epoch: 0, ela: 0.1 sec, Loss: 0.828530, ...``."""
        metrics = {
            metric_label("Train", "accuracy"): self.train_accuracy,
            metric_label("Test", "accuracy"): self.test_accuracy,
        }
        return format_epoch_line(self.epoch, self.elapsed, self.loss, metrics)


@dataclass(frozen=True)
class TrainedRun:
    """A trained network, its epoch history and its outputs on the test set."""

    net: Any
    history: tuple[EpochResult, ...]
    test_outputs: Any
    """Network outputs (scores) on the test features after the last epoch, an NDArray (N, 3)."""

    test_predictions: np.ndarray[Any, np.dtype[np.int64]]
    """Index of the highest-scoring output per test sample, shape (N,)."""


def split_wine(data: WineData, *, seed: int, test_fraction: float = TEST_FRACTION) -> WineSplit:
    """Split the Wine data by class, holding out ``test_fraction`` of each class.

    Each class contributes ``round(test_fraction * count)`` randomly chosen rows to the
    test set, so both sets keep the class proportions. Rows stay in file order.
    """
    rng = np.random.RandomState(seed)
    test_rows: list[int] = []
    for value in np.unique(data.classes):
        rows = np.flatnonzero(data.classes == value)
        rng.shuffle(rows)
        test_rows.extend(rows[: round(test_fraction * len(rows))].tolist())

    is_test = np.zeros(len(data.classes), dtype=bool)
    is_test[test_rows] = True
    train_features = data.features[~is_test]
    low = train_features.min(axis=0)
    span = train_features.max(axis=0) - low

    def scale(features: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
        scaled: np.ndarray[Any, np.dtype[np.float32]] = ((features - low) / span).astype(
            np.float32
        )
        return scaled

    return WineSplit(
        train_features=scale(train_features),
        train_classes=data.classes[~is_test],
        test_features=scale(data.features[is_test]),
        test_classes=data.classes[is_test],
        train_rows=np.flatnonzero(~is_test).astype(np.int64),
        test_rows=np.flatnonzero(is_test).astype(np.int64),
    )


def build_network(num_outputs: int) -> Any:
    """Build and initialise Dense(64, relu) - Dense(64, relu) - Dense(num_outputs) on CPU."""
    net = gluon.nn.Sequential()
    net.add(
        gluon.nn.Dense(HIDDEN_UNITS, activation="relu"),
        gluon.nn.Dense(HIDDEN_UNITS, activation="relu"),
        gluon.nn.Dense(num_outputs),
    )
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    return net


def train_network(
    split: WineSplit,
    train_labels: np.ndarray[Any, Any],
    test_labels: np.ndarray[Any, Any],
    *,
    loss_fn: Any,
    make_metric: Callable[[], Any],
    epochs: int,
    seed: int,
    num_outputs: int = 3,
    on_epoch: Optional[Callable[[EpochResult], None]] = None,
) -> TrainedRun:
    """Train a fresh network with a plain Gluon loop and return it with its history.

    ``mx.random`` is reseeded with ``seed`` before the weights are initialised and the
    batch order is drawn from ``numpy.random.RandomState(seed)``, so equal arguments give
    equal numbers. ``make_metric`` builds a new accuracy metric for each epoch's training
    batches and for each test evaluation. Errors from ``loss_fn`` or the metric propagate.
    """
    mx.random.seed(seed)
    net = build_network(num_outputs)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": LEARNING_RATE})
    batch_order = np.random.RandomState(seed)
    test_features = nd.array(split.test_features)

    history: list[EpochResult] = []
    test_outputs: Any = None
    for epoch in range(epochs):
        start = time.perf_counter()
        order = batch_order.permutation(len(train_labels))
        loss, train_accuracy = _train_epoch(
            net, trainer, loss_fn, make_metric(), split.train_features, train_labels, order
        )
        test_outputs = net(test_features)
        test_accuracy = evaluate_accuracy(make_metric(), test_outputs, test_labels)

        result = EpochResult(
            epoch, time.perf_counter() - start, loss, train_accuracy, test_accuracy
        )
        history.append(result)
        if on_epoch is not None:
            on_epoch(result)

    predictions = test_outputs.argmax(axis=1).asnumpy().astype(np.int64)
    return TrainedRun(net, tuple(history), test_outputs, predictions)


def fit_network(
    split: WineSplit,
    train_labels: np.ndarray[Any, Any],
    test_labels: np.ndarray[Any, Any],
    *,
    loss_fn: Any,
    epochs: int,
    seed: int,
    num_outputs: int = 3,
    on_epoch: Optional[Callable[[EpochResult], None]] = None,
) -> TrainedRun:
    """Train a fresh network with :func:`gluon_safe.fit` and return it with its history.

    The same network, optimizer and batch size as :func:`train_network`; ``fit`` owns the
    loop, the devices and the seeding, so equal arguments give equal numbers.
    """
    from .training import Callback, fit

    class _EpochResults(Callback):
        """Turn each finished epoch of ``fit`` into an :class:`EpochResult`."""

        def __init__(self) -> None:
            self.results: list[EpochResult] = []
            self._start = 0.0

        def on_epoch_begin(self, state: Any) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, state: Any) -> None:
            logs = state.logs
            result = EpochResult(
                state.epoch, time.perf_counter() - self._start, logs["loss"],
                logs["accuracy"], logs["val_accuracy"],
            )
            self.results.append(result)
            if on_epoch is not None:
                on_epoch(result)

    mx.random.seed(seed)
    net = build_network(num_outputs)
    train_set = gluon.data.ArrayDataset(split.train_features, train_labels)
    test_set = gluon.data.ArrayDataset(split.test_features, test_labels)
    results = _EpochResults()
    fit(
        net, gluon.data.DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True),
        loss=loss_fn, optimizer="adam", optimizer_params={"learning_rate": LEARNING_RATE},
        epochs=epochs, val_data=gluon.data.DataLoader(test_set, batch_size=len(test_set)),
        ctx=mx.cpu(), seed=seed, verbose=False, callbacks=[results],
    )

    test_outputs = net(nd.array(split.test_features))
    predictions = test_outputs.argmax(axis=1).asnumpy().astype(np.int64)
    return TrainedRun(net, tuple(results.results), test_outputs, predictions)


def _train_epoch(
    net: Any,
    trainer: Any,
    loss_fn: Any,
    metric: Any,
    features: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    order: np.ndarray[Any, Any],
) -> tuple[float, float]:
    """Run one pass over the training data; return the mean loss and the accuracy."""
    loss_sum = nd.zeros((1,))
    for begin in range(0, len(order), BATCH_SIZE):
        rows = order[begin:begin + BATCH_SIZE]
        data = nd.array(features[rows])
        label = nd.array(labels[rows])
        with autograd.record():
            output = net(data)
            loss = loss_fn(output, label)
        loss.backward()
        trainer.step(len(rows))

        loss_sum += loss.sum()
        metric.update([label], [output])
    return float(loss_sum.asscalar()) / len(order), float(metric.get()[1])


def evaluate_accuracy(metric: Any, preds: Any, labels: Any) -> float:
    """Update ``metric`` with one batch and return its value.

    ``preds`` are scores of shape (N, C) or class indices of shape (N,). ``labels`` have
    shape (N,). Both may be NDArrays or numpy arrays.
    """
    metric.update([_as_ndarray(labels)], [_as_ndarray(preds)])
    return float(metric.get()[1])


def _as_ndarray(values: Any) -> Any:
    if isinstance(values, mx.nd.NDArray):
        return values
    return nd.array(np.asarray(values, dtype=np.float32))
