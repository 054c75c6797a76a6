"""Tests of gluon_safe.training.Trainer: MXNet parity, clipping, non-finite guards, stale errors."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
from _training_helpers import init_fixed, make_net, params_of, wine

from gluon_safe._compat import autograd, gluon, mx, nd
from gluon_safe.training import (
    LossReductionWarning,
    NonFiniteError,
    StaleGradientError,
    Trainer,
)

CPU2 = [mx.cpu(0), mx.cpu(1)]


def backward_on(net, ctx_list, features, labels, loss_fn=None):
    """Run forward and backward with one slice of the batch per device; return the losses."""
    loss_fn = loss_fn or gluon.loss.SoftmaxCrossEntropyLoss()
    slices = np.array_split(np.arange(len(labels)), len(ctx_list))
    losses = []
    with autograd.record():
        for ctx, rows in zip(ctx_list, slices):
            out = net(nd.array(features[rows], ctx=ctx))
            losses.append(loss_fn(out, nd.array(labels[rows], ctx=ctx)))
    autograd.backward(losses)
    return losses


def gradients(net):
    """Return the reduced gradient of each parameter, summed over its devices."""
    return {name.split("_", 1)[1]: sum(g.asnumpy() for g in p.list_grad())
            for name, p in net.collect_params().items()}


@pytest.fixture
def data():
    return wine(24)


@pytest.mark.parametrize("ctx_list", [[mx.cpu(0)], CPU2], ids=["one_cpu", "two_cpus"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_trainer_matches_gluon_trainer(data, ctx_list, optimizer):
    features, labels = data
    results = []
    for trainer_class in (gluon.Trainer, Trainer):
        net = make_net()
        init_fixed(net, ctx_list)
        trainer = trainer_class(net.collect_params(), optimizer, {"learning_rate": 0.1})
        for _ in range(3):
            backward_on(net, ctx_list, features, labels)
            trainer.step(len(labels))
        results.append(params_of(net))
    for name in results[0]:
        np.testing.assert_array_equal(results[1][name], results[0][name])


def test_trainer_clip_global_norm_matches_numpy(data):
    features, labels = data
    lr, max_norm = 0.5, 0.05
    net = make_net()
    before = init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": lr},
                      clip_global_norm=max_norm)
    backward_on(net, CPU2, features, labels)
    grads = {name: g / len(labels) for name, g in gradients(net).items()}
    trainer.step(len(labels))

    norm = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    assert norm > max_norm  # the test needs clipping to happen
    scale = max_norm / norm
    after = params_of(net)
    for name, grad in grads.items():
        np.testing.assert_allclose(after[name], before[name] - lr * scale * grad,
                                   rtol=1e-5, atol=1e-6)


def test_trainer_clip_global_norm_leaves_small_gradients(data):
    features, labels = data
    net = make_net()
    before = init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5},
                      clip_global_norm=1e6)
    backward_on(net, [mx.cpu(0)], features, labels)
    grads = {name: g / len(labels) for name, g in gradients(net).items()}
    trainer.step(len(labels))
    after = params_of(net)
    for name, grad in grads.items():
        np.testing.assert_allclose(after[name], before[name] - 0.5 * grad, rtol=1e-6, atol=1e-7)


def test_trainer_clip_global_norm_reads_nothing(data, monkeypatch):
    features, labels = data
    net = make_net()
    init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, clip_global_norm=0.1)
    backward_on(net, CPU2, features, labels)
    reads = count_host_reads(monkeypatch)
    trainer.step(len(labels))
    assert reads == {"asnumpy": 0, "asscalar": 0, "wait_to_read": 0}
    nd.waitall()


def count_host_reads(monkeypatch):
    """Wrap NDArray's blocking reads to count the calls while still running them."""
    counts = {"asnumpy": 0, "asscalar": 0, "wait_to_read": 0}
    for method in counts:
        original = getattr(nd.NDArray, method)

        def counting(self, *args, _original=original, _method=method, **kwargs):
            counts[_method] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(nd.NDArray, method, counting)
    return counts


