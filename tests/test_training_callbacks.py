"""Tests of the callbacks, their pure decisions, metric directions and History."""

from __future__ import annotations

import csv
import math
import sys

import numpy as np
import pytest
from _training_helpers import Recorder, batches, init_fixed, make_net, params_of, wine
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import gluon, mx
from gluon_safe.metrics import MultiLabelAccuracy, SafeAccuracy, SafeTopKAccuracy
from gluon_safe.training import (
    CSVLogger,
    EarlyStopping,
    EarlyStoppingState,
    FitState,
    History,
    RestoreParameters,
    StopTraining,
    TerminateOnNaN,
    early_stopping_decision,
    fit,
    metric_direction,
)
from gluon_safe.training._direction import resolve_mode


def quiet_fit(net, data, **kwargs):
    options = dict(loss=gluon.loss.SoftmaxCrossEntropyLoss(), optimizer="sgd",
                   optimizer_params={"learning_rate": 0.1}, epochs=1, ctx=[mx.cpu(0)],
                   verbose=False)
    options.update(kwargs)
    return fit(net, data, **options)


@pytest.mark.parametrize(("metric", "direction"), [
    (mx.metric.Accuracy(), "max"),
    (mx.metric.TopKAccuracy(top_k=2), "max"),
    (mx.metric.F1(), "max"),
    (mx.metric.MCC(), "max"),
    (mx.metric.PearsonCorrelation(), "max"),
    (mx.metric.PCC(), "max"),
    (mx.metric.Perplexity(ignore_label=None), "min"),
    (mx.metric.MAE(), "min"),
    (mx.metric.MSE(), "min"),
    (mx.metric.RMSE(), "min"),
    (mx.metric.CrossEntropy(), "min"),
    (mx.metric.NegativeLogLikelihood(), "min"),
    (mx.metric.Loss(), "min"),
    (SafeAccuracy(), "max"),
    (SafeTopKAccuracy(top_k=2), "max"),
    (MultiLabelAccuracy(), "max"),
    ("loss", "min"),
], ids=lambda value: type(value).__name__ if not isinstance(value, str) else value)
def test_metric_direction_known(metric, direction):
    assert metric_direction(metric) == direction


def test_metric_direction_follows_declaration_over_table():
    class ErrorRate(mx.metric.Accuracy):
        higher_is_better = False

    assert metric_direction(ErrorRate()) == "min"


@pytest.mark.parametrize("metric", [
    mx.metric.CustomMetric(lambda label, pred: 0.0, name="score"),
    mx.metric.CompositeEvalMetric(),
], ids=["custom", "composite"])
def test_metric_direction_unknown_is_none(metric):
    assert metric_direction(metric) is None


def test_resolve_mode_raises_without_direction():
    custom = mx.metric.CustomMetric(lambda label, pred: 0.0, name="score")
    with pytest.raises(ValueError, match=r"mode='auto' cannot tell whether 'val_score'.*"
                                         r"CustomMetric declares no direction"):
        resolve_mode("auto", "val_score", {"val_score": custom}, owner="EarlyStopping")


def test_resolve_mode_explicit_mode_needs_no_direction():
    custom = mx.metric.CustomMetric(lambda label, pred: 0.0, name="score")
    assert resolve_mode("max", "score", {"score": custom}, owner="EarlyStopping") == "max"


def test_resolve_mode_unknown_monitor_lists_keys():
    with pytest.raises(ValueError, match="monitor='val_acc' is not a value this run logs; "
                                         "the logged values are 'loss', 'accuracy'"):
        resolve_mode("auto", "val_acc", {"loss": "loss", "accuracy": SafeAccuracy()},
                     owner="EarlyStopping")


def test_early_stopping_decision_examples():
    state = EarlyStoppingState()
    steps = [(1.0, True, None), (0.8, True, None), (0.85, False, None),
             (0.8, False, "no improvement for 2 epochs over the best value 0.8 at epoch 1")]
    for epoch, (value, improved, reason) in enumerate(steps):
        state, got_improved, got_reason = early_stopping_decision(
            state, value, epoch, direction="min", patience=1, min_delta=0.0)
        assert (got_improved, got_reason) == (improved, reason)
    assert state == EarlyStoppingState(best=0.8, best_epoch=1, wait=2)


def test_early_stopping_decision_min_delta():
    state = EarlyStoppingState(best=0.5, best_epoch=0, wait=0)
    _, improved, _ = early_stopping_decision(state, 0.55, 1, direction="max", patience=3,
                                             min_delta=0.1)
    assert not improved


