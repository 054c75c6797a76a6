"""Tests for gluon_safe._report: the per-epoch progress line."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import mx
from gluon_safe._report import format_epoch_line, metric_label, short_metric_name

EPOCH_LINE = re.compile(
    r"Epoch: (\d+), ela: (\d+\.\d) sec, Loss: (\d+\.\d{6}), "
    r"Train_acc (\d\.\d{4}), Test_acc (\d\.\d{4})"
)


def test_format_epoch_line_matches_report_format() -> None:
    # The format of the original report, which users grep for.
    line = format_epoch_line(0, 9.1, 0.82853, {"Train_acc": 0.63534, "Test_acc": 0.6304})

    assert line == "Epoch: 0, ela: 9.1 sec, Loss: 0.828530, Train_acc 0.6353, Test_acc 0.6304"


def test_format_epoch_line_without_loss() -> None:
    line = format_epoch_line(3, 0.04, None, {"Test_acc": 1.0})

    assert line == "Epoch: 3, ela: 0.0 sec, Test_acc 1.0000"


def test_format_epoch_line_keeps_metric_order() -> None:
    line = format_epoch_line(1, 2.0, 0.5, {"Test_acc": 0.25, "Train_acc": 0.75})

    assert line.endswith("Test_acc 0.2500, Train_acc 0.7500")


@settings(max_examples=60, deadline=None)
@given(
    epoch=st.integers(min_value=0, max_value=10_000),
    elapsed=st.floats(min_value=0.0, max_value=1e5),
    loss=st.floats(min_value=0.0, max_value=1e3),
    train=st.floats(min_value=0.0, max_value=1.0),
    test=st.floats(min_value=0.0, max_value=1.0),
)
def test_format_epoch_line_rounds_each_field(
    epoch: int, elapsed: float, loss: float, train: float, test: float
) -> None:
    line = format_epoch_line(epoch, elapsed, loss, {"Train_acc": train, "Test_acc": test})

    match = EPOCH_LINE.fullmatch(line)
    assert match is not None, line
    assert int(match.group(1)) == epoch
    assert abs(float(match.group(2)) - elapsed) <= 0.05 + 1e-9 * elapsed
    assert abs(float(match.group(3)) - loss) <= 5e-7 + 1e-12 * loss
    assert abs(float(match.group(4)) - train) <= 5e-5 + 1e-12
    assert abs(float(match.group(5)) - test) <= 5e-5 + 1e-12


def test_short_metric_name_of_mxnet_metrics() -> None:
    assert short_metric_name(mx.metric.Accuracy().name) == "acc"
    assert short_metric_name(mx.metric.TopKAccuracy(top_k=5).name) == "top5_acc"
    assert short_metric_name(mx.metric.F1().name) == mx.metric.F1().name
    assert short_metric_name(mx.metric.CrossEntropy().name) == mx.metric.CrossEntropy().name


def test_metric_label_joins_prefix_and_short_name() -> None:
    assert metric_label("Train", "accuracy") == "Train_acc"
    assert metric_label("Test", "mse") == "Test_mse"
