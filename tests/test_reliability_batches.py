"""Reliability: batches that do not divide evenly over the devices.

MXNet 1.9.1's ``split_and_load`` raises for an uneven split unless ``even_split=False``,
and ``gluon.contrib.estimator.Estimator`` calls it with the default. gluon_safe splits
as ``even_split=False`` does and normalises losses, gradients and metrics by the true
number of samples. The CPU contexts ``cpu(0)``, ``cpu(1)``, ... stand in for devices.
"""

from __future__ import annotations

import numpy as np
import pytest

from gluon_safe import DeviceDataLoader, SafeAccuracy, fit, split_batch
from gluon_safe._compat import autograd, gluon, mx, nd

UNEVEN = "batch that does not divide over the devices"
LAST_BATCH = "short last batch in Estimator.fit"

SPLITS = [(256, 6), (38, 8), (31, 8)]
SPLIT_IDS = [f"{n}_over_{d}" for n, d in SPLITS]

pytestmark = pytest.mark.timeout(120)


def cpus(count: int) -> list:
    return [mx.cpu(i) for i in range(count)]


def classifier(seed: int = 0) -> gluon.nn.HybridSequential:
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(5, in_units=4, activation="tanh"), gluon.nn.Dense(3, in_units=5))
    net.initialize(mx.init.Uniform(0.5), ctx=mx.cpu(0))
    rng = np.random.RandomState(seed)
    for param in net.collect_params().values():
        param.set_data(nd.array(rng.uniform(-0.5, 0.5, param.shape)))
    return net


def dataset(num_samples: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    features = rng.randn(num_samples, 4).astype(np.float32)
    labels = rng.randint(0, 3, num_samples).astype(np.float32)
    return features, labels


def weights(net) -> list[np.ndarray]:
    return [param.data(mx.cpu(0)).asnumpy() for param in net.collect_params().values()]


def plain_step(net, features: np.ndarray, labels: np.ndarray, lr: float) -> np.ndarray:
    """One SGD step on one device, gradient divided by the batch size; return the losses."""
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    with autograd.record():
        losses = loss_fn(net(nd.array(features)), nd.array(labels))
    losses.backward()
    trainer.step(len(labels))
    return losses.asnumpy()


# --- uneven splits ---------------------------------------------------------------------------

@pytest.mark.reliability(UNEVEN, role="mxnet")
@pytest.mark.parametrize(("num_samples", "num_devices"), SPLITS, ids=SPLIT_IDS)
def test_mxnet_even_split_raises(num_samples, num_devices):
    batch = nd.arange(num_samples)
    with pytest.raises(ValueError, match="cannot be evenly split"):
        gluon.utils.split_and_load(batch, cpus(num_devices))
    parts = gluon.utils.split_and_load(batch, cpus(num_devices), even_split=False)
    sizes = [part.shape[0] for part in parts]
    assert sum(sizes) == num_samples
    assert max(sizes) - min(sizes) == 1


@pytest.mark.reliability(
    UNEVEN,
    input="256 samples over 6 devices, 38 over 8, 31 over 8",
    mxnet="split_and_load raises with even_split=True (the default); even_split=False "
          "balances the slices",
    gluon_safe="the same balance as even_split=False; the loss, the update and the metric "
               "use the true total",
)
@pytest.mark.parametrize(("num_samples", "num_devices"), SPLITS, ids=SPLIT_IDS)
def test_split_batch_balances_like_mxnet(num_samples, num_devices):
    batch = nd.arange(num_samples)
    expected = gluon.utils.split_and_load(batch, cpus(num_devices), even_split=False)
    parts, total = split_batch(batch, cpus(num_devices))
    assert total == num_samples
    assert [p.shape for p in parts] == [p.shape for p in expected]
    assert [p.context for p in parts] == [p.context for p in expected]
    for part, reference in zip(parts, expected):
        np.testing.assert_array_equal(part.asnumpy(), reference.asnumpy())


@pytest.mark.reliability(UNEVEN)
@pytest.mark.parametrize(("num_samples", "num_devices"), SPLITS, ids=SPLIT_IDS)
def test_loader_balances_like_mxnet(num_samples, num_devices):
    features, labels = dataset(num_samples)
    loader = DeviceDataLoader(gluon.data.ArrayDataset(features, labels),
                              batch_size=num_samples, ctx=cpus(num_devices), device_prefetch=0)
    (batch,) = list(loader)
    expected = gluon.utils.split_and_load(nd.array(labels), cpus(num_devices), even_split=False)
    assert batch.num_samples == num_samples
    assert [y.shape for y in batch.label] == [y.shape for y in expected]
    np.testing.assert_array_equal(np.concatenate([y.asnumpy() for y in batch.label]), labels)


@pytest.mark.reliability(UNEVEN)
@pytest.mark.parametrize(("num_samples", "num_devices"), SPLITS, ids=SPLIT_IDS)
def test_fit_uneven_split_true_total(num_samples, num_devices):
    features, labels = dataset(num_samples)
    lr = 0.5
    reference = classifier()
    initial_preds = reference(nd.array(features)).asnumpy()
    plain_losses = plain_step(reference, features, labels, lr)

    net = classifier()
    metric = SafeAccuracy()
    history = fit(net, [(nd.array(features), nd.array(labels))],
                  loss=gluon.loss.SoftmaxCrossEntropyLoss(), metrics=metric, optimizer="sgd",
                  optimizer_params={"learning_rate": lr}, epochs=1, ctx=cpus(num_devices),
                  verbose=False)

    assert metric.num_inst == num_samples
    # fit updates the metrics with the outputs of the forward pass, before the step.
    expected_accuracy = float((initial_preds.argmax(axis=1) == labels).mean())
    assert history["accuracy"] == [pytest.approx(expected_accuracy)]
    assert history["loss"][0] == pytest.approx(float(plain_losses.mean()), rel=1e-6)
    for value, expected in zip(weights(net), weights(reference)):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)


