"""Tests of fit and evaluate: devices, step counts, ignore_label, replacements, output."""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pytest
from _training_helpers import (
    Recorder,
    batches,
    init_fixed,
    loader,
    make_net,
    params_of,
    plain_sgd_run,
    wine,
)

from gluon_safe import LabelRangeError
from gluon_safe._compat import autograd, gluon, mx, nd
from gluon_safe.data import DeviceDataLoader
from gluon_safe.errors import LabelError
from gluon_safe.losses import SafeSigmoidBinaryCrossEntropyLoss, SafeSoftmaxCrossEntropyLoss
from gluon_safe.metrics import MultiLabelAccuracy, SafeAccuracy
from gluon_safe.training import (
    Callback,
    LossReductionWarning,
    Trainer,
    evaluate,
    fit,
)
from gluon_safe.training._progress import Progress

CPU2 = [mx.cpu(0), mx.cpu(1)]
CPU3 = [mx.cpu(0), mx.cpu(1), mx.cpu(2)]
EPOCH_LINE = re.compile(
    r"^Epoch: \d+, ela: \d+\.\d sec, Loss: \d+\.\d{6}, Train_acc \d\.\d{4}, Test_acc \d\.\d{4}$"
)


def sgd_fit(net, data, ctx, **kwargs):
    options = dict(loss=gluon.loss.SoftmaxCrossEntropyLoss(), optimizer="sgd",
                   optimizer_params={"learning_rate": 0.1}, epochs=1, ctx=ctx, verbose=False)
    options.update(kwargs)
    return fit(net, data, **options)