def test_trainer_on_nonfinite_raise_names_batch(data):
    features, labels = data
    net = make_net()
    before = init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, on_nonfinite="raise")
    backward_on(net, [mx.cpu(0)], features, labels)
    losses = [nd.array([0.5, np.nan, 0.25])]
    with pytest.raises(NonFiniteError, match="batch 7 of epoch 2: the loss is NaN") as info:
        trainer.step(len(labels), loss=losses, batch="7 of epoch 2")
    assert info.value.source == "loss"
    assert info.value.step == 0
    assert isinstance(info.value, FloatingPointError)
    for name, value in params_of(net).items():
        np.testing.assert_array_equal(value, before[name])


def test_trainer_on_nonfinite_raise_gradient_without_loss(data):
    # A NaN input that ReLU turns into 0 leaves the loss finite but not the gradient.
    features, labels = data
    features = features.copy()
    features[0, 0] = np.nan
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, on_nonfinite="raise")
    backward_on(net, [mx.cpu(0)], features, labels)
    with pytest.raises(NonFiniteError, match="update 0: the gradient is NaN or infinite"):
        trainer.step(len(labels))


def test_trainer_on_nonfinite_skip_counts_and_logs(data, caplog):
    features, labels = data
    bad = features.copy()
    bad[5, 2] = np.nan
    net = make_net()
    before = init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, on_nonfinite="skip")
    losses = backward_on(net, CPU2, bad, labels)
    with caplog.at_level(logging.WARNING, logger="gluon_safe"):
        trainer.step(len(labels), loss=losses, batch=4)
    assert trainer.skipped_steps == 1
    assert trainer.num_steps == 0
    assert "batch 4: skipped the update because the gradient is NaN" in caplog.text
    for name, value in params_of(net).items():
        np.testing.assert_array_equal(value, before[name])

    # The next good batch updates as usual; the skipped gradients count as consumed.
    backward_on(net, CPU2, features, labels)
    trainer.step(len(labels))
    assert trainer.num_steps == 1
    assert not np.array_equal(params_of(net)["dense0_weight"], before["dense0_weight"])


def test_trainer_on_nonfinite_reads_once_per_step(data, monkeypatch):
    features, labels = data
    net = make_net()
    init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, on_nonfinite="raise")
    losses = backward_on(net, CPU2, features, labels)
    reads = count_host_reads(monkeypatch)
    trainer.step(len(labels), loss=losses)
    assert reads["asnumpy"] + reads["asscalar"] == 1


def test_trainer_on_nonfinite_none_lets_nan_through(data):
    features, labels = data
    features = features.copy()
    features[0, 0] = np.nan
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    backward_on(net, [mx.cpu(0)], features, labels)
    trainer.step(len(labels))
    assert np.isnan(params_of(net)["dense0_weight"]).any()


def test_trainer_stale_unused_block_grouped_by_block(data):
    features, labels = data
    net = make_net()
    extra = gluon.nn.Dense(2, in_units=3, prefix="unused0_")
    extra.initialize()
    params = net.collect_params()
    params.update(extra.collect_params())
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(params, "sgd", {"learning_rate": 0.1})
    backward_on(net, [mx.cpu(0)], features, labels)
    with pytest.raises(StaleGradientError, match=r"2 of 6 trainable parameters") as info:
        trainer.step(len(labels))
    message = str(info.value)
    assert "block unused0: unused0_bias, unused0_weight" in message
    assert "grad_req='null'" in message
    assert info.value.parameters == ("unused0_bias", "unused0_weight")
    assert not info.value.no_backward


def test_trainer_stale_uses_registered_block_names(data):
    features, labels = data
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    trainer._use_block_names(net)
    with autograd.record():
        loss = net[0](nd.array(features)).sum()
    loss.backward()
    with pytest.raises(StaleGradientError, match=r"block hybridsequential\d+_dense1 \(Dense\)"):
        trainer.step(len(labels))


def test_trainer_stale_no_backward_message(data):
    features, labels = data
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    backward_on(net, [mx.cpu(0)], features, labels)
    trainer.step(len(labels))
    with pytest.raises(StaleGradientError,
                       match=r"no backward\(\) ran since the last step") as info:
        trainer.step(len(labels))
    assert info.value.no_backward
    assert isinstance(info.value, RuntimeError)