# --- short last batch in Estimator.fit -------------------------------------------------------

def eleven_samples() -> gluon.data.DataLoader:
    features, labels = dataset(11, seed=2)
    return gluon.data.DataLoader(gluon.data.ArrayDataset(features, labels), batch_size=4)


@pytest.mark.reliability(LAST_BATCH, role="mxnet")
def test_mxnet_estimator_short_last_batch():
    estimator = pytest.importorskip("mxnet.gluon.contrib.estimator")
    net = classifier()
    net.collect_params().reset_ctx(cpus(2))
    est = estimator.Estimator(
        net, loss=gluon.loss.SoftmaxCrossEntropyLoss(), train_metrics=mx.metric.Accuracy(),
        trainer=gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}),
        context=cpus(2))
    est.logger.disabled = True
    with pytest.raises(ValueError, match=r"shape \(3, 4\) cannot be evenly split into 2 slices"):
        est.fit(eleven_samples(), epochs=1)


@pytest.mark.reliability(
    LAST_BATCH,
    input="11 samples, batch size 4, 2 devices",
    mxnet="Estimator.fit raises ValueError on the 3-sample last batch",
    gluon_safe="fit completes the epoch and counts all 11 samples",
)
def test_fit_counts_short_last_batch():
    features, labels = dataset(11, seed=2)
    reference = classifier()
    initial_preds = reference(nd.array(features)).asnumpy()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    initial_losses = loss_fn(nd.array(initial_preds), nd.array(labels)).asnumpy()

    metric = SafeAccuracy()
    net = classifier()
    history = fit(net, eleven_samples(), loss=gluon.loss.SoftmaxCrossEntropyLoss(),
                  metrics=metric, optimizer="sgd", optimizer_params={"learning_rate": 0.0},
                  epochs=1, ctx=cpus(2), verbose=False)
    assert metric.num_inst == 11
    expected_accuracy = float((initial_preds.argmax(axis=1) == labels).mean())
    assert history["accuracy"] == [pytest.approx(expected_accuracy)]
    assert history["loss"][0] == pytest.approx(float(initial_losses.mean()), rel=1e-6)


@pytest.mark.reliability(LAST_BATCH)
def test_fit_short_batch_matches_one_device():
    features, labels = dataset(11, seed=2)
    lr = 0.3
    reference = classifier()
    for start in range(0, 11, 4):
        plain_step(reference, features[start:start + 4], labels[start:start + 4], lr)

    net = classifier()
    fit(net, eleven_samples(), loss=gluon.loss.SoftmaxCrossEntropyLoss(), optimizer="sgd",
        optimizer_params={"learning_rate": lr}, epochs=1, ctx=cpus(2), verbose=False)
    for value, expected in zip(weights(net), weights(reference)):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.reliability(LAST_BATCH)
def test_fit_batch_smaller_than_devices():
    # 3 samples over 4 devices: the 4th device gets no data and a zero gradient.
    features, labels = dataset(3, seed=3)
    lr = 0.3
    reference = classifier()
    plain_step(reference, features, labels, lr)
    net = classifier()
    metric = SafeAccuracy()
    fit(net, [(nd.array(features), nd.array(labels))], loss=gluon.loss.SoftmaxCrossEntropyLoss(),
        metrics=metric, optimizer="sgd", optimizer_params={"learning_rate": lr}, epochs=1,
        ctx=cpus(4), verbose=False)
    assert metric.num_inst == 3
    for value, expected in zip(weights(net), weights(reference)):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