def assert_params_close(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_fit_matches_plain_loop_with_small_last_batch():
    # 3 devices and batches of 7: the last batch has 2 samples, so cpu(2) is idle
    # and the step must divide by 2.
    features, labels = wine(23)
    net = make_net()
    init_fixed(net, CPU3)
    sgd_fit(net, batches(features, labels, 7), CPU3, epochs=2)

    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    plain_sgd_run(oracle, batches(features, labels, 7), lr=0.1, epochs=2)
    assert_params_close(params_of(net), params_of(oracle))


def test_fit_uses_every_device():
    features, labels = wine(24)
    net = make_net()
    seen = []
    net.register_forward_pre_hook(lambda block, inputs: seen.append(inputs[0].context))
    sgd_fit(net, batches(features, labels, 8), CPU3)
    assert sorted(set(map(str, seen))) == ["cpu(0)", "cpu(1)", "cpu(2)"]
    assert len(seen) == 3 * 3


def test_fit_batch_smaller_than_devices_runs():
    features, labels = wine(5)
    net = make_net()
    init_fixed(net, CPU3)
    sgd_fit(net, batches(features, labels, 4), CPU3)  # last batch: 1 sample, 3 devices

    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    plain_sgd_run(oracle, batches(features, labels, 4), lr=0.1)
    assert_params_close(params_of(net), params_of(oracle))


def test_fit_ignore_label_not_counted():
    features, labels = wine(16)
    marked = labels.copy()
    ignored = np.array([1, 4, 5, 11])
    marked[ignored] = -1
    net = make_net()
    init_fixed(net, CPU2)
    loss = SafeSoftmaxCrossEntropyLoss(ignore_label=-1)
    history = sgd_fit(net, batches(features, marked, 8), CPU2, loss=loss)

    kept = np.setdiff1d(np.arange(16), ignored)
    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    first, second = kept[kept < 8], kept[kept >= 8]
    pairs = [(nd.array(features[rows]), nd.array(labels[rows])) for rows in (first, second)]
    plain_sgd_run(oracle, pairs, lr=0.1)
    assert_params_close(params_of(net), params_of(oracle))
    assert history["accuracy"][0] == pytest.approx(_train_accuracy_oracle(features, marked, kept))


def _train_accuracy_oracle(features, labels, kept):
    """Replay the first epoch with a plain loop and mx.metric.Accuracy on kept samples."""
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    metric = mx.metric.Accuracy()
    for start in (0, 8):
        rows = kept[(kept >= start) & (kept < start + 8)]
        data, label = nd.array(features[rows]), nd.array(labels[rows])
        with autograd.record():
            out = net(data)
            loss = loss_fn(out, label)
        loss.backward()
        trainer.step(len(rows))
        metric.update([label], [out])
    return metric.get()[1]


def test_fit_replaces_plain_softmax_loss():
    features, labels = wine(12)
    recorder = Recorder()
    plain = gluon.loss.SoftmaxCrossEntropyLoss(axis=1, from_logits=False, weight=2.0)
    sgd_fit(make_net(), batches(features, labels, 6), [mx.cpu(0)], loss=plain,
            callbacks=[recorder])
    used = recorder.states[0].loss
    assert type(used) is SafeSoftmaxCrossEntropyLoss
    assert (used._axis, used._sparse_label, used._from_logits, used._weight,
            used._batch_axis) == (1, True, False, 2.0, 0)


def test_fit_replaces_plain_sigmoid_loss():
    features, labels = wine(12)
    binary = (labels == 0).astype(np.float32).reshape((-1, 1))
    net = gluon.nn.Dense(1, in_units=13)
    recorder = Recorder()
    history = fit(net, batches(features, binary, 6), loss=gluon.loss.SigmoidBCELoss(),
                  epochs=1, ctx=[mx.cpu(0)], verbose=False, callbacks=[recorder])
    assert type(recorder.states[0].loss) is SafeSigmoidBinaryCrossEntropyLoss
    assert isinstance(recorder.states[0].metrics[0], MultiLabelAccuracy)
    assert recorder.states[0].metrics[0].from_logits
    assert history.keys() == ["loss", "multilabel_accuracy"]


def test_fit_rejects_one_based_labels_with_plain_loss():
    features, labels = wine(12)
    with pytest.raises(LabelRangeError, match=r"^batch 0: labels contain class indices >= "):
        sgd_fit(make_net(), batches(features, labels + 1, 6), [mx.cpu(0)])


def test_fit_check_off_keeps_plain_loss():
    features, labels = wine(12)
    recorder = Recorder()
    history = sgd_fit(make_net(), batches(features, labels + 1, 6), [mx.cpu(0)],
                      check="off", metrics=[], callbacks=[recorder])
    assert type(recorder.states[0].loss) is gluon.loss.SoftmaxCrossEntropyLoss
    assert history.keys() == ["loss"]


def test_fit_default_metric_is_safe_accuracy():
    features, labels = wine(12)
    recorder = Recorder()
    loss = SafeSoftmaxCrossEntropyLoss(num_classes=3, ignore_label=-1)
    sgd_fit(make_net(), batches(features, labels, 6), [mx.cpu(0)], loss=loss,
            callbacks=[recorder])
    metric = recorder.states[0].metrics[0]
    assert type(metric) is SafeAccuracy
    assert (metric.num_classes, metric.ignore_label) == (3, -1.0)


def test_fit_regression_loss_logs_loss_only():
    features, labels = wine(12)
    net = gluon.nn.Dense(1, in_units=13)
    history = fit(net, batches(features, labels.reshape((-1, 1)), 6), loss=gluon.loss.L2Loss(),
                  epochs=2, ctx=[mx.cpu(0)], verbose=False)
    assert history.keys() == ["loss"]
    assert len(history["loss"]) == 2


def test_fit_replaces_plain_accuracy_metric():
    features, labels = wine(12)
    recorder = Recorder()
    sgd_fit(make_net(), batches(features, labels, 6), [mx.cpu(0)],
            metrics=mx.metric.Accuracy(name="acc1"), callbacks=[recorder])
    metric = recorder.states[0].metrics[0]
    assert type(metric) is SafeAccuracy
    assert metric.name == "acc1"


def test_fit_loss_is_mean_per_sample():
    features, labels = wine(10)
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    history = sgd_fit(net, batches(features, labels, 4), [mx.cpu(0)],
                      optimizer_params={"learning_rate": 0.0})
    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    loss = gluon.loss.SoftmaxCrossEntropyLoss()(oracle(nd.array(features)), nd.array(labels))
    assert history["loss"][0] == pytest.approx(float(loss.mean().asscalar()), rel=1e-6)


def test_fit_lazy_check_flushed_at_epoch_end():
    features, labels = wine(24)
    bad = labels.copy()
    bad[13] = 0.5  # in batch 2 of batches of 6
    recorder = Recorder()
    loss = SafeSoftmaxCrossEntropyLoss(check="lazy")
    with pytest.raises(LabelError, match=r"^batch 2: labels contain non-integer values") as info:
        sgd_fit(make_net(), batches(features, bad, 6), CPU2, loss=loss, metrics=[],
                callbacks=[recorder])
    assert info.value.batch == 2
    assert len(recorder.hooks("batch_end")) == 4
    assert recorder.hooks("epoch_end") == []


def test_fit_on_bad_labels_skip(caplog):
    features, labels = wine(18)
    bad = labels.copy()
    bad[7] = 3.0  # batch 1 of batches of 6

    class SkipBadLabels(Callback):
        def on_bad_labels(self, state, error):
            return "skip"

    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="gluon_safe"):
        sgd_fit(net, batches(features, bad, 6), [mx.cpu(0)],
                callbacks=[SkipBadLabels(), recorder])
    assert recorder.states[-1].skipped_batches == 1
    assert "skipped batch 1 of epoch 0 on request of SkipBadLabels" in caplog.text

    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    pairs = batches(features, labels, 6)
    plain_sgd_run(oracle, [pairs[0], pairs[2]], lr=0.1)
    assert_params_close(params_of(net), params_of(oracle))


