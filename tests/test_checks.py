"""Tests for gluon_safe.checks: host checks, their lazy twins and the shape checks."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gluon_safe._compat import mx, nd
from gluon_safe.checks import (
    LazyLabelCheck,
    as_label_array,
    check_binary,
    check_class_indices,
    check_multilabel,
    check_probability_rows,
    check_sparse_layout,
    is_host_array,
    normalize_check_mode,
    resolve_check_mode,
)
from gluon_safe.errors import (
    LabelError,
    LabelLayoutError,
    LabelRangeError,
    LabelShapeError,
    LabelTypeError,
    NonFiniteLabelError,
    NonIntegerLabelError,
)

# --- sparse class indices -------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2],
        np.array([0.0, 2.0, 1.0], dtype=np.float32),
        np.array([[0], [2]], dtype=np.float64),
        np.array([], dtype=np.float32),
        np.array([2, 2, 2], dtype=np.int64),
    ],
    ids=["list", "integral-float32", "column", "empty", "int64"],
)
def test_class_indices_valid(labels: object) -> None:
    check_class_indices(labels, num_classes=3)


def test_class_indices_normalized_labels() -> None:
    labels = np.arange(1, 7, dtype=np.float32) / 6

    with pytest.raises(NonIntegerLabelError, match=r"0\.16666667 at labels\[0\]") as info:
        check_class_indices(labels, num_classes=6)

    error = info.value
    assert "look normalized" in str(error)
    assert "LabelEncoder" in error.hint
    assert error.count == 5
    assert error.total == 6
    assert error.positions[0] == (0,)


def test_class_indices_continuous_targets() -> None:
    with pytest.raises(NonIntegerLabelError, match=r"\[0\.5, 7\.5\].*regression"):
        check_class_indices([0.5, 7.5, 3.0], num_classes=10)


def test_class_indices_one_based() -> None:
    with pytest.raises(LabelRangeError, match=r"3\.0 at labels\[2\].*look 1-based"):
        check_class_indices(np.array([1.0, 2.0, 3.0]), num_classes=3)


def test_class_indices_far_out_of_range() -> None:
    with pytest.raises(LabelRangeError, match=r"1000\.0 at labels\[1\]") as info:
        check_class_indices(np.array([0.0, 1000.0]), num_classes=3)

    assert "0..2" in info.value.expected
    assert "1001 units" in info.value.hint


def test_class_indices_negative_padding() -> None:
    with pytest.raises(LabelRangeError, match=r"-1\.0 at labels\[1\].*ignore_label=-1"):
        check_class_indices(np.array([0.0, -1.0, 2.0]), num_classes=3)


def test_class_indices_ignore_label_exempts_padding() -> None:
    check_class_indices(np.array([0.0, -1.0, 2.0]), num_classes=3, ignore_label=-1)
    check_class_indices(np.array([-1.0, -1.0]), num_classes=3, ignore_label=-1)


def test_class_indices_ignore_label_keeps_other_checks() -> None:
    with pytest.raises(LabelRangeError, match=r"-2\.0 at labels\[2\]"):
        check_class_indices(np.array([0.0, -1.0, -2.0]), num_classes=3, ignore_label=-1)


def test_class_indices_signed_binary() -> None:
    with pytest.raises(LabelRangeError, match=r"\{-1, 1\} binary"):
        check_class_indices(np.array([-1.0, 1.0, 1.0, -1.0]))


def test_class_indices_other_negative() -> None:
    with pytest.raises(LabelRangeError, match=r"-3\.0 at labels\[0\].*clip negative"):
        check_class_indices(np.array([-3.0, 1.0]), num_classes=3)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_class_indices_nonfinite(bad: float) -> None:
    labels = np.array([0.0, 1.0, bad], dtype=np.float32)
    pattern = re.escape(f"{'nan' if bad != bad else bad} at labels[2]")

    with pytest.raises(NonFiniteLabelError, match=pattern) as info:
        check_class_indices(labels, num_classes=3)

    assert info.value.positions == ((2,),)


def test_class_indices_2d_positions() -> None:
    labels = np.array([[0.0, 1.0], [0.5, 2.0]])

    with pytest.raises(NonIntegerLabelError, match=r"0\.5 at labels\[1, 0\]") as info:
        check_class_indices(labels, num_classes=3)

    assert info.value.positions == ((1, 0),)


def test_class_indices_many_offenders_listed_briefly() -> None:
    labels = np.full(100, 0.5)

    with pytest.raises(NonIntegerLabelError, match=r"and 95 more \(100 of 100 values\)") as info:
        check_class_indices(labels, num_classes=3)

    assert len(info.value.values) == 5
    assert info.value.count == 100


def test_class_indices_strings_rejected() -> None:
    with pytest.raises(LabelTypeError, match=r"dtype <U3.*'cat'"):
        check_class_indices(np.array(["cat", "dog"]))


def test_class_indices_ndarray_input() -> None:
    with pytest.raises(NonIntegerLabelError, match=r"0\.2 at labels\[0\]"):
        check_class_indices(nd.array([0.2, 1.0]), num_classes=3)


def test_class_indices_batch_and_name_in_message() -> None:
    with pytest.raises(LabelRangeError, match=r"^batch 7: targets contain .*5\.0 at targets\[0\]"):
        check_class_indices([5.0], num_classes=3, name="targets", batch=7)


def test_label_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="non-integer"):
        check_class_indices([0.5], num_classes=3)


finite_floats = st.floats(-5, 12, allow_nan=False, width=32)


@settings(max_examples=200, deadline=None)
@given(
    labels=hnp.arrays(
        np.float32,
        st.integers(1, 40),
        elements=st.one_of(
            st.integers(-3, 12).map(float), finite_floats, st.just(math.nan), st.just(math.inf)
        ),
    ),
    num_classes=st.integers(1, 10),
)
def test_class_indices_verdict_matches_definition(labels: np.ndarray, num_classes: int) -> None:
    valid = bool(
        np.all(np.isfinite(labels))
        and np.all(labels == np.floor(labels))
        and np.all(labels >= 0)
        and np.all(labels < num_classes)
    )
    if valid:
        check_class_indices(labels, num_classes=num_classes)
    else:
        with pytest.raises(LabelError):
            check_class_indices(labels, num_classes=num_classes)


# --- dense rows, binary and multi-label -------------------------------------------------


def test_probability_rows_valid() -> None:
    check_probability_rows(np.eye(4)[[0, 3, 1]], num_classes=4, soft=False)
    check_probability_rows(np.array([[0.2, 0.8], [0.5, 0.5]], dtype=np.float32), soft=True)


def test_probability_rows_not_a_distribution() -> None:
    labels = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])

    with pytest.raises(LabelLayoutError, match=r"2\.0 at labels\[1\].*\[2, 0, 0\]"):
        check_probability_rows(labels)


def test_probability_rows_multi_hot() -> None:
    labels = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])

    with pytest.raises(LabelLayoutError, match=r"multi-hot.*2\.0 at labels\[0\]"):
        check_probability_rows(labels)


def test_probability_rows_soft_rejected_when_hard() -> None:
    with pytest.raises(LabelLayoutError, match=r"not one-hot.*labels\[0\]"):
        check_probability_rows(np.array([[0.3, 0.7]]), soft=False)


def test_probability_rows_negative() -> None:
    with pytest.raises(LabelRangeError, match=r"-0\.5 at labels\[0, 1\]"):
        check_probability_rows(np.array([[1.5, -0.5]]))


def test_probability_rows_nan() -> None:
    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[0, 0\]"):
        check_probability_rows(np.array([[math.nan, 1.0]]))


def test_probability_rows_wrong_width() -> None:
    with pytest.raises(LabelLayoutError, match=r"3 columns.*num_classes=4"):
        check_probability_rows(np.eye(3), num_classes=4)


def test_probability_rows_scalar() -> None:
    with pytest.raises(LabelLayoutError, match="scalar"):
        check_probability_rows(np.float32(1.0))


def test_binary_valid() -> None:
    check_binary([0.0, 1.0, 0.25])
    check_binary(np.array([0, 1, 1]), strict=True)


def test_binary_signed_labels() -> None:
    with pytest.raises(LabelRangeError, match=r"-1\.0 at labels\[0\].*\(labels \+ 1\) / 2"):
        check_binary(np.array([-1.0, 1.0]))


def test_binary_class_indices() -> None:
    with pytest.raises(LabelRangeError, match=r"2\.0 at labels\[2\].*class indices"):
        check_binary(np.array([0.0, 1.0, 2.0]))


def test_binary_strict_soft_target() -> None:
    with pytest.raises(NonIntegerLabelError, match=r"0\.3 at labels\[1\].*strict=False"):
        check_binary(np.array([1.0, 0.3]), strict=True)


def test_binary_nan() -> None:
    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[0\]"):
        check_binary(np.array([math.nan, 1.0]))


def test_multilabel_valid() -> None:
    check_multilabel(np.array([[1, 0, 1], [0, 0, 0]]), num_labels=3)


def test_multilabel_wrong_rank() -> None:
    with pytest.raises(LabelLayoutError, match=r"shape \(3,\).*2-D"):
        check_multilabel(np.array([0, 1, 2]))


def test_multilabel_wrong_width() -> None:
    with pytest.raises(LabelLayoutError, match=r"2 columns.*num_labels=3"):
        check_multilabel(np.zeros((4, 2)), num_labels=3)


def test_multilabel_soft_value_strict() -> None:
    with pytest.raises(NonIntegerLabelError, match=r"0\.5 at labels\[0, 1\]"):
        check_multilabel(np.array([[1.0, 0.5]]))


def test_as_label_array_object_dtype() -> None:
    with pytest.raises(LabelTypeError, match="dtype object"):
        as_label_array(np.array([1, "a"], dtype=object))


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label_shape", "pred_shape", "axis"),
    [((8,), (8, 3), 1), ((8, 1), (8, 3), 1), ((8,), (8,), 1), ((4, 5), (4, 3, 5), 1),
     ((8, 1), (8, 1), 1), ((6,), (6, 2), -1)],
    ids=["sparse", "column", "indices-as-preds", "sequence", "single-column", "negative-axis"],
)
def test_sparse_layout_valid(label_shape: tuple, pred_shape: tuple, axis: int) -> None:
    check_sparse_layout(label_shape, pred_shape, axis=axis)


def test_sparse_layout_one_hot() -> None:
    values = np.eye(3)[[0, 1, 2, 0]]

    with pytest.raises(LabelLayoutError, match=r"shape \(4, 3\) look like one-hot rows"):
        check_sparse_layout((4, 3), (4, 3), label_values=values)


def test_sparse_layout_soft_targets() -> None:
    values = np.full((4, 2), 0.5)

    with pytest.raises(LabelLayoutError, match="soft-target"):
        check_sparse_layout((4, 2), (4, 2), label_values=values)


def test_sparse_layout_multi_hot() -> None:
    values = np.array([[1, 1, 0], [0, 1, 1]])

    with pytest.raises(LabelLayoutError, match=r"multi-hot.*MultiLabelAccuracy"):
        check_sparse_layout((2, 3), (2, 3), label_values=values)


def test_sparse_layout_dense_fix_named() -> None:
    with pytest.raises(LabelLayoutError, match="pass sparse_label=False"):
        check_sparse_layout((2, 3), (2, 3), dense_fix="pass sparse_label=False")


def test_sparse_layout_batch_mismatch() -> None:
    with pytest.raises(LabelShapeError, match=r"shape \(5,\) do not match .*\(4, 3\)"):
        check_sparse_layout((5,), (4, 3))


def test_sparse_layout_one_hot_wrong_width() -> None:
    with pytest.raises(LabelShapeError, match="4 columns and the predictions 3"):
        check_sparse_layout((4, 4), (4, 3))


def test_sparse_layout_bad_axis() -> None:
    with pytest.raises(LabelShapeError, match="axis=3 is out of range"):
        check_sparse_layout((4,), (4, 3), axis=3)


def test_sparse_layout_scalar_prediction() -> None:
    with pytest.raises(LabelShapeError, match="scalar"):
        check_sparse_layout((4,), ())


def test_shape_error_is_layout_error() -> None:
    assert issubclass(LabelShapeError, LabelLayoutError)


# --- lazy twins ----------------------------------------------------------------------------

HOST_CASES = [
    ("indices", dict(num_classes=3), np.array([0.0, 0.25, 2.0])),
    ("indices", dict(num_classes=3), np.array([1.0, 2.0, 3.0])),
    ("indices", dict(num_classes=3), np.array([0.0, -1.0, 2.0])),
    ("indices", dict(num_classes=3), np.array([0.0, math.nan, 2.0])),
    ("indices", dict(num_classes=3, ignore_label=-1.0), np.array([0.0, -1.0, 7.0])),
    ("indices", dict(num_classes=None), np.array([-1.0, 1.0])),
    ("rows", dict(), np.array([[1.0, 0.0], [2.0, 0.0]])),
    ("rows", dict(), np.array([[1.0, 1.0], [0.0, 1.0]])),
    ("rows", dict(soft=False), np.array([[1.0, 0.0], [0.5, 0.5]])),
    ("rows", dict(), np.array([[1.5, -0.5]])),
    ("binary", dict(), np.array([[1.0, -1.0]])),
    ("binary", dict(strict=True), np.array([1.0, 0.5])),
    ("binary", dict(), np.array([math.inf, 0.5])),
]


def _host_check(task: str, options: dict, labels: np.ndarray) -> None:
    if task == "indices":
        check_class_indices(labels, **options)
    elif task == "rows":
        check_probability_rows(labels, **options)
    else:
        check_binary(labels, **options)


@pytest.mark.parametrize(("task", "options", "labels"), HOST_CASES)
def test_lazy_check_matches_host_check(task: str, options: dict, labels: np.ndarray) -> None:
    with pytest.raises(LabelError) as host:
        _host_check(task, options, labels)
    lazy = LazyLabelCheck(task, **options)

    lazy.update(nd.array(labels, dtype="float32"), batch=3)
    with pytest.raises(LabelError) as device:
        lazy.flush()

    assert type(device.value) is type(host.value)
    assert device.value.summary == host.value.summary
    assert device.value.hint == host.value.hint
    assert device.value.values[0] == pytest.approx(host.value.values[0], rel=1e-6, nan_ok=True)
    assert device.value.positions[0] == host.value.positions[0]
    assert device.value.count == host.value.count
    assert device.value.batch == 3


def test_lazy_check_names_first_bad_batch() -> None:
    lazy = LazyLabelCheck("indices", num_classes=3)
    lazy.update(nd.array([0, 1, 2]), batch=0)
    lazy.update(nd.array([0, 0.5]), batch=1)
    lazy.update(nd.array([5, 1]), batch=2)

    with pytest.raises(NonIntegerLabelError, match=r"^batch 1: .*0\.5 at labels\[1\]"):
        lazy.flush()

    assert lazy.pending == 0
    lazy.flush()


def test_lazy_check_valid_batches_pass() -> None:
    lazy = LazyLabelCheck("indices", num_classes=4, ignore_label=-1)
    for batch in range(5):
        lazy.update(nd.array([0, 3, -1, 2]), batch=batch)

    assert lazy.pending == 5
    lazy.flush()


def test_lazy_check_across_contexts() -> None:
    lazy = LazyLabelCheck("indices", num_classes=3)
    lazy.update(nd.array([0, 1], ctx=mx.cpu(0)), batch=0)
    lazy.update(nd.array([1, 9], ctx=mx.cpu(1)), batch=1)
    lazy.update(nd.array([0, 2], ctx=mx.cpu(0)), batch=2)

    with pytest.raises(LabelRangeError, match=r"^batch 1: .*9\.0 at labels\[1\]"):
        lazy.flush()


def test_lazy_check_reset_drops_pending() -> None:
    lazy = LazyLabelCheck("indices", num_classes=3)
    lazy.update(nd.array([7]))

    lazy.reset()

    lazy.flush()


def test_lazy_check_empty_batch_skipped() -> None:
    lazy = LazyLabelCheck("indices", num_classes=3)
    lazy.update(nd.array(np.zeros(0, dtype=np.float32)))

    assert lazy.pending == 0


def test_lazy_check_unknown_task() -> None:
    with pytest.raises(ValueError, match="task='sparse' is not a lazy check task"):
        LazyLabelCheck("sparse")


def test_lazy_update_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    for method in ("asnumpy", "asscalar", "wait_to_read"):
        original = getattr(mx.nd.NDArray, method)

        def counted(self: object, *args: object, _original=original, **kwargs: object) -> object:
            reads.append(_original.__name__)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(mx.nd.NDArray, method, counted)
    lazy = LazyLabelCheck("indices", num_classes=10)
    labels = [nd.array(np.random.randint(0, 10, 32)) for _ in range(20)]

    for batch, label in enumerate(labels):
        lazy.update(label, batch=batch)
    assert reads == []

    lazy.flush()
    assert reads == ["asnumpy"]


# --- modes -------------------------------------------------------------------------------


def test_check_mode_unknown() -> None:
    with pytest.raises(ValueError, match=r"check='fast' is not a check mode.*'lazy'"):
        normalize_check_mode("fast")


@pytest.mark.parametrize("mode", ["auto", "eager", "lazy", "off"])
def test_check_mode_known(mode: str) -> None:
    assert normalize_check_mode(mode) == mode


def test_resolve_auto_for_host_labels() -> None:
    assert resolve_check_mode("auto", np.zeros(3)) == "eager"
    assert resolve_check_mode("auto", nd.zeros(3, ctx=mx.cpu(1))) == "eager"
    assert resolve_check_mode("lazy", np.zeros(3)) == "lazy"
    assert is_host_array([1, 2])
