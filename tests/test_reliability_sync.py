"""Reliability: lazy checking reads nothing back from the devices during an epoch.

MXNet runs operators asynchronously, and ``asnumpy``, ``asscalar``, ``wait_to_read`` and
``mx.nd.waitall`` block until the engine has computed what they read. These tests wrap
those four calls with counters that still call the real functions (instrumentation, not
mocks), and train with ``check='lazy'`` losses and metrics. Every read must fall in the
flush window at the end of an epoch, and their number must not grow with the number of
batches.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from gluon_safe import (
    Callback,
    DeviceDataLoader,
    MultiLabelAccuracy,
    SafeAccuracy,
    SafeSigmoidBCELoss,
    SafeSoftmaxCELoss,
    fit,
)
from gluon_safe._compat import NDArray, autograd, gluon, mx, nd

ROW = "host reads during an epoch"

pytestmark = pytest.mark.timeout(120)

READ_METHODS = ("asnumpy", "asscalar", "wait_to_read")


class Timeline(Callback):
    """Append each hook to the shared event list, between the reads it records."""

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events

    def on_epoch_begin(self, state):
        self.events.append(("epoch_begin", state.epoch))

    def on_batch_begin(self, state):
        self.events.append(("batch_begin", state.batch))

    def on_batch_end(self, state):
        self.events.append(("batch_end", state.batch))

    def on_epoch_end(self, state):
        self.events.append(("epoch_end", state.epoch))


@pytest.fixture
def events(monkeypatch) -> list[tuple[str, Any]]:
    """Record every host read as ``('read', name)``, calling the real function."""
    recorded: list[tuple[str, Any]] = []

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            recorded.append(("read", name))
            return real(*args, **kwargs)
        return wrapper

    for name in READ_METHODS:
        monkeypatch.setattr(NDArray, name, counting(name, getattr(NDArray, name)))
    waitall = counting("waitall", mx.nd.waitall)
    monkeypatch.setattr(mx.nd, "waitall", waitall)
    monkeypatch.setattr(mx.ndarray.ndarray, "waitall", waitall)
    return recorded


def epoch_windows(events: list[tuple[str, Any]]) -> list[dict[str, int]]:
    """Count the reads of each epoch: during its batches, and after its last batch."""
    windows: list[dict[str, int]] = []
    current: dict[str, int] = {}
    after_last_batch = False
    for kind, _ in events:
        if kind == "epoch_begin":
            current = {"batches": 0, "during": 0, "flush": 0}
            after_last_batch = False
        elif kind == "batch_begin":
            # Reads before this batch but after the previous one happened during the epoch.
            current["during"] += current.pop("pending", 0)
            current["batches"] += 1
            after_last_batch = False
        elif kind == "batch_end":
            after_last_batch = True
        elif kind == "read" and current:
            if after_last_batch:
                current["pending"] = current.get("pending", 0) + 1
            else:
                current["during"] += 1
        elif kind == "epoch_end":
            current["flush"] = current.pop("pending", 0)
            windows.append(current)
            current = {}
    return windows


def dataset(num_samples: int, multilabel: bool) -> gluon.data.ArrayDataset:
    rng = np.random.RandomState(0)
    features = rng.randn(num_samples, 6).astype(np.float32)
    if multilabel:
        labels = (rng.rand(num_samples, 3) < 0.4).astype(np.float32)
    else:
        labels = rng.randint(0, 3, num_samples).astype(np.float32)
    return gluon.data.ArrayDataset(features, labels)


def lazy_parts(multilabel: bool) -> tuple[Any, list[Any]]:
    if multilabel:
        return SafeSigmoidBCELoss(check="lazy"), [MultiLabelAccuracy(from_logits=True,
                                                                     check="lazy")]
    return SafeSoftmaxCELoss(check="lazy"), [SafeAccuracy(check="lazy")]


def train_lazy(events, *, num_batches: int, ctx: list, source: str, multilabel: bool) -> None:
    data = dataset(8 * num_batches, multilabel)
    if source == "loader":
        train_data: Any = DeviceDataLoader(data, batch_size=8, ctx=ctx, device_prefetch=0)
    else:
        train_data = [(nd.array(data[i:i + 8][0]), nd.array(data[i:i + 8][1]))
                      for i in range(0, len(data), 8)]
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, in_units=6, activation="relu"), gluon.nn.Dense(3, in_units=8))
    net.initialize(mx.init.Uniform(0.3), ctx=ctx)
    net.hybridize()
    loss, metrics = lazy_parts(multilabel)
    events.clear()
    fit(net, train_data, loss=loss, metrics=metrics, epochs=2, ctx=ctx, check="lazy",
        callbacks=[Timeline(events)], verbose=False)


@pytest.mark.reliability(
    ROW,
    input="two epochs of fit with check='lazy' losses and metrics, 4 and then 8 batches, "
          "one or two devices, a list of batches or DeviceDataLoader",
    mxnet="Accuracy.update copies labels and predictions to the host for every batch "
          "(2 reads per batch and device)",
    gluon_safe="no read while the batches run; a fixed number at each epoch's end, the "
               "same for 4 and 8 batches",
)
@pytest.mark.parametrize("multilabel", [False, True], ids=["softmax", "multilabel"])
@pytest.mark.parametrize("source", ["list", "loader"])
@pytest.mark.parametrize("num_devices", [1, 2])
def test_fit_lazy_reads_only_at_epoch_end(events, multilabel, source, num_devices):
    ctx = [mx.cpu(i) for i in range(num_devices)]
    flush_counts = []
    for num_batches in (4, 8):
        train_lazy(events, num_batches=num_batches, ctx=ctx, source=source,
                   multilabel=multilabel)
        windows = epoch_windows(events)
        assert [w["batches"] for w in windows] == [num_batches, num_batches]
        assert [w["during"] for w in windows] == [0, 0]
        assert all(w["flush"] > 0 for w in windows)
        flush_counts.append([w["flush"] for w in windows])
    assert flush_counts[0] == flush_counts[1]


@pytest.mark.reliability(ROW)
def test_fit_lazy_reads_stay_flat(events):
    ctx = [mx.cpu(0), mx.cpu(1)]
    totals = []
    for num_batches in (2, 16):
        train_lazy(events, num_batches=num_batches, ctx=ctx, source="list", multilabel=False)
        totals.append(sum(1 for kind, _ in events if kind == "read"))
    assert totals[0] == totals[1]


@pytest.mark.reliability(ROW, role="mxnet")
@pytest.mark.parametrize("num_devices", [1, 2])
def test_mxnet_accuracy_reads_every_batch(events, num_devices):
    ctx = [mx.cpu(i) for i in range(num_devices)]
    data = dataset(32, multilabel=False)
    net = gluon.nn.Dense(3, in_units=6)
    net.initialize(mx.init.Uniform(0.3), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    metric = mx.metric.Accuracy()
    num_batches = 4
    events.clear()
    for i in range(num_batches):
        features, labels = data[i * 8:(i + 1) * 8]
        xs = gluon.utils.split_and_load(nd.array(features), ctx)
        ys = gluon.utils.split_and_load(nd.array(labels), ctx)
        with autograd.record():
            outputs = [net(x) for x in xs]
            losses = [loss_fn(out, y) for out, y in zip(outputs, ys)]
        autograd.backward(losses)
        trainer.step(8)
        metric.update(ys, outputs)
    reads = [name for kind, name in events if kind == "read"]
    assert reads.count("asnumpy") == 2 * num_batches * num_devices
