"""Shared set-up of the training tests: the Wine data, small networks, a recording callback."""

from __future__ import annotations

import csv
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from gluon_safe._compat import gluon, mx, nd
from gluon_safe.training import Callback, FitState

WINE_CSV = "/work/shared/data/wine.csv"
NUM_FEATURES = 13
NUM_CLASSES = 3


def wine(n: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Return standardized Wine features (float32) and 0-based classes (float32)."""
    with open(WINE_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    table = np.asarray(rows, dtype=np.float64)
    features = table[:, 1:]
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    labels = table[:, 0] - 1
    if n is not None:
        # Take the classes in turn (0, 1, 2, 0, 1, 2, ...) so that any prefix contains all three.
        rank = np.zeros(len(labels), dtype=np.int64)
        for value in np.unique(labels):
            members = np.flatnonzero(labels == value)
            rank[members] = np.arange(len(members))
        order = np.lexsort((labels, rank))
        features, labels = features[order][:n], labels[order][:n]
    return features.astype(np.float32), labels.astype(np.float32)


def make_net(hidden: int = 8, dropout: float = 0.0) -> Any:
    """Return a small uninitialized classifier for the Wine data."""
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(gluon.nn.Dense(hidden, in_units=NUM_FEATURES, activation="relu"))
        if dropout:
            net.add(gluon.nn.Dropout(dropout))
        net.add(gluon.nn.Dense(NUM_CLASSES, in_units=hidden))
    return net


def init_fixed(net: Any, ctx: Sequence[Any], seed: int = 0) -> Dict[str, np.ndarray]:
    """Initialize ``net`` on ``ctx`` with values drawn from numpy; return them by name."""
    net.initialize(ctx=list(ctx))
    rng = np.random.RandomState(seed)
    values = {}
    for name, param in net.collect_params().items():
        value = rng.uniform(-0.5, 0.5, size=param.shape).astype(np.float32)
        param.set_data(nd.array(value))
        values[name.split("_", 1)[1]] = value
    return values


def params_of(net: Any) -> Dict[str, np.ndarray]:
    """Return the parameter values of ``net`` by name without the network prefix."""
    return {name.split("_", 1)[1]: param.data().asnumpy()
            for name, param in net.collect_params().items()}


def structural_params(net: Any) -> Dict[str, np.ndarray]:
    """Return the parameter values of ``net`` by structural name, such as ``'0.weight'``."""
    return {name: param.data().asnumpy()
            for name, param in net._collect_params_with_prefix().items()}


def batches(features: np.ndarray, labels: np.ndarray, batch_size: int) -> List[Tuple[Any, Any]]:
    """Split arrays into in-order (data, label) NDArray pairs on the CPU."""
    return [
        (nd.array(features[i:i + batch_size]), nd.array(labels[i:i + batch_size]))
        for i in range(0, len(labels), batch_size)
    ]


def loader(features: np.ndarray, labels: np.ndarray, batch_size: int,
           shuffle: bool = False) -> Any:
    """Return a Gluon DataLoader over the arrays."""
    dataset = gluon.data.ArrayDataset(features, labels)
    return gluon.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def plain_sgd_run(net: Any, pairs: Sequence[Tuple[Any, Any]], *, lr: float,
                  epochs: int = 1) -> None:
    """Train with a hand-written plain Gluon loop on one CPU: the oracle for fit."""
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    for _ in range(epochs):
        for data, label in pairs:
            with mx.autograd.record():
                loss = loss_fn(net(data), label)
            loss.backward()
            trainer.step(data.shape[0])


class Recorder(Callback):
    """Record every hook call as ``(hook, epoch, batch)``."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, int, int]] = []
        self.states: List[FitState] = []

    def _record(self, hook: str, state: FitState) -> None:
        self.calls.append((hook, state.epoch, state.batch))
        self.states.append(state)

    def on_train_begin(self, state: FitState) -> None:
        self._record("train_begin", state)

    def on_train_end(self, state: FitState) -> None:
        self._record("train_end", state)

    def on_epoch_begin(self, state: FitState) -> None:
        self._record("epoch_begin", state)

    def on_epoch_end(self, state: FitState) -> None:
        self._record("epoch_end", state)

    def on_batch_begin(self, state: FitState) -> None:
        self._record("batch_begin", state)

    def on_batch_end(self, state: FitState) -> None:
        self._record("batch_end", state)

    def hooks(self, name: str) -> List[Tuple[str, int, int]]:
        """Return the recorded calls of one hook."""
        return [call for call in self.calls if call[0] == name]