def test_fit_on_bad_labels_rejects_unknown_answer():
    features, labels = wine(6)

    class Confused(Callback):
        def on_bad_labels(self, state, error):
            return "ignore"

    with pytest.raises(ValueError, match=r"Confused\.on_bad_labels returned 'ignore'"):
        sgd_fit(make_net(), batches(features, labels + 1, 6), [mx.cpu(0)],
                callbacks=[Confused()])


def test_fit_hook_order():
    features, labels = wine(8)
    recorder = Recorder()
    sgd_fit(make_net(), batches(features, labels, 4), [mx.cpu(0)], epochs=2,
            callbacks=[recorder])
    names = [call[0] for call in recorder.calls]
    epoch = ["epoch_begin", "batch_begin", "batch_end", "batch_begin", "batch_end", "epoch_end"]
    assert names == ["train_begin", *epoch, *epoch, "train_end"]
    assert recorder.states[-1].global_batch == 4


def test_fit_device_data_loader_takes_its_devices():
    features, labels = wine(20)
    dataset = gluon.data.ArrayDataset(features, labels)
    data = DeviceDataLoader(dataset, batch_size=6, ctx=CPU2, num_classes=3)
    recorder = Recorder()
    net = make_net()
    init_fixed(net, CPU2)
    sgd_fit(net, data, "auto", callbacks=[recorder])
    assert recorder.states[0].ctx == CPU2

    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    plain_sgd_run(oracle, batches(features, labels, 6), lr=0.1)
    assert_params_close(params_of(net), params_of(oracle))


def test_fit_device_batch_on_other_devices_raises():
    features, labels = wine(12)
    data = DeviceDataLoader(gluon.data.ArrayDataset(features, labels), batch_size=6, ctx=CPU2)
    with pytest.raises(ValueError, match=r"loads onto \[cpu\(0\), cpu\(1\)\], but fit was"):
        sgd_fit(make_net(), data, CPU3)


def test_fit_accepts_gluon_dataloader_and_ndarray_iter():
    features, labels = wine(20)
    history = sgd_fit(make_net(), loader(features, labels, 8), CPU2)
    assert len(history) == 1
    iterator = mx.io.NDArrayIter(features, labels, batch_size=8, last_batch_handle="pad")
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    sgd_fit(net, iterator, [mx.cpu(0)], epochs=2)
    oracle = make_net()
    init_fixed(oracle, [mx.cpu(0)])
    plain_sgd_run(oracle, batches(features, labels, 8), lr=0.1, epochs=2)
    assert_params_close(params_of(net), params_of(oracle))


def test_fit_rejects_one_pass_iterator_for_several_epochs():
    features, labels = wine(12)
    one_pass = iter(batches(features, labels, 6))
    with pytest.raises(TypeError, match="train_data is a one-pass iterator \\(list_iterator\\)"):
        sgd_fit(make_net(), one_pass, [mx.cpu(0)], epochs=2)


def test_fit_rejects_batch_with_extra_fields():
    features, labels = wine(6)
    with pytest.raises(ValueError, match="batch 0 has 3 fields"):
        sgd_fit(make_net(), [(nd.array(features), nd.array(labels), nd.array(labels))],
                [mx.cpu(0)])


def test_fit_trainer_on_other_devices_raises():
    net = make_net()
    net.initialize(ctx=[mx.cpu(0)])
    trainer = Trainer(net.collect_params(), "sgd")
    features, labels = wine(6)
    with pytest.raises(ValueError, match=r"the trainer's parameters are on \[cpu\(0\)\]"):
        fit(net, batches(features, labels, 6), loss=gluon.loss.SoftmaxCrossEntropyLoss(),
            trainer=trainer, epochs=1, ctx=CPU2, verbose=False)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("epochs", 0, "epochs=0 is not a positive int"),
    ("seed", -1, "seed=-1 is not a non-negative int"),
    ("check", "sometimes", "check='sometimes' is not a check mode"),
])
def test_fit_rejects_bad_options(option, value, message):
    features, labels = wine(6)
    options = {"epochs": 1, option: value}
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(make_net(), batches(features, labels, 6), loss=gluon.loss.SoftmaxCrossEntropyLoss(),
            ctx=[mx.cpu(0)], verbose=False, **options)