def test_trainer_stale_no_backward_on_kvstore(data):
    # gluon.Trainer 1.9.1 leaves the fresh flags set when the kvstore runs the update,
    # so a second step without backward() would update again with old gradients.
    features, labels = data
    net = make_net()
    init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="device")
    backward_on(net, CPU2, features, labels)
    trainer.step(len(labels))
    assert trainer._update_on_kvstore
    with pytest.raises(StaleGradientError, match="none of the 4 trainable parameters"):
        trainer.step(len(labels))


def test_trainer_stale_idle_device_hint(data):
    features, labels = data
    net = make_net()
    init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    backward_on(net, [mx.cpu(0)], features, labels)
    with pytest.raises(StaleGradientError, match=r"\(on cpu\(1\) only\)") as info:
        trainer.step(len(labels))
    assert "fewer samples than devices" in str(info.value)
    assert "grad_req" not in str(info.value)
    assert info.value.contexts == ("cpu(1)",)


def test_trainer_ignore_stale_grad_updates_fresh_only(data):
    features, labels = data
    net = make_net()
    before = init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = net[0](nd.array(features)).sum()
    loss.backward()
    trainer.step(len(labels), ignore_stale_grad=True)
    after = params_of(net)
    assert not np.array_equal(after["dense0_weight"], before["dense0_weight"])
    np.testing.assert_array_equal(after["dense1_weight"], before["dense1_weight"])


def test_trainer_update_after_allreduce_clips(data):
    features, labels = data
    net = make_net()
    init_fixed(net, CPU2)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                      clip_global_norm=0.01)
    backward_on(net, CPU2, features, labels)
    trainer.allreduce_grads()
    trainer.update(len(labels))
    assert trainer.num_steps == 1


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_trainer_rejects_bad_clip_global_norm(value):
    net = make_net()
    net.initialize()
    with pytest.raises(ValueError, match=f"clip_global_norm={value!r} is not a positive"):
        Trainer(net.collect_params(), "sgd", clip_global_norm=value)


@pytest.mark.parametrize("value", ["warn", "Raise", True, 0])
def test_trainer_rejects_bad_on_nonfinite(value):
    net = make_net()
    net.initialize()
    with pytest.raises(ValueError, match=f"on_nonfinite={value!r} is not supported"):
        Trainer(net.collect_params(), "sgd", on_nonfinite=value)


def test_trainer_rejects_guards_with_update_on_kvstore():
    net = make_net()
    net.initialize()
    with pytest.raises(ValueError, match="update_on_kvstore=True runs the update inside"):
        Trainer(net.collect_params(), "sgd", update_on_kvstore=True, clip_global_norm=1.0)


@pytest.mark.parametrize("batch_size", [0, -4, float("nan")])
def test_trainer_step_rejects_bad_batch_size(data, batch_size):
    features, labels = data
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd")
    backward_on(net, [mx.cpu(0)], features, labels)
    with pytest.raises(ValueError, match=f"batch_size={batch_size!r} is not a positive number"):
        trainer.step(batch_size)


def test_trainer_warns_on_mean_loss(data):
    features, labels = data
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd")
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        loss = loss_fn(net(nd.array(features)), nd.array(labels)).mean()
    loss.backward()
    with pytest.warns(LossReductionWarning, match=f"batch_size={len(labels)}"):
        trainer.step(len(labels), loss=loss)


def test_trainer_errors_pickle():
    stale = StaleGradientError("msg", parameters=("a",), contexts=("cpu(0)",), no_backward=True)
    nonfinite = NonFiniteError("msg", source="loss", batch=3, step=9)
    stale_copy = pickle.loads(pickle.dumps(stale))
    nonfinite_copy = pickle.loads(pickle.dumps(nonfinite))
    assert (stale_copy.parameters, stale_copy.no_backward) == (("a",), True)
    assert (nonfinite_copy.source, nonfinite_copy.batch, nonfinite_copy.step) == ("loss", 3, 9)
