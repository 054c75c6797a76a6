"""Tests for gluon_safe.metrics, with MXNet's own metric classes as the oracle."""

from __future__ import annotations

import doctest
import logging
import math
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import NDArray, mx, nd
from gluon_safe._types import CheckMode
from gluon_safe.errors import (
    LabelError,
    LabelLayoutError,
    LabelRangeError,
    LabelShapeError,
    NonFiniteLabelError,
    NonIntegerLabelError,
)
from gluon_safe.metrics import (
    MultiLabelAccuracy,
    SafeAccuracy,
    SafeTopKAccuracy,
    _registry,
    accuracy,
    multilabel,
    topk,
)

CHECK_MODES = ("auto", "eager", "lazy", "off")
TOTALS = ("sum_metric", "num_inst", "global_sum_metric", "global_num_inst")


def _scores(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray:
    return nd.array(rng.random(shape, dtype=np.float32))


def _indices(rng: np.random.Generator, num_classes: int, shape: tuple[int, ...]) -> NDArray:
    return nd.array(rng.integers(0, num_classes, size=shape).astype(np.float32))


def _results(metric: Any) -> dict[str, Any]:
    """Every number a metric exposes, read through its public interface."""
    results = {name: getattr(metric, name) for name in TOTALS}
    results["get"] = metric.get()
    results["get_global"] = metric.get_global()
    results["get_name_value"] = metric.get_name_value()
    results["get_global_name_value"] = metric.get_global_name_value()
    return results


def _nan_as_text(value: Any) -> Any:
    """Replace NaN (an empty metric's value) by a string, so that == compares it."""
    if isinstance(value, (list, tuple)):
        return type(value)(_nan_as_text(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _assert_same_results(metric: Any, oracle: Any) -> None:
    ours = _results(metric)
    theirs = _results(oracle)
    for key in ours:
        assert _nan_as_text(ours[key]) == _nan_as_text(theirs[key]), key


# --- SafeAccuracy: parity with mx.metric.Accuracy on valid input ------------------------


def _batches_labels_column(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    return [(_indices(rng, 6, (16, 1)), _scores(rng, (16, 6))) for _ in range(3)]


def _batches_sparse(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    return [(_indices(rng, 10, (32,)), _scores(rng, (32, 10))) for _ in range(3)]


def _batches_index_preds(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    return [(_indices(rng, 4, (20,)), _indices(rng, 4, (20,))) for _ in range(3)]


def _batches_index_preds_2d(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    # Sequence labels (N, T) with predictions already reduced to class indices.
    return [(_indices(rng, 5, (4, 7)), _indices(rng, 5, (4, 7))) for _ in range(3)]


def _batches_lists(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    return [
        (
            [_indices(rng, 3, (8,)), _indices(rng, 3, (5,))],
            [_scores(rng, (8, 3)), _scores(rng, (5, 3))],
        )
        for _ in range(3)
    ]


def _batches_int_labels(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    return [
        (_indices(rng, 6, (16,)).astype("int32"), _scores(rng, (16, 6))) for _ in range(3)
    ]


def _batches_float64_labels(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    return [
        (_indices(rng, 6, (16,)).astype("float64"), _scores(rng, (16, 6))) for _ in range(3)
    ]


def _batches_ties(rng: np.random.Generator) -> list[tuple[Any, Any]]:
    # Equal scores: the argmax picks the first maximum on both sides.
    return [(_indices(rng, 3, (9,)), nd.array(np.ones((9, 3), dtype=np.float32)))]


BATCHES: dict[str, Callable[[np.random.Generator], list[tuple[Any, Any]]]] = {
    "labels-column": _batches_labels_column,
    "sparse": _batches_sparse,
    "index-preds": _batches_index_preds,
    "index-preds-2d": _batches_index_preds_2d,
    "lists": _batches_lists,
    "int32-labels": _batches_int_labels,
    "float64-labels": _batches_float64_labels,
    "ties": _batches_ties,
}


@pytest.mark.parametrize("check", CHECK_MODES)
@pytest.mark.parametrize("case", sorted(BATCHES))
def test_accuracy_matches_mxnet(case: str, check: CheckMode) -> None:
    batches = BATCHES[case](np.random.default_rng(7))
    metric = SafeAccuracy(check=check)
    oracle = mx.metric.Accuracy()

    for labels, preds in batches:
        metric.update(labels, preds)
        oracle.update(labels, preds)

    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", CHECK_MODES)
@pytest.mark.parametrize(
    ("axis", "pred_shape", "label_shape"),
    [(0, (5, 12), (12,)), (-1, (3, 4, 6), (3, 4)), (2, (3, 4, 6), (3, 4))],
    ids=["axis0", "axis-1-3d", "axis2-3d"],
)
def test_accuracy_matches_mxnet_other_axis(
    axis: int, pred_shape: tuple[int, ...], label_shape: tuple[int, ...], check: CheckMode
) -> None:
    rng = np.random.default_rng(3)
    num_classes = pred_shape[axis]
    metric = SafeAccuracy(axis=axis, check=check)
    oracle = mx.metric.Accuracy(axis=axis)

    for _ in range(3):
        labels = _indices(rng, num_classes, label_shape)
        preds = _scores(rng, pred_shape)
        metric.update([labels], [preds])
        oracle.update([labels], [preds])

    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", CHECK_MODES)
def test_accuracy_reset_local_matches_mxnet(check: CheckMode) -> None:
    rng = np.random.default_rng(11)
    metric = SafeAccuracy(check=check)
    oracle = mx.metric.Accuracy()

    for step in range(6):
        labels, preds = _indices(rng, 4, (10,)), _scores(rng, (10, 4))
        metric.update(labels, preds)
        oracle.update(labels, preds)
        if step % 2 == 1:
            metric.reset_local()
            oracle.reset_local()
        _assert_same_results(metric, oracle)

    metric.reset()
    oracle.reset()
    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", CHECK_MODES)
def test_accuracy_update_dict_matches_mxnet(check: CheckMode) -> None:
    rng = np.random.default_rng(5)
    labels = {"softmax_label": _indices(rng, 3, (6,)), "other_label": _indices(rng, 9, (6,))}
    preds = {"softmax_output": _scores(rng, (6, 3)), "other_output": _scores(rng, (6, 9))}
    metric = SafeAccuracy(
        output_names=["softmax_output"], label_names=["softmax_label"], check=check
    )
    oracle = mx.metric.Accuracy(output_names=["softmax_output"], label_names=["softmax_label"])

    metric.update_dict(labels, preds)
    oracle.update_dict(labels, preds)

    _assert_same_results(metric, oracle)


def test_accuracy_numpy_input_matches_ndarray_input() -> None:
    rng = np.random.default_rng(2)
    labels, preds = _indices(rng, 5, (12,)), _scores(rng, (12, 5))
    metric = SafeAccuracy()
    oracle = mx.metric.Accuracy()

    metric.update(labels.asnumpy(), preds.asnumpy())
    oracle.update(labels, preds)

    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", CHECK_MODES)
@pytest.mark.parametrize("ignore_label", [-1.0, 2.0])
def test_accuracy_ignore_label_matches_filtered_mxnet(
    check: CheckMode, ignore_label: float
) -> None:
    rng = np.random.default_rng(13)
    metric = SafeAccuracy(ignore_label=ignore_label, check=check)
    oracle = mx.metric.Accuracy()

    for _ in range(3):
        raw = rng.integers(0, 4, size=20).astype(np.float32)
        raw[rng.random(20) < 0.3] = ignore_label
        preds = rng.random((20, 4), dtype=np.float32)
        keep = raw != ignore_label
        metric.update(nd.array(raw), nd.array(preds))
        oracle.update(nd.array(raw[keep]), nd.array(preds[keep]))

    _assert_same_results(metric, oracle)


def test_accuracy_ignore_label_all_ignored() -> None:
    metric = SafeAccuracy(ignore_label=-1)

    metric.update(nd.array([-1, -1]), nd.array([[0.1, 0.9], [0.8, 0.2]]))

    assert metric.num_inst == 0
    assert math.isnan(metric.get()[1])


@pytest.mark.parametrize("check", CHECK_MODES)
@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "soft"])
def test_accuracy_one_hot_matches_argmax_labels(check: CheckMode, soft: bool) -> None:
    rng = np.random.default_rng(17)
    metric = SafeAccuracy(one_hot=True, check=check)
    oracle = mx.metric.Accuracy()

    for _ in range(3):
        classes = rng.integers(0, 5, size=12)
        rows = np.eye(5, dtype=np.float32)[classes]
        if soft:
            rows = rows * 0.6 + 0.08
        preds = _scores(rng, (12, 5))
        metric.update(nd.array(rows), preds)
        oracle.update(nd.array(rows.argmax(axis=1)), preds)

    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_one_hot_axis0_matches_argmax_labels(check: CheckMode) -> None:
    rng = np.random.default_rng(19)
    classes = rng.integers(0, 4, size=9)
    rows = np.eye(4, dtype=np.float32)[classes].T  # classes on axis 0
    preds = _scores(rng, (4, 9))
    metric = SafeAccuracy(axis=0, one_hot=True, check=check)
    oracle = mx.metric.Accuracy(axis=0)

    # Lists, because for single arrays MXNet compares len(labels) with len(preds).
    metric.update([nd.array(rows)], [preds])
    oracle.update([nd.array(classes)], [preds])

    _assert_same_results(metric, oracle)


# --- SafeAccuracy: differential test against MXNet --------------------------------------

_INVALID_VALUES = [math.nan, math.inf, -math.inf, -1.0, -3.0, 0.5, 2.25, 1e-3]


@st.composite
def _label_and_scores(draw: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    num_classes = draw(st.integers(2, 7))
    size = draw(st.integers(1, 12))
    valid = st.integers(0, num_classes - 1).map(float)
    invalid = st.sampled_from(
        [*_INVALID_VALUES, float(num_classes), float(num_classes) + 1.5, 1e9]
    )
    fraction = st.floats(-2.0, num_classes + 2.0, allow_nan=False)
    # Half the cases hold valid labels only; mixing at random would rarely give any.
    element = st.one_of(valid, valid, valid, invalid, fraction) if draw(st.booleans()) else valid
    values = draw(st.lists(element, min_size=size, max_size=size))
    seed = draw(st.integers(0, 2**32 - 1))
    scores = np.random.default_rng(seed).random((size, num_classes), dtype=np.float32)
    return np.asarray(values, dtype=np.float32), scores, num_classes


def _valid_indices(labels: np.ndarray[Any, Any], num_classes: int) -> bool:
    if not np.all(np.isfinite(labels)):
        return False
    in_range = (labels >= 0) & (labels < num_classes)
    return bool(np.all((labels == np.floor(labels)) & in_range))


@pytest.mark.parametrize("check", ["auto", "lazy"])
@settings(max_examples=80, deadline=None)
@given(case=_label_and_scores())
def test_accuracy_differential_against_mxnet(
    check: CheckMode, case: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]
) -> None:
    labels, scores, num_classes = case
    metric = SafeAccuracy(check=check)
    oracle = mx.metric.Accuracy()

    if _valid_indices(labels, num_classes):
        metric.update(nd.array(labels), nd.array(scores))
        oracle.update(nd.array(labels), nd.array(scores))
        _assert_same_results(metric, oracle)
        return
    with pytest.raises(LabelError):
        metric.update(nd.array(labels), nd.array(scores))
        metric.get()


# --- SafeAccuracy: errors -----------------------------------------------------------------


def test_accuracy_normalized_labels_end_to_end() -> None:
    # Six classes stored as 1..6 and divided by 6; the network predicts class 0 always.
    classes = np.tile(np.arange(1, 7, dtype=np.float32), 4)
    labels = nd.array(classes / 6)
    preds = nd.array(np.tile(np.eye(6, dtype=np.float32)[0], (24, 1)))
    plain = mx.metric.Accuracy()
    plain.update(labels, preds)

    with pytest.raises(NonIntegerLabelError, match=r"look normalized") as info:
        SafeAccuracy().update(labels, preds)

    assert plain.get()[1] > 0.8  # MXNet casts 1/6..5/6 to class 0: silently "accurate"
    assert "0.16666667 at labels[0]" in str(info.value)
    assert info.value.batch == 0
    assert info.value.count == 20


def test_accuracy_one_based_labels() -> None:
    labels = nd.array([1, 2, 3, 3])

    with pytest.raises(LabelRangeError, match=r"look 1-based") as info:
        SafeAccuracy().update(labels, nd.array(np.full((4, 3), 1 / 3, dtype=np.float32)))

    assert info.value.values == (3.0, 3.0)


def test_accuracy_nan_label() -> None:
    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[1\]"):
        SafeAccuracy().update(nd.array([0, np.nan]), nd.array([[0.3, 0.7], [0.6, 0.4]]))


def test_accuracy_negative_label_names_ignore_label() -> None:
    with pytest.raises(LabelRangeError, match=r"-1\.0 at labels\[0\].*ignore_label=-1"):
        SafeAccuracy().update(nd.array([-1, 1, 0]), _scores(np.random.default_rng(0), (3, 2)))


def test_accuracy_num_classes_bounds_index_preds() -> None:
    with pytest.raises(LabelRangeError, match=r"5\.0 at labels\[1\]"):
        SafeAccuracy(num_classes=4).update(nd.array([1, 5]), nd.array([1, 2]))


def test_accuracy_dense_label_rows() -> None:
    labels = nd.array(np.eye(3, dtype=np.float32)[[0, 2, 1, 1]])
    preds = _scores(np.random.default_rng(1), (4, 3))

    with pytest.raises(LabelLayoutError, match=r"look like one-hot rows.*one_hot=True"):
        SafeAccuracy().update(labels, preds)


def test_accuracy_batch_size_mismatch() -> None:
    preds = _scores(np.random.default_rng(1), (4, 3))

    with pytest.raises(LabelShapeError, match=r"shape \(5,\) do not match .* \(4, 3\)"):
        SafeAccuracy().update(nd.array([0, 1, 2, 0, 1]), preds)


def test_accuracy_batch_size_mismatch_when_off() -> None:
    metric = SafeAccuracy(check="off", ignore_label=-1)

    with pytest.raises(LabelShapeError, match=r"shape \(5,\) do not match"):
        metric.update(nd.array([0, 1, 2, 0, 1]), _scores(np.random.default_rng(1), (4, 3)))


def test_accuracy_lazy_batch_size_mismatch_raises_at_update() -> None:
    metric = SafeAccuracy(check="lazy")

    with pytest.raises(LabelShapeError, match=r"shape \(5,\) do not match"):
        metric.update(nd.array([0, 1, 2, 0, 1]), _scores(np.random.default_rng(1), (4, 3)))


def test_accuracy_array_count_mismatch() -> None:
    rng = np.random.default_rng(1)

    with pytest.raises(LabelShapeError, match=r"got 2 label arrays but 1 prediction arrays"):
        SafeAccuracy().update(
            [_indices(rng, 3, (4,)), _indices(rng, 3, (4,))], [_scores(rng, (4, 3))]
        )


@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_sigmoid_column_preds(check: CheckMode) -> None:
    metric = SafeAccuracy(check=check)
    labels = nd.array([[0], [1], [1]])
    preds = nd.array([[0.2], [0.9], [0.6]])

    with pytest.raises(LabelLayoutError, match=r"preds .* non-integer.*two output units"):
        metric.update(labels, preds)
        metric.get()


def test_accuracy_sigmoid_column_lists_values() -> None:
    with pytest.raises(LabelLayoutError, match=r"0\.9 at preds\[1, 0\]"):
        SafeAccuracy().update(nd.array([[0], [1]]), nd.array([[0], [0.9]]))


def test_accuracy_lazy_dense_rows_next_to_scores() -> None:
    metric = SafeAccuracy(check="lazy")
    metric.update(nd.array(np.eye(3, dtype=np.float32)), _scores(np.random.default_rng(4), (3, 3)))

    with pytest.raises(LabelLayoutError, match=r"batch 0: labels of shape \(3, 3\) look like"):
        metric.get()


def test_accuracy_num_classes_differs_from_preds() -> None:
    metric = SafeAccuracy(num_classes=6)

    with pytest.raises(LabelShapeError, match=r"preds have 10 classes .* num_classes=6"):
        metric.update(nd.array([0, 1]), _scores(np.random.default_rng(1), (2, 10)))


def test_accuracy_axis_out_of_range() -> None:
    with pytest.raises(LabelShapeError, match=r"axis=1 is out of range"):
        SafeAccuracy().update(nd.array([[0, 1]]), nd.array([0.5, 0.5]))


@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_one_hot_shape_mismatch(check: CheckMode) -> None:
    metric = SafeAccuracy(one_hot=True, check=check)

    with pytest.raises(LabelShapeError, match=r"\(2,\) do not match .* one_hot=True"):
        metric.update(nd.array([0, 1]), _scores(np.random.default_rng(1), (2, 3)))


@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_one_hot_rows_must_sum_to_one(check: CheckMode) -> None:
    metric = SafeAccuracy(one_hot=True, check=check)
    rows = nd.array([[1, 0, 0], [2, 0, 0]])

    with pytest.raises(LabelLayoutError, match=r"rows do not sum to 1"):
        metric.update(rows, _scores(np.random.default_rng(1), (2, 3)))
        metric.get()


def test_accuracy_names_the_array_of_several() -> None:
    rng = np.random.default_rng(1)
    labels = [_indices(rng, 3, (4,)), nd.array([0, 0.5, 1, 2])]

    with pytest.raises(NonIntegerLabelError, match=r"0\.5 at labels\[1\]\[1\]"):
        SafeAccuracy().update(labels, [_scores(rng, (4, 3)), _scores(rng, (4, 3))])


def test_accuracy_bad_pair_rejects_whole_update() -> None:
    rng = np.random.default_rng(1)
    metric = SafeAccuracy()
    labels = [_indices(rng, 3, (4,)), nd.array([0, 0.5, 1, 2])]

    with pytest.raises(NonIntegerLabelError):
        metric.update(labels, [_scores(rng, (4, 3)), _scores(rng, (4, 3))])

    assert metric.num_inst == 0


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"num_classes": 0}, ValueError, r"num_classes=0 must be a positive int"),
        ({"num_classes": 2.5}, ValueError, r"num_classes=2\.5 must be a positive int"),
        ({"ignore_label": math.nan}, ValueError, r"ignore_label=nan must be finite"),
        ({"ignore_label": "pad"}, ValueError, r"ignore_label='pad' must be a number"),
        ({"one_hot": True, "ignore_label": -1}, ValueError, r"ignore_label=-1 cannot .*one_hot"),
        ({"one_hot": "yes"}, TypeError, r"one_hot='yes' must be True or False"),
        ({"check": "sometimes"}, ValueError, r"check='sometimes' is not a check mode"),
    ],
    ids=[
        "num-classes-zero", "num-classes-float", "ignore-nan", "ignore-str", "one-hot-ignore",
        "one-hot-str", "check-mode",
    ],
)
def test_accuracy_rejects_bad_options(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SafeAccuracy(**options)


# --- check modes --------------------------------------------------------------------------


def _normalized_batch() -> tuple[NDArray, NDArray]:
    return nd.array(np.arange(1, 7, dtype=np.float32) / 6), nd.array(
        np.tile(np.eye(6, dtype=np.float32)[0], (6, 1))
    )


def test_accuracy_off_is_plain_mxnet_on_invalid_labels() -> None:
    labels, preds = _normalized_batch()
    metric = SafeAccuracy(check="off")
    oracle = mx.metric.Accuracy()

    metric.update(labels, preds)
    oracle.update(labels, preds)

    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", ["auto", "eager"])
def test_accuracy_eager_raises_at_once_naming_batch(check: CheckMode) -> None:
    rng = np.random.default_rng(1)
    metric = SafeAccuracy(check=check)
    metric.update(_indices(rng, 6, (6,)), _scores(rng, (6, 6)))
    labels, preds = _normalized_batch()

    with pytest.raises(NonIntegerLabelError, match=r"^batch 1: labels contain non-integer"):
        metric.update(labels, preds)

    assert metric.num_inst == 6


def test_accuracy_lazy_flush_names_first_bad_batch() -> None:
    rng = np.random.default_rng(1)
    good = [(_indices(rng, 6, (6,)), _scores(rng, (6, 6))) for _ in range(3)]
    bad = _normalized_batch()
    metric = SafeAccuracy(check="lazy")
    oracle = mx.metric.Accuracy()
    for labels, preds in good[:2]:
        oracle.update(labels, preds)

    for labels, preds in [good[0], good[1], bad, good[2], bad]:
        metric.update(labels, preds)

    with pytest.raises(NonIntegerLabelError, match=r"^batch 2: labels .*look normalized"):
        metric.flush()
    assert metric.get() == oracle.get()
    assert metric.global_num_inst == 12


def test_accuracy_lazy_get_raises_then_recovers() -> None:
    metric = SafeAccuracy(check="lazy")
    metric.update(*_normalized_batch())

    with pytest.raises(NonIntegerLabelError, match=r"^batch 0:"):
        metric.get()
    assert math.isnan(metric.get()[1])


def test_accuracy_lazy_reset_raises_and_resets() -> None:
    metric = SafeAccuracy(check="lazy")
    metric.update(*_normalized_batch())

    with pytest.raises(NonIntegerLabelError, match=r"^batch 0:"):
        metric.reset()
    metric.update(*_normalized_batch())
    with pytest.raises(NonIntegerLabelError, match=r"^batch 0:"):
        metric.flush()


def test_accuracy_lazy_reset_local_folds_into_global() -> None:
    rng = np.random.default_rng(8)
    labels, preds = _indices(rng, 4, (10,)), _scores(rng, (10, 4))
    metric = SafeAccuracy(check="lazy")
    oracle = mx.metric.Accuracy()
    metric.update(labels, preds)
    oracle.update(labels, preds)

    metric.reset_local()
    oracle.reset_local()

    _assert_same_results(metric, oracle)


def test_accuracy_flush_without_pending_is_a_no_op() -> None:
    metric = SafeAccuracy(check="lazy")

    metric.flush()

    assert metric.num_inst == 0


class _ReadCounter:
    """Count blocking reads while still performing them (instrumentation, not a mock)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("asnumpy", "asscalar", "wait_to_read"):
            monkeypatch.setattr(NDArray, name, self._counting(name, getattr(NDArray, name)))
        waitall = self._counting("waitall", mx.nd.waitall)
        monkeypatch.setattr(mx.nd, "waitall", waitall)
        monkeypatch.setattr(mx.nd.ndarray, "waitall", waitall)

    def _counting(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return function(*args, **kwargs)

        return counted


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[_ReadCounter]:
    yield _ReadCounter(monkeypatch)


@pytest.mark.parametrize(
    "options",
    [{}, {"ignore_label": -1}, {"one_hot": True}],
    ids=["sparse", "ignore-label", "one-hot"],
)
def test_accuracy_lazy_reads_only_at_get(
    reads: _ReadCounter, options: dict[str, Any]
) -> None:
    rng = np.random.default_rng(21)
    preds = [_scores(rng, (16, 5)) for _ in range(8)]
    if options.get("one_hot"):
        labels = [nd.array(np.eye(5, dtype=np.float32)[rng.integers(0, 5, 16)]) for _ in range(8)]
    else:
        labels = [_indices(rng, 5, (16,)) for _ in range(8)]
    metric = SafeAccuracy(check="lazy", **options)
    reads.calls.clear()

    for label, pred in zip(labels, preds):
        metric.update(label, pred)
    reads_during_updates = list(reads.calls)
    metric.get()

    assert reads_during_updates == []
    assert 0 < len(reads.calls) <= 4
    assert metric.num_inst == 128


def test_accuracy_auto_reads_what_mxnet_reads(reads: _ReadCounter) -> None:
    rng = np.random.default_rng(22)
    labels, preds = _indices(rng, 5, (16,)), _scores(rng, (16, 5))
    reads.calls.clear()

    mx.metric.Accuracy().update(labels, preds)
    mxnet_reads = list(reads.calls)
    reads.calls.clear()
    SafeAccuracy().update(labels, preds)

    assert reads.calls == mxnet_reads


# --- get_config and the registry ----------------------------------------------------------


@pytest.mark.parametrize(
    "metric",
    [
        SafeAccuracy(),
        SafeAccuracy(axis=-1, name="acc", num_classes=6, ignore_label=-1, check="lazy"),
        SafeAccuracy(one_hot=True, output_names=["out"], label_names=["label"]),
        SafeTopKAccuracy(top_k=3),
        SafeTopKAccuracy(top_k=5, name="top5", num_classes=10, ignore_label=-1, check="eager"),
        MultiLabelAccuracy(),
        MultiLabelAccuracy(threshold=0.3, average="hamming", from_logits=True, check="off"),
    ],
    ids=lambda m: f"{type(m).__name__}-{m.name}",
)
def test_metric_config_rebuilds_equal_metric(metric: Any) -> None:
    config = metric.get_config()

    rebuilt = mx.metric.create(config)

    assert type(rebuilt) is type(metric)
    assert rebuilt.get_config() == config
    assert rebuilt.name == metric.name


def test_accuracy_config_lists_new_options() -> None:
    config = SafeAccuracy(num_classes=3, ignore_label=-1, check="lazy").get_config()

    assert config["num_classes"] == 3
    assert config["ignore_label"] == -1.0
    assert config["one_hot"] is False
    assert config["check"] == "lazy"
    assert config["axis"] == 1


@pytest.mark.parametrize(
    ("name", "cls", "kwargs"),
    [
        ("safe_accuracy", SafeAccuracy, {}),
        ("safe_acc", SafeAccuracy, {}),
        ("safeaccuracy", SafeAccuracy, {}),
        ("safe_top_k_accuracy", SafeTopKAccuracy, {"top_k": 3}),
        ("safe_top_k_acc", SafeTopKAccuracy, {"top_k": 3}),
        ("safetopkaccuracy", SafeTopKAccuracy, {"top_k": 3}),
        ("multilabel_accuracy", MultiLabelAccuracy, {}),
        ("multilabelaccuracy", MultiLabelAccuracy, {}),
    ],
)
def test_registry_creates_by_name(name: str, cls: type, kwargs: dict[str, Any]) -> None:
    assert type(mx.metric.create(name, **kwargs)) is cls


@pytest.mark.parametrize("name", ["acc", "accuracy", "top_k_accuracy", "top_k_acc"])
def test_registry_keeps_mxnet_names(name: str) -> None:
    registry = mx.registry.get_registry(mx.metric.EvalMetric)

    assert registry[name].__module__ == "mxnet.metric"


def test_registry_leaves_foreign_name_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    class ForeignMetric(mx.metric.EvalMetric):  # type: ignore[misc]
        pass

    mx.metric.register(ForeignMetric, "gluon_safe_test_taken")
    with caplog.at_level(logging.WARNING, logger=_registry.__name__):
        _registry.registered("gluon_safe_test_taken")(SafeAccuracy)

    registry = mx.registry.get_registry(mx.metric.EvalMetric)
    assert registry["gluon_safe_test_taken"] is ForeignMetric
    assert "'gluon_safe_test_taken' is already registered" in caplog.text


def test_registry_registering_twice_is_silent() -> None:
    _registry.registered("safe_accuracy")(SafeAccuracy)

    assert mx.registry.get_registry(mx.metric.EvalMetric)["safe_accuracy"] is SafeAccuracy


@pytest.mark.parametrize("cls", [SafeAccuracy, SafeTopKAccuracy, MultiLabelAccuracy])
def test_metric_higher_is_better(cls: Any) -> None:
    assert cls.higher_is_better is True


# --- SafeTopKAccuracy -------------------------------------------------------------------


@pytest.mark.parametrize("check", CHECK_MODES)
@pytest.mark.parametrize(
    ("label_shape", "several"),
    [((16,), False), ((16, 1), False), ((16,), True)],
    ids=["sparse", "labels-column", "lists"],
)
def test_topk_matches_mxnet(label_shape: tuple[int, ...], several: bool, check: CheckMode) -> None:
    rng = np.random.default_rng(23)
    metric = SafeTopKAccuracy(top_k=3, check=check)
    oracle = mx.metric.TopKAccuracy(top_k=3)

    for _ in range(3):
        labels = _indices(rng, 8, label_shape)
        preds = _scores(rng, (16, 8))
        if several:
            labels, preds = [labels, labels[:5]], [preds, preds[:5]]
        metric.update(labels, preds)
        oracle.update(labels, preds)

    _assert_same_results(metric, oracle)


@pytest.mark.parametrize("check", CHECK_MODES)
def test_topk_one_dim_preds_keep_mxnet_quirk(check: CheckMode) -> None:
    rng = np.random.default_rng(29)
    metric = SafeTopKAccuracy(top_k=2, check=check)
    oracle = mx.metric.TopKAccuracy(top_k=2)

    for _ in range(3):
        labels, preds = _indices(rng, 6, (6,)), _scores(rng, (6,))
        metric.update(labels, preds)
        oracle.update(labels, preds)

    _assert_same_results(metric, oracle)
    assert metric.global_sum_metric == 0.0


@pytest.mark.parametrize("check", CHECK_MODES)
def test_topk_ignore_label_matches_filtered_mxnet(check: CheckMode) -> None:
    rng = np.random.default_rng(31)
    metric = SafeTopKAccuracy(top_k=2, ignore_label=-1, check=check)
    oracle = mx.metric.TopKAccuracy(top_k=2)

    for _ in range(3):
        raw = rng.integers(0, 5, size=20).astype(np.float32)
        raw[rng.random(20) < 0.3] = -1
        preds = rng.random((20, 5), dtype=np.float32)
        keep = raw != -1
        metric.update(nd.array(raw), nd.array(preds))
        oracle.update(nd.array(raw[keep]), nd.array(preds[keep]))

    _assert_same_results(metric, oracle)


def test_topk_top_k_equal_to_classes_matches_mxnet() -> None:
    rng = np.random.default_rng(37)
    labels, preds = _indices(rng, 4, (9,)), _scores(rng, (9, 4))
    metric = SafeTopKAccuracy(top_k=4)
    oracle = mx.metric.TopKAccuracy(top_k=4)

    metric.update(labels, preds)
    oracle.update(labels, preds)

    _assert_same_results(metric, oracle)
    assert metric.get()[1] == 1.0


@st.composite
def _topk_case(draw: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int, int]:
    labels, scores, num_classes = draw(_label_and_scores())
    top_k = draw(st.integers(2, num_classes))
    return labels, scores, num_classes, top_k


@pytest.mark.parametrize("check", ["auto", "lazy"])
@settings(max_examples=80, deadline=None)
@given(case=_topk_case())
def test_topk_differential_against_mxnet(
    check: CheckMode, case: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int, int]
) -> None:
    labels, scores, num_classes, top_k = case
    metric = SafeTopKAccuracy(top_k=top_k, check=check)
    oracle = mx.metric.TopKAccuracy(top_k=top_k)

    if _valid_indices(labels, num_classes):
        metric.update(nd.array(labels), nd.array(scores))
        oracle.update(nd.array(labels), nd.array(scores))
        _assert_same_results(metric, oracle)
        return
    with pytest.raises(LabelError):
        metric.update(nd.array(labels), nd.array(scores))
        metric.get()


@pytest.mark.parametrize("top_k", [1, 0, 2.5, True, "3"])
def test_topk_rejects_bad_top_k(top_k: Any) -> None:
    with pytest.raises(ValueError, match=r"top_k=.* must be an int of at least 2"):
        SafeTopKAccuracy(top_k=top_k)


def test_topk_default_top_k_points_to_accuracy() -> None:
    with pytest.raises(ValueError, match=r"top_k=1 .*use SafeAccuracy"):
        SafeTopKAccuracy()


def test_topk_top_k_above_classes() -> None:
    with pytest.raises(ValueError, match=r"top_k=5 exceeds the 3 classes"):
        SafeTopKAccuracy(top_k=5).update(
            nd.array([0, 1]), _scores(np.random.default_rng(1), (2, 3))
        )


def test_topk_three_dim_preds() -> None:
    with pytest.raises(LabelShapeError, match=r"preds have shape \(2, 3, 4\)"):
        SafeTopKAccuracy(top_k=2).update(nd.array([0, 1]), nd.zeros((2, 3, 4)))


def test_topk_dense_label_rows() -> None:
    labels = nd.array(np.eye(4, dtype=np.float32))

    with pytest.raises(LabelLayoutError, match=r"look like one-hot rows.*argmax"):
        SafeTopKAccuracy(top_k=2).update(labels, _scores(np.random.default_rng(1), (4, 4)))


def test_topk_batch_size_mismatch() -> None:
    with pytest.raises(LabelShapeError, match=r"shape \(3,\) do not match .* \(4, 4\)"):
        SafeTopKAccuracy(top_k=2).update(
            nd.array([0, 1, 2]), _scores(np.random.default_rng(1), (4, 4))
        )


def test_topk_one_based_labels() -> None:
    with pytest.raises(LabelRangeError, match=r"look 1-based"):
        SafeTopKAccuracy(top_k=2).update(
            nd.array([1, 2, 3, 4]), _scores(np.random.default_rng(1), (4, 4))
        )


def test_topk_num_classes_bounds_one_dim_preds() -> None:
    with pytest.raises(LabelRangeError, match=r"7\.0 at labels\[2\]"):
        SafeTopKAccuracy(top_k=2, num_classes=5).update(
            nd.array([0, 1, 7]), _scores(np.random.default_rng(1), (3,))
        )


def test_topk_lazy_defers_to_get() -> None:
    rng = np.random.default_rng(41)
    good = (_indices(rng, 4, (8,)), _scores(rng, (8, 4)))
    metric = SafeTopKAccuracy(top_k=2, check="lazy")
    oracle = mx.metric.TopKAccuracy(top_k=2)
    oracle.update(*good)

    metric.update(*good)
    metric.update(nd.array(np.arange(8, dtype=np.float32) / 8), good[1])
    metric.update(*good)

    with pytest.raises(NonIntegerLabelError, match=r"^batch 1: .*look normalized"):
        metric.get()
    assert metric.get() == oracle.get()


def test_topk_off_is_plain_mxnet_on_invalid_labels() -> None:
    labels = nd.array(np.arange(1, 5, dtype=np.float32) / 4)
    preds = _scores(np.random.default_rng(1), (4, 4))
    metric = SafeTopKAccuracy(top_k=2, check="off")
    oracle = mx.metric.TopKAccuracy(top_k=2)

    metric.update(labels, preds)
    oracle.update(labels, preds)

    _assert_same_results(metric, oracle)


def test_topk_config_keeps_name_as_given() -> None:
    metric = SafeTopKAccuracy(top_k=5)

    assert metric.name == "top_k_accuracy_5"
    assert metric.get_config()["name"] == "top_k_accuracy"


# --- MultiLabelAccuracy ---------------------------------------------------------------------


def _multilabel_oracle(
    labels: np.ndarray[Any, Any], probs: np.ndarray[Any, Any], threshold: float, average: str
) -> tuple[int, int]:
    hits = (probs > threshold) == (labels == 1)
    if average == "hamming":
        return int(hits.sum()), hits.size
    return int(hits.all(axis=1).sum()), hits.shape[0]


@pytest.mark.parametrize("check", CHECK_MODES)
@pytest.mark.parametrize("average", ["exact_match", "hamming"])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_multilabel_matches_numpy(check: CheckMode, average: Any, threshold: float) -> None:
    rng = np.random.default_rng(43)
    metric = MultiLabelAccuracy(threshold=threshold, average=average, check=check)
    correct, total = 0, 0

    for _ in range(3):
        labels = (rng.random((10, 4)) < 0.4).astype(np.float32)
        probs = rng.random((10, 4), dtype=np.float32)
        metric.update(nd.array(labels), nd.array(probs))
        batch_correct, batch_total = _multilabel_oracle(labels, probs, threshold, average)
        correct += batch_correct
        total += batch_total

    assert metric.sum_metric == correct
    assert metric.num_inst == total
    assert metric.global_sum_metric == correct
    assert metric.get() == ("multilabel_accuracy", correct / total)


@pytest.mark.parametrize("check", ["eager", "lazy"])
@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_multilabel_logits_match_sigmoid_probabilities(check: CheckMode, threshold: float) -> None:
    rng = np.random.default_rng(47)
    labels = nd.array((rng.random((32, 5)) < 0.5).astype(np.float32))
    logits = nd.array(rng.normal(0, 3, size=(32, 5)).astype(np.float32))
    from_logits = MultiLabelAccuracy(threshold=threshold, from_logits=True, check=check)
    from_probs = MultiLabelAccuracy(threshold=threshold, check=check)

    from_logits.update(labels, logits)
    from_probs.update(labels, nd.sigmoid(logits))

    assert from_logits.get() == from_probs.get()


def test_multilabel_host_and_lazy_agree_at_threshold() -> None:
    labels = np.array([[1, 0, 1, 0, 1]], dtype=np.float32)
    probs = np.array([[0.5, 0.5, 0.50001, 0.49999, np.nextafter(0.5, 1, dtype=np.float32)]])
    eager = MultiLabelAccuracy(average="hamming", check="eager")
    lazy = MultiLabelAccuracy(average="hamming", check="lazy")
    correct, total = _multilabel_oracle(labels, probs.astype(np.float32), 0.5, "hamming")

    eager.update(nd.array(labels), nd.array(probs))
    lazy.update(nd.array(labels), nd.array(probs))

    assert eager.get() == ("multilabel_accuracy", correct / total)
    assert lazy.get() == ("multilabel_accuracy", correct / total)


def test_multilabel_lazy_reads_only_at_get(reads: _ReadCounter) -> None:
    rng = np.random.default_rng(53)
    batches = [
        (nd.array((rng.random((8, 3)) < 0.5).astype(np.float32)), _scores(rng, (8, 3)))
        for _ in range(5)
    ]
    metric = MultiLabelAccuracy(check="lazy")
    reads.calls.clear()

    for labels, probs in batches:
        metric.update(labels, probs)
    reads_during_updates = list(reads.calls)
    metric.get()

    assert reads_during_updates == []
    assert len(reads.calls) > 0
    assert metric.num_inst == 40


@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_multilabel_minus_one_targets(check: CheckMode) -> None:
    metric = MultiLabelAccuracy(check=check)

    with pytest.raises(LabelRangeError, match=r"-1\.0 at labels\[0, 1\].*\(labels \+ 1\) / 2"):
        metric.update(nd.array([[1, -1, 1]]), nd.array([[0.9, 0.2, 0.8]]))
        metric.get()


def test_multilabel_class_index_vector() -> None:
    with pytest.raises(LabelLayoutError, match=r"shape \(3,\) but multi-label .*SafeAccuracy"):
        MultiLabelAccuracy().update(nd.array([0, 2, 1]), _scores(np.random.default_rng(1), (3, 3)))


def test_multilabel_class_index_values() -> None:
    labels = nd.array([[0, 2], [1, 3]])

    with pytest.raises(LabelRangeError, match=r"2\.0 at labels\[0, 1\].*look like class indices"):
        MultiLabelAccuracy().update(labels, _scores(np.random.default_rng(1), (2, 2)))


def test_multilabel_soft_targets() -> None:
    with pytest.raises(NonIntegerLabelError, match=r"0\.7 at labels\[0, 0\]"):
        MultiLabelAccuracy().update(nd.array([[0.7, 1]]), nd.array([[0.9, 0.2]]))


@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_multilabel_logits_without_from_logits(check: CheckMode) -> None:
    metric = MultiLabelAccuracy(check=check)

    with pytest.raises(LabelRangeError, match=r"preds contain values outside .*from_logits=True"):
        metric.update(nd.array([[1, 0]]), nd.array([[2.5, -1.0]]))
        metric.get()


def test_multilabel_one_dim_preds() -> None:
    with pytest.raises(LabelShapeError, match=r"preds have shape \(3,\) but multi-label"):
        MultiLabelAccuracy().update(nd.array([[1], [0], [1]]), nd.array([0.2, 0.4, 0.9]))


def test_multilabel_column_mismatch() -> None:
    with pytest.raises(LabelLayoutError, match=r"labels have 2 columns .* have 3"):
        MultiLabelAccuracy().update(nd.array([[1, 0]]), nd.array([[0.2, 0.4, 0.9]]))


def test_multilabel_batch_size_mismatch() -> None:
    with pytest.raises(LabelShapeError, match=r"shape \(2, 3\) do not match .* \(1, 3\)"):
        MultiLabelAccuracy().update(nd.array([[1, 0, 0], [0, 1, 1]]), nd.array([[0.2, 0.4, 0.9]]))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"threshold": 0.0}, ValueError, r"threshold=0\.0 must lie strictly between 0 and 1"),
        ({"threshold": 1}, ValueError, r"threshold=1 must lie strictly between 0 and 1"),
        ({"threshold": True}, ValueError, r"threshold=True must be a number"),
        ({"average": "macro"}, ValueError, r"average='macro' .*'exact_match', 'hamming'"),
        ({"from_logits": 1}, TypeError, r"from_logits=1 must be True or False"),
        ({"check": "never"}, ValueError, r"check='never' is not a check mode"),
    ],
    ids=["threshold-0", "threshold-1", "threshold-bool", "average", "from-logits", "check"],
)
def test_multilabel_rejects_bad_options(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        MultiLabelAccuracy(**options)


# --- docstring examples ---------------------------------------------------------------------


@pytest.mark.parametrize("module", [accuracy, topk, multilabel], ids=lambda m: m.__name__)
def test_metrics_docstring_examples_pass(module: Any) -> None:
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)

    assert results.failed == 0
