"""Reliability: training faults that plain MXNet 1.9.1 reports obscurely or not at all.

Stale gradients, a NaN in one input value, and optimizer states of several devices saved
and restored. The CPU contexts ``cpu(0)``, ``cpu(1)``, ... stand in for devices.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gluon_safe import (
    Checkpoint,
    NonFiniteError,
    StaleGradientError,
    Trainer,
    fit,
    load_checkpoint,
)
from gluon_safe._compat import autograd, gluon, mx, nd

STALE = "parameters that get no gradient"
NO_BACKWARD = "step with no new backward()"
NAN_INPUT = "one NaN input value"
DEVICE_STATES = "optimizer states of two devices saved and loaded"

CPU2 = [mx.cpu(0), mx.cpu(1)]

pytestmark = pytest.mark.timeout(120)


class PartlyUsed(gluon.nn.HybridBlock):
    """A network whose ``unused`` head gets no gradient: forward never calls it."""

    def __init__(self) -> None:
        super().__init__(prefix="partlyused_")
        with self.name_scope():
            self.body = gluon.nn.Dense(3, in_units=4, prefix="body_")
            self.unused = gluon.nn.Dense(3, in_units=3, prefix="unused_")

    def hybrid_forward(self, F, x):
        return self.body(x)


def partly_used(ctx=None) -> PartlyUsed:
    net = PartlyUsed()
    net.initialize(mx.init.Uniform(0.5), ctx=ctx or mx.cpu(0))
    return net


def backward_once(net, ctx=None) -> None:
    contexts = ctx or [mx.cpu(0)]
    data = gluon.utils.split_and_load(nd.ones((4, 4)), contexts)
    labels = gluon.utils.split_and_load(nd.array([0, 1, 2, 0]), contexts)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        losses = [loss_fn(net(x), y) for x, y in zip(data, labels)]
    autograd.backward(losses)


def tanh_net(seed: int = 0) -> gluon.nn.HybridSequential:
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(6, in_units=5, activation="tanh"), gluon.nn.Dense(3, in_units=6))
    net.initialize(mx.init.Uniform(0.5), ctx=mx.cpu(0))
    rng = np.random.RandomState(seed)
    for param in net.collect_params().values():
        param.set_data(nd.array(rng.uniform(-0.5, 0.5, param.shape)))
    return net


def weights(net) -> list[np.ndarray]:
    return [param.data(param.list_ctx()[0]).asnumpy()
            for param in net.collect_params().values()]


def batches_with_nan(field: str = "data") -> list[tuple[nd.NDArray, nd.NDArray]]:
    """Return three batches of 4 samples, where batch 1 contains one NaN in its data or labels."""
    rng = np.random.RandomState(1)
    features = rng.randn(12, 5).astype(np.float32)
    labels = rng.randint(0, 3, 12).astype(np.float32)
    if field == "data":
        features[6, 2] = np.nan
    else:
        labels[6] = np.nan
    return [(nd.array(features[i:i + 4]), nd.array(labels[i:i + 4])) for i in range(0, 12, 4)]


# --- stale gradients -------------------------------------------------------------------------

@pytest.mark.reliability(STALE, role="mxnet")
def test_mxnet_stale_gradient_raises_user_warning():
    net = partly_used()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    backward_once(net)
    with pytest.raises(UserWarning, match="Gradient of Parameter `partlyused_unused_bias` on "
                                          r"context cpu\(0\) has not been updated by backward"):
        trainer.step(4)


@pytest.mark.reliability(
    STALE,
    input="a block whose parameters get no gradient in forward",
    mxnet="step raises a UserWarning (a warning class) naming one parameter",
    gluon_safe="StaleGradientError naming every stale parameter, grouped by block",
)
def test_trainer_names_stale_parameters_by_block():
    net = partly_used()
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    trainer._use_block_names(net)
    backward_once(net)
    with pytest.raises(StaleGradientError, match=r"2 of 4 trainable parameters received no "
                                                 r"gradient(.|\n)*block partlyused_unused "
                                                 r"\(Dense\): partlyused_unused_bias, "
                                                 "partlyused_unused_weight") as info:
        trainer.step(4)
    assert info.value.parameters == ("partlyused_unused_bias", "partlyused_unused_weight")
    assert info.value.no_backward is False
    assert not isinstance(info.value, Warning)


@pytest.mark.reliability(STALE)
def test_fit_unused_block_raises():
    net = partly_used()
    data = [(nd.ones((4, 4)), nd.array([0, 1, 2, 0]))]
    with pytest.raises(StaleGradientError, match=r"block partlyused_unused \(Dense\)"):
        fit(net, data, loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=1, ctx=mx.cpu(0),
            verbose=False)


@pytest.mark.reliability(STALE)
def test_trainer_frozen_block_is_not_stale():
    net = partly_used()
    net.unused.collect_params().setattr("grad_req", "null")
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    before = weights(net)
    backward_once(net)
    trainer.step(4)
    after = weights(net)
    assert trainer.num_steps == 1
    assert not np.array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[2], before[2])


@pytest.mark.reliability(NO_BACKWARD, role="mxnet")
def test_mxnet_second_kvstore_step_unnoticed():
    net = partly_used(CPU2)
    net.unused.collect_params().setattr("grad_req", "null")
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                            kvstore="device", update_on_kvstore=True)
    backward_once(net, CPU2)
    trainer.step(4)
    after_first = weights(net)
    trainer.step(4)
    # The same gradient is applied again, without any error.
    assert not np.array_equal(weights(net)[0], after_first[0])


@pytest.mark.reliability(
    NO_BACKWARD,
    input="step() twice after one backward(), on one device or inside the kvstore",
    mxnet="a UserWarning on one device; with update_on_kvstore=True the gradient is applied "
          "again silently",
    gluon_safe="StaleGradientError with no_backward=True saying that no backward() ran",
)
@pytest.mark.parametrize("on_kvstore", [False, True], ids=["trainer", "kvstore"])
def test_trainer_step_without_backward_raises(on_kvstore):
    ctx = CPU2 if on_kvstore else [mx.cpu(0)]
    net = partly_used(ctx)
    net.unused.collect_params().setattr("grad_req", "null")
    options = {"kvstore": "device", "update_on_kvstore": True} if on_kvstore else {}
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, **options)
    backward_once(net, ctx)
    trainer.step(4)
    after_first = weights(net)
    with pytest.raises(StaleGradientError, match=r"none of the 2 trainable parameters has a "
                                                 r"new gradient: no backward\(\) ran") as info:
        trainer.step(4)
    assert info.value.no_backward is True
    np.testing.assert_array_equal(weights(net)[0], after_first[0])


# --- one NaN input value -----------------------------------------------------------------------

@pytest.mark.reliability(NAN_INPUT, role="mxnet")
def test_mxnet_nan_input_spreads_to_weights():
    net = tanh_net()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.1, "clip_gradient": 1.0})
    data, labels = batches_with_nan()[1]
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        loss = loss_fn(net(data), labels)
    loss.backward()
    trainer.step(4)
    for value in weights(net):
        assert np.isnan(value).all()


@pytest.mark.reliability(
    NAN_INPUT,
    input="one NaN input value in batch 1 (tanh network, clip_gradient=1.0 in MXNet)",
    mxnet="every weight is NaN after one step; clip_gradient does not help",
    gluon_safe="Trainer(on_nonfinite='raise') raises NonFiniteError naming the batch and epoch "
               "and whether the data or the label held NaN; 'skip' skips that update",
)
def test_nonfinite_guard_names_batch_and_data():
    net = tanh_net()
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                      on_nonfinite="raise")
    data = batches_with_nan("data")
    with pytest.raises(NonFiniteError, match=r"batch 1 of epoch 0: the (loss|gradient) is NaN or "
                                             r"infinite, after 1 updates\. The batch's data "
                                             r"holds 1 NaN or infinite value, the first at "
                                             r"data\[0\]\[2, 2\]") as info:
        fit(net, data, loss=gluon.loss.SoftmaxCrossEntropyLoss(), trainer=trainer, epochs=1,
            ctx=mx.cpu(0), verbose=False)
    assert info.value.nonfinite_fields == ("data",)
    assert info.value.step == 1
    for value in weights(net):
        assert np.isfinite(value).all()


@pytest.mark.reliability(NAN_INPUT)
def test_nonfinite_guard_names_label():
    # Labels that are not class indices reach a regression loss unchecked.
    net = tanh_net()
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01},
                      on_nonfinite="raise")
    data = [(x, nd.stack(y, y, y, axis=1)) for x, y in batches_with_nan("label")]
    with pytest.raises(NonFiniteError, match=r"batch 1 of epoch 0: the loss is NaN .*The "
                                             r"batch's label holds 3 NaN or infinite values, "
                                             r"the first at label\[0\]\[2, 0\]") as info:
        fit(net, data, loss=gluon.loss.L2Loss(), trainer=trainer, epochs=1, ctx=mx.cpu(0),
            verbose=False)
    assert info.value.nonfinite_fields == ("label",)


@pytest.mark.reliability(NAN_INPUT)
def test_nonfinite_guard_finite_batch():
    # Finite inputs near the float32 maximum overflow in a linear layer.
    net = gluon.nn.Dense(3, in_units=5)
    net.initialize(mx.init.One(), ctx=mx.cpu(0))
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                      on_nonfinite="raise")
    features = np.full((4, 5), 3e38, dtype=np.float32)
    with pytest.raises(NonFiniteError, match=r"The batch's data and label are finite, so the "
                                             r"model itself produced the value\. Lower the "
                                             "learning rate") as info:
        fit(net, [(nd.array(features), nd.array([0, 1, 2, 0]))],
            loss=gluon.loss.SoftmaxCrossEntropyLoss(), trainer=trainer, epochs=1,
            ctx=mx.cpu(0), verbose=False)
    assert info.value.nonfinite_fields == ()


@pytest.mark.reliability(NAN_INPUT)
def test_nonfinite_guard_skips_bad_batch(caplog):
    net = tanh_net()
    reference = tanh_net()
    good = [batch for i, batch in enumerate(batches_with_nan("data")) if i != 1]
    fit(reference, good, loss=gluon.loss.SoftmaxCrossEntropyLoss(),
        trainer=Trainer(reference.collect_params(), "sgd", {"learning_rate": 0.1}), epochs=1,
        ctx=mx.cpu(0), metrics=[], verbose=False)

    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, on_nonfinite="skip")
    with caplog.at_level(logging.WARNING, logger="gluon_safe"):
        fit(net, batches_with_nan("data"), loss=gluon.loss.SoftmaxCrossEntropyLoss(),
            trainer=trainer, epochs=1, ctx=mx.cpu(0), metrics=[], verbose=False)
    assert trainer.skipped_steps == 1
    assert trainer.num_steps == 2
    assert "batch 1 of epoch 0: skipped the update" in caplog.text
    assert "The batch's data holds 1 NaN or infinite value" in caplog.text
    for value, expected in zip(weights(net), weights(reference)):
        np.testing.assert_array_equal(value, expected)


@pytest.mark.reliability(NAN_INPUT)
def test_nonfinite_guard_reads_batch_on_error(monkeypatch):
    net = tanh_net()
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                      on_nonfinite="raise")
    data, labels = batches_with_nan()[0]
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        loss = loss_fn(net(data), labels)
    loss.backward()
    reads = []
    original = nd.NDArray.asnumpy

    def counting(array):
        reads.append(array.shape)
        return original(array)

    monkeypatch.setattr(nd.NDArray, "asnumpy", counting)
    trainer.step(4, loss=loss, data=data, label=labels)
    # One read for the finite-ness verdict; the data and labels stay unread.
    assert len(reads) == 1


# --- optimizer states of two devices -------------------------------------------------------------

def adam_run(ctx, *, steps: int = 1):
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize(mx.init.One(), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1},
                            update_on_kvstore=False)
    for _ in range(steps):
        backward_once(net, ctx)
        trainer.step(4)
    return net, trainer


def state_contexts(trainer) -> list[set]:
    return [{state.context for states in updater.states.values() for state in states}
            for updater in trainer._updaters]


@pytest.mark.reliability(DEVICE_STATES, role="mxnet")
def test_mxnet_load_states_uses_device_0(tmp_path):
    _, trainer = adam_run(CPU2)
    assert state_contexts(trainer) == [{mx.cpu(0)}, {mx.cpu(1)}]
    path = str(tmp_path / "adam.states")
    trainer.save_states(path)

    net, restored = adam_run(CPU2, steps=0)
    restored.load_states(path)
    assert state_contexts(restored) == [{mx.cpu(0)}, {mx.cpu(0)}]
    backward_once(net, CPU2)
    restored.step(4)
    assert state_contexts(restored) == [{mx.cpu(0)}, {mx.cpu(1)}]


def wine_like(seed: int = 3) -> list[tuple[nd.NDArray, nd.NDArray]]:
    rng = np.random.RandomState(seed)
    features = rng.randn(16, 5).astype(np.float32)
    labels = rng.randint(0, 3, 16).astype(np.float32)
    return [(nd.array(features[i:i + 8]), nd.array(labels[i:i + 8])) for i in (0, 8)]


def adam_fit(ctx, directory=None, *, epochs: int, resume=None):
    net = tanh_net()
    net.collect_params().reset_ctx(ctx)
    trainer = Trainer(net.collect_params(), "adam", {"learning_rate": 0.05},
                      update_on_kvstore=False)
    callbacks = [Checkpoint(directory, keep_last=None)] if directory is not None else []
    fit(net, wine_like(), loss=gluon.loss.SoftmaxCrossEntropyLoss(), trainer=trainer,
        epochs=epochs, ctx=ctx, seed=4, callbacks=callbacks, resume_from=resume, verbose=False)
    return net, trainer


@pytest.mark.reliability(
    DEVICE_STATES,
    input="two devices, Adam, update_on_kvstore=False, states saved then loaded into a "
          "new Trainer",
    mxnet="the file holds device 0's states only; after load_states every device's state "
          "sits on device 0 until the next step",
    gluon_safe="checkpoints keep every device's states and restore each on its parameter's "
               "device; a changed device layout is logged",
)
def test_checkpoint_restores_states_per_device(tmp_path):
    uninterrupted, _ = adam_fit(CPU2, epochs=3)
    adam_fit(CPU2, tmp_path, epochs=2)
    assert len(load_checkpoint(tmp_path).manifest["files"]) == 3

    resumed, trainer = adam_fit(CPU2, tmp_path, epochs=3, resume=tmp_path)
    assert state_contexts(trainer) == [{mx.cpu(0)}, {mx.cpu(1)}]
    for value, expected in zip(weights(resumed), weights(uninterrupted)):
        np.testing.assert_array_equal(value, expected)


@pytest.mark.reliability(DEVICE_STATES)
def test_checkpoint_logs_layout_change(tmp_path, caplog):
    adam_fit(CPU2, tmp_path, epochs=1)
    moved = [mx.cpu(2), mx.cpu(3)]
    with caplog.at_level(logging.WARNING, logger="gluon_safe"):
        _, trainer = adam_fit(moved, tmp_path, epochs=2, resume=tmp_path)
    assert state_contexts(trainer) == [{mx.cpu(2)}, {mx.cpu(3)}]
    assert ("the optimizer states were saved on cpu(0), cpu(1) but this trainer runs on "
            "cpu(2), cpu(3)") in caplog.text


@pytest.mark.reliability(DEVICE_STATES)
def test_checkpoint_fewer_devices_copies_first(tmp_path, caplog):
    adam_fit(CPU2, tmp_path, epochs=1)
    with caplog.at_level(logging.WARNING, logger="gluon_safe"):
        _, trainer = adam_fit([mx.cpu(0)], tmp_path, epochs=2, resume=tmp_path)
    assert state_contexts(trainer) == [{mx.cpu(0)}]
    assert "the states of the first saved device are copied to every current device" \
        in caplog.text