def test_fit_rejects_non_callback():
    features, labels = wine(6)
    with pytest.raises(TypeError, match="callbacks contains 'csv' of type str"):
        sgd_fit(make_net(), batches(features, labels, 6), [mx.cpu(0)], callbacks=["csv"])


def test_fit_warns_on_mean_loss_with_plain_trainer():
    features, labels = wine(12)
    net = make_net()
    net.initialize(ctx=[mx.cpu(0)])
    trainer = gluon.Trainer(net.collect_params(), "sgd")

    class MeanLoss(gluon.loss.Loss):
        def __init__(self):
            super().__init__(weight=None, batch_axis=0)
            self.inner = gluon.loss.SoftmaxCrossEntropyLoss()

        def hybrid_forward(self, F, pred, label):
            return self.inner(pred, label).mean()

    with pytest.warns(LossReductionWarning, match="normalized twice"):
        fit(net, batches(features, labels, 6), loss=MeanLoss(), trainer=trainer, epochs=1,
            ctx=[mx.cpu(0)], verbose=False, metrics=[])


def test_fit_prints_epoch_lines_and_logs_them(capsys, caplog):
    features, labels = wine(12)
    pairs = batches(features, labels, 6)
    with caplog.at_level(logging.INFO, logger="gluon_safe"):
        fit(make_net(), pairs, loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=2,
            val_data=pairs, ctx=[mx.cpu(0)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines):
        assert EPOCH_LINE.match(line), line
        assert line.startswith(f"Epoch: {epoch},")
    logged = [r.getMessage() for r in caplog.records if r.name == "gluon_safe.training"]
    assert logged == lines


def test_fit_quiet_prints_nothing(capsys):
    features, labels = wine(6)
    sgd_fit(make_net(), batches(features, labels, 6), [mx.cpu(0)])
    assert capsys.readouterr().out == ""


class FakeTerminal(io.StringIO):
    """A text stream that reports itself as a terminal."""

    def isatty(self):
        return True


def test_progress_falls_back_to_lines_without_tqdm(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    stream = FakeTerminal()
    progress = Progress(True, stream)
    assert not progress.shows_bar
    progress.epoch_begin(0, 3)
    progress.batch_end()
    progress.epoch_end("Epoch: 0, ela: 0.1 sec, Loss: 1.000000")
    assert stream.getvalue() == "Epoch: 0, ela: 0.1 sec, Loss: 1.000000\n"


def test_progress_no_bar_off_terminal():
    stream = io.StringIO()
    assert not Progress(True, stream).shows_bar


def test_progress_bar_on_terminal_with_tqdm():
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    progress = Progress(True, stream)
    assert progress.shows_bar
    progress.epoch_begin(0, 2)
    progress.batch_end()
    progress.epoch_end("line")
    assert stream.getvalue().endswith("line\n")


def test_evaluate_matches_mxnet_accuracy():
    features, labels = wine(30)
    net = make_net()
    init_fixed(net, CPU2)
    values = evaluate(net, batches(features, labels, 7))
    metric = mx.metric.Accuracy()
    metric.update([nd.array(labels)], [net(nd.array(features))])
    assert values == {"accuracy": pytest.approx(metric.get()[1])}


def test_evaluate_rejects_labels_like_mxnet_misses():
    features, labels = wine(12)
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    normalized = labels.copy()
    normalized[6:] /= 3  # batch 1 contains labels normalized to [0, 1]
    with pytest.raises(LabelError, match=r"^batch 1: labels contain non-integer values"):
        evaluate(net, batches(features, normalized, 6))


def test_evaluate_needs_initialized_network():
    features, labels = wine(6)
    with pytest.raises(ValueError, match="the network has no initialized parameters"):
        evaluate(make_net(), batches(features, labels, 6))


def test_evaluate_rejects_device_without_parameters():
    features, labels = wine(6)
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    with pytest.raises(ValueError, match=r"not on \[cpu\(1\)\]"):
        evaluate(net, batches(features, labels, 6), ctx=CPU2)