def test_early_stopping_decision_nan_never_improves():
    _, improved, reason = early_stopping_decision(EarlyStoppingState(), math.nan, 0,
                                                      direction="min", patience=0,
                                                      min_delta=0.0)
    assert not improved
    assert reason == "no improvement for 1 epoch over the best value None at epoch None"


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.floats(-10, 10), min_size=1, max_size=20),
       patience=st.integers(0, 4), direction=st.sampled_from(["min", "max"]))
def test_early_stopping_decision_stops_after_patience(values, patience, direction):
    sign = 1.0 if direction == "min" else -1.0
    state = EarlyStoppingState()
    best, waited = math.inf, 0
    for epoch, value in enumerate(values):
        state, improved, reason = early_stopping_decision(
            state, value, epoch, direction=direction, patience=patience, min_delta=0.0)
        if sign * value < best:
            best, waited = sign * value, 0
        else:
            waited += 1
        assert improved == (waited == 0)
        assert (reason is not None) == (waited > patience)
        assert state.best == sign * best


@pytest.mark.parametrize(("option", "value", "message"), [
    ("mode", "lowest", "mode='lowest' is not supported"),
    ("patience", -1, "patience=-1 is not a non-negative int"),
    ("patience", 1.5, "patience=1.5 is not a non-negative int"),
    ("min_delta", -0.1, "min_delta=-0.1 is not a non-negative finite number"),
])
def test_early_stopping_rejects_bad_options(option, value, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping("val_loss", **{option: value})


def test_early_stopping_stops_fit_when_loss_is_flat():
    features, labels = wine(12)
    pairs = batches(features, labels, 6)
    stopper = EarlyStopping("val_loss", patience=1)
    history = quiet_fit(make_net(), pairs, val_data=pairs, epochs=10, callbacks=[stopper],
                        optimizer_params={"learning_rate": 0.0})
    assert history.epochs == [0, 1, 2]
    assert stopper.stopped_epoch == 2


def test_early_stopping_auto_raises_for_custom_metric():
    features, labels = wine(6)
    custom = mx.metric.CustomMetric(lambda label, pred: 0.0, name="score")
    with pytest.raises(ValueError, match="'score' should go up or down"):
        quiet_fit(make_net(), batches(features, labels, 6), metrics=[custom],
                  callbacks=[EarlyStopping("score")])


def test_early_stopping_restore_best_returns_best_values():
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    state = FitState(net=net, trainer=None, loss=None, metrics=[], ctx=[mx.cpu(0)], epochs=3,
                     history=History(), sources={"val_loss": "loss"})
    stopper = EarlyStopping("val_loss", patience=5, restore_best=True)
    stopper.on_train_begin(state)
    snapshots = []
    for epoch, value in enumerate([0.5, 0.3, 0.4]):
        state.epoch, state.logs = epoch, {"val_loss": value}
        net.collect_params()[net[0].weight.name].set_data(mx.nd.full((8, 13), float(epoch)))
        snapshots.append(params_of(net))
        assert stopper.on_epoch_end(state) is None
    directive = stopper.on_train_end(state)
    assert isinstance(directive, RestoreParameters)
    assert "epoch 1" in directive.reason
    state.restore_parameters(directive.values)
    for name, value in params_of(net).items():
        np.testing.assert_array_equal(value, snapshots[1][name])


def test_fit_state_snapshot_uses_structural_names():
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    state = FitState(net=net, trainer=None, loss=None, metrics=[], ctx=[mx.cpu(0)], epochs=1,
                     history=History(), sources={})
    snapshot = state.snapshot_parameters()
    assert sorted(snapshot) == ["0.bias", "0.weight", "1.bias", "1.weight"]

    other = make_net()  # another instance: other global names, same structure
    init_fixed(other, [mx.cpu(0)], seed=1)
    FitState(net=other, trainer=None, loss=None, metrics=[], ctx=[mx.cpu(0)], epochs=1,
             history=History(), sources={}).restore_parameters(snapshot)
    for name, value in params_of(other).items():
        np.testing.assert_array_equal(value, params_of(net)[name])


def test_early_stopping_skips_epochs_without_value():
    state = FitState(net=None, trainer=None, loss=None, metrics=[], ctx=[mx.cpu(0)], epochs=3,
                     history=History(), sources={"val_loss": "loss"})
    stopper = EarlyStopping("val_loss")
    stopper.on_train_begin(state)
    state.logs = {"loss": 0.1}
    assert stopper.on_epoch_end(state) is None
    assert stopper.progress == EarlyStoppingState()


def test_terminate_on_nan_stops_after_bad_batch():
    features, labels = wine(18)
    features = features.copy()
    recorder = Recorder()
    net = gluon.nn.Dense(3, in_units=13)  # no ReLU, so NaN input reaches the loss
    features[8, 0] = np.nan  # batch 1 of batches of 6
    history = quiet_fit(net, batches(features, labels, 6), epochs=3,
                        callbacks=[TerminateOnNaN(), recorder])
    assert history.epochs == [0]
    assert recorder.hooks("batch_end")[-1] == ("batch_end", 0, 1)


def test_terminate_on_nan_epoch_mode_checks_mean():
    features, labels = wine(12)
    features = features.copy()
    features[8, 0] = np.nan
    history = quiet_fit(gluon.nn.Dense(3, in_units=13), batches(features, labels, 6),
                        epochs=3, callbacks=[TerminateOnNaN(every="epoch")])
    assert history.epochs == [0]
    assert math.isnan(history["loss"][0])


def test_terminate_on_nan_rejects_bad_every():
    with pytest.raises(ValueError, match="every='step' is not supported"):
        TerminateOnNaN(every="step")


def test_csv_logger_writes_history(tmp_path):
    features, labels = wine(12)
    pairs = batches(features, labels, 6)
    path = tmp_path / "log.csv"
    history = quiet_fit(make_net(), pairs, val_data=pairs, epochs=3, callbacks=[CSVLogger(path)])
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert len(rows) == 4
    for row, epoch in zip(rows[1:], history.epochs):
        assert int(row[0]) == epoch
        for column, cell in zip(rows[0][1:], row[1:]):
            assert float(cell) == history[column][epoch]


def test_csv_logger_append_rejects_other_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,other\n0,1\n")
    features, labels = wine(6)
    with pytest.raises(ValueError, match="has the columns \\['epoch', 'other'\\]"):
        quiet_fit(make_net(), batches(features, labels, 6),
                  callbacks=[CSVLogger(path, append=True)])


def test_callback_may_stop_fit():
    class StopAtOnce(EarlyStopping):
        def on_epoch_end(self, state):
            return StopTraining("enough")

    features, labels = wine(6)
    history = quiet_fit(make_net(), batches(features, labels, 6), epochs=5,
                        callbacks=[StopAtOnce("loss")])
    assert history.epochs == [0]


def test_history_append_fills_missing_with_nan():
    history = History()
    history.append(0, {"loss": 1.0})
    history.append(1, {"loss": 0.5, "val_loss": 0.7})
    history.append(2, {"val_loss": 0.6})
    assert history["loss"][:2] == [1.0, 0.5]
    assert math.isnan(history["loss"][2])
    assert math.isnan(history["val_loss"][0])
    assert history.last()["val_loss"] == 0.6


def test_history_dict_round_trip():
    history = History()
    history.append(0, {"loss": 1.0, "accuracy": 0.5})
    history.append(1, {"loss": math.nan, "accuracy": 0.75})
    copy = History.from_dict(history.to_dict())
    assert copy.epochs == [0, 1]
    assert copy["accuracy"] == [0.5, 0.75]
    assert math.isnan(copy["loss"][1])


def test_history_from_dict_rejects_ragged_columns():
    with pytest.raises(ValueError, match="history column 'loss' has 1 values for 2 epochs"):
        History.from_dict({"epochs": [0, 1], "values": {"loss": [1.0]}})


def test_history_getitem_lists_known_keys():
    history = History()
    history.append(0, {"loss": 1.0})
    with pytest.raises(KeyError, match="history has no values for 'acc'; the keys are 'loss'"):
        history["acc"]


def test_history_to_csv(tmp_path):
    history = History()
    history.append(0, {"loss": 1.0, "val_loss": math.nan})
    history.append(1, {"loss": 0.25, "val_loss": 0.5})
    path = tmp_path / "history.csv"
    history.to_csv(path)
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,1.0,", "1,0.25,0.5"]


def test_history_plot_without_matplotlib_names_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    history = History()
    history.append(0, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"pip install 'gluon-safe\[plot\]'"):
        history.plot(tmp_path / "history.png")


def test_history_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = History()
    history.append(0, {"loss": 1.0, "accuracy": 0.5})
    history.append(1, {"loss": 0.5, "accuracy": 0.75})
    path = tmp_path / "history.png"
    history.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
