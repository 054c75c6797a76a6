"""Tests for gluon_safe.losses, with MXNet's own loss classes as the oracle."""

from __future__ import annotations

import collections
import functools
import math
from typing import Any, Callable, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import NDArray, autograd, gluon, mx, nd
from gluon_safe.errors import (
    LabelError,
    LabelLayoutError,
    LabelRangeError,
    LabelShapeError,
    NonFiniteLabelError,
    NonIntegerLabelError,
)
from gluon_safe.losses import (
    SafeSigmoidBCELoss,
    SafeSigmoidBinaryCrossEntropyLoss,
    SafeSoftmaxCELoss,
    SafeSoftmaxCrossEntropyLoss,
)

CPUS = [mx.cpu(0), mx.cpu(1), mx.cpu(2)]


# --- helpers -----------------------------------------------------------------------------


def _loss_and_grad(loss: Any, pred: NDArray, label: NDArray, *extra: Any) -> tuple[Any, Any]:
    """Return the per-sample losses and d(sum of losses)/d(pred) as numpy arrays."""
    pred = pred.copy()
    pred.attach_grad()
    with autograd.record():
        out = loss(pred, label, *extra)
    out.backward()
    return out.asnumpy(), pred.grad.asnumpy()


def _build(cls: Any, hybridize: bool, **options: Any) -> Any:
    loss = cls(**options)
    if hybridize:
        loss.hybridize()
    return loss


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _is_class_indices(labels: np.ndarray, num_classes: int) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(
            np.all(np.isfinite(labels))
            and np.all(np.floor(labels) == labels)
            and np.all(labels >= 0)
            and np.all(labels < num_classes)
        )


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> collections.Counter:
    """Count every blocking read of an NDArray while still performing it."""
    counts: collections.Counter = collections.Counter()

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in ("asnumpy", "asscalar", "wait_to_read"):
        monkeypatch.setattr(NDArray, name, counting(name, getattr(NDArray, name)))
    waitall = counting("waitall", mx.nd.waitall)
    monkeypatch.setattr(mx.nd, "waitall", waitall)
    monkeypatch.setattr(mx.nd.ndarray, "waitall", waitall)
    return counts


# --- softmax cross-entropy: parity with MXNet on valid labels ----------------------------


def _sparse_case(
    pred_shape: tuple[int, ...], axis: int = -1, dtype: str = "float32", column: bool = False,
    max_class: Optional[int] = None,
) -> Callable[[np.random.RandomState], tuple[NDArray, NDArray]]:
    def make(rng: np.random.RandomState) -> tuple[NDArray, NDArray]:
        pred = rng.normal(size=pred_shape).astype(np.float32)
        label_shape = list(pred_shape)
        num_classes = label_shape.pop(axis)
        high = num_classes if max_class is None else max_class + 1
        labels = rng.randint(0, high, size=label_shape)
        if column:
            labels = labels[..., None]
        return nd.array(pred), nd.array(labels, dtype=dtype)

    return make


def _dense_case(
    pred_shape: tuple[int, ...], axis: int = -1, one_hot: bool = False
) -> Callable[[np.random.RandomState], tuple[NDArray, NDArray]]:
    def make(rng: np.random.RandomState) -> tuple[NDArray, NDArray]:
        pred = rng.normal(size=pred_shape).astype(np.float32)
        if one_hot:
            indices = rng.randint(0, pred_shape[axis], size=pred.sum(axis=axis).shape)
            rows = nd.one_hot(nd.array(indices), pred_shape[axis])
            rows = nd.moveaxis(rows, -1, axis)
        else:
            rows = nd.array(_softmax(rng.normal(size=pred_shape), axis).astype(np.float32))
        return nd.array(pred), rows

    return make


def _log_softmax_case(rng: np.random.RandomState) -> tuple[NDArray, NDArray]:
    pred, labels = _sparse_case((6, 4))(rng)
    return nd.log_softmax(pred, axis=-1), labels


SOFTMAX_PARITY = {
    "default": ({}, _sparse_case((6, 4)), False),
    "column-labels": ({}, _sparse_case((6, 4), column=True), False),
    "int32-labels": ({}, _sparse_case((6, 4), dtype="int32"), False),
    "sample-weight": ({}, _sparse_case((6, 4)), True),
    "weight": ({"weight": 0.5}, _sparse_case((6, 4)), False),
    "axis-1": ({"axis": 1}, _sparse_case((5, 4, 3), axis=1), False),
    "from-logits": ({"from_logits": True}, _log_softmax_case, False),
    "batch-axis-1": ({"batch_axis": 1}, _sparse_case((3, 5, 4)), False),
    "num-classes-equal": ({"num_classes": 4}, _sparse_case((6, 4)), False),
    "num-classes-fewer": ({"num_classes": 3}, _sparse_case((6, 4), max_class=2), True),
    "ignore-label-unused": ({"ignore_label": -1}, _sparse_case((6, 4)), True),
    "dense": ({"sparse_label": False}, _dense_case((6, 4)), False),
    "dense-one-hot": ({"sparse_label": False}, _dense_case((6, 4), one_hot=True), True),
    "dense-axis-1": ({"sparse_label": False, "axis": 1}, _dense_case((5, 4, 3), axis=1), False),
}


@pytest.mark.parametrize("check", ["auto", "lazy"])
@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
@pytest.mark.parametrize("case", list(SOFTMAX_PARITY), ids=list(SOFTMAX_PARITY))
def test_softmax_matches_mxnet(case: str, hybridize: bool, check: str) -> None:
    options, make, with_sample_weight = SOFTMAX_PARITY[case]
    rng = np.random.RandomState(7)
    pred, labels = make(rng)
    extra = []
    if with_sample_weight:
        extra.append(nd.array(rng.uniform(0.5, 2.0, size=(pred.shape[0], 1))))
    mxnet_options = {k: v for k, v in options.items() if k not in ("num_classes", "ignore_label")}
    ours = _build(SafeSoftmaxCrossEntropyLoss, hybridize, check=check, **options)
    reference = _build(gluon.loss.SoftmaxCrossEntropyLoss, hybridize, **mxnet_options)

    loss, grad = _loss_and_grad(ours, pred, labels, *extra)
    expected_loss, expected_grad = _loss_and_grad(reference, pred, labels, *extra)

    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    ours.flush()


@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
def test_softmax_matches_mxnet_per_context(hybridize: bool) -> None:
    rng = np.random.RandomState(3)
    ours = _build(SafeSoftmaxCrossEntropyLoss, hybridize)
    reference = _build(gluon.loss.SoftmaxCrossEntropyLoss, hybridize)

    for ctx in CPUS:
        pred = nd.array(rng.normal(size=(4, 5)), ctx=ctx)
        labels = nd.array(rng.randint(0, 5, size=4), ctx=ctx)
        loss, grad = _loss_and_grad(ours, pred, labels)
        expected_loss, expected_grad = _loss_and_grad(reference, pred, labels)

        np.testing.assert_array_equal(loss, expected_loss)
        np.testing.assert_array_equal(grad, expected_grad)


def test_softmax_aliases_and_subclass() -> None:
    assert SafeSoftmaxCELoss is SafeSoftmaxCrossEntropyLoss
    assert isinstance(SafeSoftmaxCELoss(), gluon.loss.SoftmaxCrossEntropyLoss)
    assert SafeSoftmaxCELoss().check == "auto"


def test_softmax_symbol_inputs_build_graph() -> None:
    out = SafeSoftmaxCrossEntropyLoss(ignore_label=-1)(mx.sym.var("pred"), mx.sym.var("label"))

    assert isinstance(out, mx.sym.Symbol)


# --- softmax cross-entropy: the mistakes -------------------------------------------------


@pytest.mark.parametrize("check", ["auto", "eager"])
@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
def test_softmax_far_out_of_range(hybridize: bool, check: str) -> None:
    loss = _build(SafeSoftmaxCrossEntropyLoss, hybridize, check=check)
    pred = nd.zeros((2, 3))

    with pytest.raises(LabelRangeError, match=r"1000\.0 at labels\[1\]") as info:
        loss(pred, nd.array([0, 1000]))

    assert "0..2" in info.value.expected
    assert "num_classes=3" in str(info.value)


@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
def test_softmax_one_based(hybridize: bool) -> None:
    loss = _build(SafeSoftmaxCrossEntropyLoss, hybridize)

    with pytest.raises(LabelRangeError, match=r"3\.0 at labels\[2\].*look 1-based"):
        loss(nd.zeros((3, 3)), nd.array([1, 2, 3]))


def test_softmax_negative_without_ignore_label() -> None:
    loss = SafeSoftmaxCrossEntropyLoss()

    with pytest.raises(LabelRangeError, match=r"-1\.0 at labels\[1\].*ignore_label=-1"):
        loss(nd.zeros((3, 3)), nd.array([0, -1, 2]))


def test_softmax_normalized_labels() -> None:
    loss = SafeSoftmaxCrossEntropyLoss()

    with pytest.raises(NonIntegerLabelError, match=r"0\.5 at labels\[1\].*look normalized"):
        loss(nd.zeros((3, 3)), nd.array([0.0, 0.5, 1.0]))


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_softmax_nonfinite(bad: float) -> None:
    loss = SafeSoftmaxCrossEntropyLoss()
    printed = "nan" if math.isnan(bad) else "inf"

    with pytest.raises(NonFiniteLabelError, match=rf"{printed} at labels\[2\]"):
        loss(nd.zeros((3, 3)), nd.array([0, 1, bad]))


@pytest.mark.parametrize("check", ["auto", "lazy"])
def test_softmax_one_hot_to_sparse_loss(check: str) -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check=check)
    one_hot = nd.one_hot(nd.array([0, 2, 1, 1]), 3)

    with pytest.raises(LabelLayoutError, match=r"shape \(4, 3\).*sparse_label=False"):
        loss(nd.zeros((4, 3)), one_hot)


def test_softmax_one_hot_named_on_host() -> None:
    one_hot = nd.one_hot(nd.array([0, 2, 1, 1]), 3)

    with pytest.raises(LabelLayoutError, match="look like one-hot rows"):
        SafeSoftmaxCrossEntropyLoss()(nd.zeros((4, 3)), one_hot)


@pytest.mark.parametrize("check", ["auto", "lazy"])
def test_softmax_batch_size_mismatch(check: str) -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check=check)
    pattern = r"shape \(3,\) do not match predictions of shape \(4, 3\)"

    with pytest.raises(LabelShapeError, match=pattern):
        loss(nd.zeros((4, 3)), nd.array([0, 1, 2]))


def test_softmax_num_classes_above_outputs() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(num_classes=5)

    with pytest.raises(LabelShapeError, match=r"predictions have 3 classes.*num_classes=5"):
        loss(nd.zeros((2, 3)), nd.array([0, 1]))


def test_softmax_num_classes_below_outputs() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(num_classes=3)

    with pytest.raises(LabelRangeError, match=r"3\.0 at labels\[1\].*num_classes=3"):
        loss(nd.zeros((2, 4)), nd.array([0, 3]))


def test_softmax_dense_row_sum() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(sparse_label=False)
    rows = nd.array([[2, 0, 0], [0, 1, 0]])

    with pytest.raises(LabelLayoutError, match=r"do not sum to 1.*2\.0 at labels\[0\]"):
        loss(nd.zeros((2, 3)), rows)


def test_softmax_dense_negative() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(sparse_label=False)
    rows = nd.array([[1.5, -0.5, 0.0], [0, 1, 0]])

    with pytest.raises(LabelRangeError, match=r"-0\.5 at labels\[0, 1\]"):
        loss(nd.zeros((2, 3)), rows)


def test_softmax_dense_given_class_indices() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(sparse_label=False)

    with pytest.raises(LabelShapeError, match=r"shape \(2,\).*pass sparse_label=True"):
        loss(nd.zeros((2, 3)), nd.array([0, 2]))


def test_softmax_dense_num_classes_mismatch() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(sparse_label=False, num_classes=4)

    with pytest.raises(LabelShapeError, match=r"predictions have 3 classes.*num_classes=4"):
        loss(nd.zeros((2, 3)), nd.array([[1, 0, 0], [0, 1, 0]]))


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"check": "fast"}, r"check='fast' is not a check mode"),
        ({"num_classes": 0}, r"num_classes=0 is invalid"),
        ({"num_classes": 2.5}, r"num_classes=2\.5 is not an integer"),
        ({"num_classes": True}, r"num_classes=True is not an integer"),
        ({"ignore_label": "pad"}, r"ignore_label='pad' is not a number"),
        ({"ignore_label": math.nan}, r"ignore_label=nan is invalid"),
        ({"ignore_label": -1, "sparse_label": False}, r"ignore_label=-1 applies to sparse"),
    ],
    ids=["check", "num-classes-0", "num-classes-float", "num-classes-bool", "ignore-str",
         "ignore-nan", "ignore-dense"],
)
def test_softmax_invalid_options(options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        SafeSoftmaxCrossEntropyLoss(**options)


def test_softmax_ignore_label_needs_legacy_mode() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(ignore_label=-1)

    with mx.util.np_array(active=True):
        with pytest.raises(NotImplementedError, match=r"ignore_label works only.*numpy mode off"):
            loss(nd.zeros((2, 3)), nd.array([0, -1]))


# --- softmax cross-entropy: ignore_label -------------------------------------------------


@pytest.mark.parametrize("ignore_label", [-1, 255])
@pytest.mark.parametrize("with_sample_weight", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
def test_softmax_ignore_label_matches_filtered_batch(
    hybridize: bool, with_sample_weight: bool, ignore_label: int
) -> None:
    rng = np.random.RandomState(11)
    pred = nd.array(rng.normal(size=(6, 3)))
    labels = np.array([2, ignore_label, 0, 1, ignore_label, 2], dtype=np.float32)
    kept = labels != ignore_label
    extra = [nd.array(rng.uniform(0.5, 2.0, size=(6, 1)))] if with_sample_weight else []
    kept_extra = [nd.array(e.asnumpy()[kept]) for e in extra]
    ours = _build(SafeSoftmaxCrossEntropyLoss, hybridize, ignore_label=ignore_label)
    reference = _build(gluon.loss.SoftmaxCrossEntropyLoss, hybridize)

    loss, grad = _loss_and_grad(ours, pred, nd.array(labels), *extra)
    kept_loss, kept_grad = _loss_and_grad(
        reference, nd.array(pred.asnumpy()[kept]), nd.array(labels[kept]), *kept_extra
    )

    np.testing.assert_array_equal(loss[kept], kept_loss)
    np.testing.assert_array_equal(grad[kept], kept_grad)
    assert np.all(loss[~kept] == 0)
    assert np.all(grad[~kept] == 0)


def test_softmax_ignore_label_per_position() -> None:
    rng = np.random.RandomState(5)
    pred = rng.normal(size=(3, 4, 5)).astype(np.float32)
    labels = rng.randint(0, 5, size=(3, 4)).astype(np.float32)
    labels[0, 1] = labels[2, 0] = labels[2, 3] = -1
    kept = labels != -1
    log_probs = np.log(_softmax(pred.astype(np.float64), axis=-1))
    picked = np.take_along_axis(log_probs, np.where(kept, labels, 0).astype(int)[..., None], -1)
    # The mean over the non-batch axis counts the ignored positions as zeros.
    expected = -(picked[..., 0] * kept).sum(axis=1) / labels.shape[1]

    loss, grad = _loss_and_grad(SafeSoftmaxCrossEntropyLoss(ignore_label=-1),
                                nd.array(pred), nd.array(labels))

    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert np.all(grad[~kept] == 0)
    assert np.all(np.abs(grad[kept]).sum(axis=-1) > 0)


def test_softmax_ignore_label_keeps_other_checks() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(ignore_label=-1)

    with pytest.raises(LabelRangeError, match=r"-2\.0 at labels\[2\]"):
        loss(nd.zeros((3, 3)), nd.array([0, -1, -2]))


def test_softmax_ignore_label_lazy() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(ignore_label=-1, check="lazy")
    loss(nd.zeros((3, 3)), nd.array([0, -1, 2]))
    loss.flush()

    loss(nd.zeros((3, 3)), nd.array([0, -1, 2]))
    loss(nd.zeros((3, 3)), nd.array([0, -1, 3]))

    with pytest.raises(LabelRangeError, match=r"batch 1: .*3\.0 at labels\[2\]"):
        loss.flush()


# --- softmax cross-entropy: random labels --------------------------------------------------


@st.composite
def sparse_batches(draw: st.DrawFn) -> tuple[int, np.ndarray, int]:
    num_classes = draw(st.integers(2, 5))
    size = draw(st.integers(1, 6))
    valid = st.integers(0, num_classes - 1).map(float)
    invalid = st.sampled_from(
        [-1.0, float(num_classes), num_classes + 1.0, 1000.0, 0.5, 2.25, math.nan, math.inf]
    )
    values = draw(st.lists(st.one_of(valid, valid, invalid), min_size=size, max_size=size))
    seed = draw(st.integers(0, 2**16))
    return num_classes, np.array(values, dtype=np.float32), seed


@settings(max_examples=60, deadline=None)
@given(batch=sparse_batches(), hybridize=st.booleans())
def test_softmax_random_labels_match_or_raise(
    batch: tuple[int, np.ndarray, int], hybridize: bool
) -> None:
    num_classes, labels, seed = batch
    pred = nd.array(np.random.RandomState(seed).normal(size=(labels.size, num_classes)))
    ours = _build(SafeSoftmaxCrossEntropyLoss, hybridize)
    reference = _build(gluon.loss.SoftmaxCrossEntropyLoss, hybridize)
    valid = _is_class_indices(labels, num_classes)

    try:
        loss = ours(pred, nd.array(labels)).asnumpy()
    except LabelError:
        assert not valid, f"valid labels {labels} were rejected"
        return

    assert valid, f"invalid labels {labels} were accepted"
    np.testing.assert_array_equal(loss, reference(pred, nd.array(labels)).asnumpy())


@settings(max_examples=60, deadline=None)
@given(batch=sparse_batches())
def test_softmax_lazy_verdict_matches_eager(batch: tuple[int, np.ndarray, int]) -> None:
    num_classes, labels, _ = batch
    pred = nd.zeros((labels.size, num_classes))
    eager = SafeSoftmaxCrossEntropyLoss(check="eager")
    lazy = SafeSoftmaxCrossEntropyLoss(check="lazy")

    eager_error = _raised(lambda: eager(pred, nd.array(labels)))
    lazy(pred, nd.array(labels))
    lazy_error = _raised(lazy.flush)

    assert (eager_error is None) == _is_class_indices(labels, num_classes)
    assert type(lazy_error) is type(eager_error)
    if eager_error is not None:
        assert isinstance(lazy_error, LabelError)
        assert lazy_error.positions[0] == eager_error.positions[0]


def _raised(call: Callable[[], Any]) -> Optional[LabelError]:
    try:
        call()
    except LabelError as error:
        return error
    return None


# --- sigmoid binary cross-entropy ----------------------------------------------------------


def _binary_case(
    pred_shape: tuple[int, ...], soft: bool = False, flat: bool = False, sigmoid: bool = False,
) -> Callable[[np.random.RandomState], tuple[NDArray, NDArray]]:
    def make(rng: np.random.RandomState) -> tuple[NDArray, NDArray]:
        pred = rng.normal(size=pred_shape).astype(np.float32)
        if sigmoid:
            pred = 1 / (1 + np.exp(-pred))
        if soft:
            labels = rng.uniform(0, 1, size=pred_shape)
        else:
            labels = rng.randint(0, 2, size=pred_shape)
        if flat:
            labels = labels.ravel()
        return nd.array(pred), nd.array(labels)

    return make


SIGMOID_PARITY = {
    "default": ({}, _binary_case((6, 3)), ()),
    "soft-targets": ({}, _binary_case((6, 3), soft=True), ()),
    "from-sigmoid": ({"from_sigmoid": True}, _binary_case((6, 3), sigmoid=True), ()),
    "sample-weight": ({}, _binary_case((6, 3)), ("sample_weight",)),
    "pos-weight": ({}, _binary_case((6, 3)), ("pos_weight",)),
    "both-weights": ({}, _binary_case((6, 3), soft=True), ("sample_weight", "pos_weight")),
    "from-sigmoid-pos-weight": (
        {"from_sigmoid": True}, _binary_case((6, 3), sigmoid=True), ("pos_weight",)
    ),
    "weight": ({"weight": 2.0}, _binary_case((6, 3)), ()),
    "batch-axis-1": ({"batch_axis": 1}, _binary_case((3, 6)), ()),
    "flat-labels": ({}, _binary_case((6, 3), flat=True), ()),
    "strict": ({"strict": True}, _binary_case((6, 3)), ()),
}


@pytest.mark.parametrize("check", ["auto", "lazy"])
@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
@pytest.mark.parametrize("case", list(SIGMOID_PARITY), ids=list(SIGMOID_PARITY))
def test_sigmoid_matches_mxnet(case: str, hybridize: bool, check: str) -> None:
    options, make, weights = SIGMOID_PARITY[case]
    rng = np.random.RandomState(13)
    pred, labels = make(rng)
    sample_weight = nd.array(rng.uniform(0.5, 2.0, size=(pred.shape[0], 1)))
    pos_weight = nd.array(rng.uniform(0.5, 3.0, size=(1, pred.shape[1])))
    extra = [
        sample_weight if "sample_weight" in weights else None,
        pos_weight if "pos_weight" in weights else None,
    ]
    while extra and extra[-1] is None:
        extra.pop()
    mxnet_options = {k: v for k, v in options.items() if k != "strict"}
    ours = _build(SafeSigmoidBinaryCrossEntropyLoss, hybridize, check=check, **options)
    reference = _build(gluon.loss.SigmoidBinaryCrossEntropyLoss, hybridize, **mxnet_options)

    loss, grad = _loss_and_grad(ours, pred, labels, *extra)
    expected_loss, expected_grad = _loss_and_grad(reference, pred, labels, *extra)

    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    ours.flush()


def test_sigmoid_aliases_and_subclass() -> None:
    assert SafeSigmoidBCELoss is SafeSigmoidBinaryCrossEntropyLoss
    assert isinstance(SafeSigmoidBCELoss(), gluon.loss.SigmoidBinaryCrossEntropyLoss)
    assert SafeSigmoidBCELoss(strict=True).strict is True


@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
def test_sigmoid_signed_targets(hybridize: bool) -> None:
    loss = _build(SafeSigmoidBinaryCrossEntropyLoss, hybridize)

    with pytest.raises(LabelRangeError, match=r"-1\.0 at labels\[1\].*\(labels \+ 1\) / 2"):
        loss(nd.zeros((4, 1)), nd.array([1, -1, 1, -1]))


def test_sigmoid_class_indices() -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss()

    with pytest.raises(LabelRangeError, match=r"2\.0 at labels\[2\].*look like class indices"):
        loss(nd.zeros((3, 1)), nd.array([0, 1, 2]))


def test_sigmoid_strict_rejects_soft_targets() -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss(strict=True)

    with pytest.raises(NonIntegerLabelError, match=r"0\.3 at labels\[1\].*strict=False"):
        loss(nd.zeros((2, 1)), nd.array([1.0, 0.3]))


def test_sigmoid_nan_target() -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss()

    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[0, 1\]"):
        loss(nd.zeros((2, 2)), nd.array([[0, math.nan], [1, 1]]))


@pytest.mark.parametrize("check", ["auto", "lazy"])
def test_sigmoid_one_label_per_sample(check: str) -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss(check=check)

    with pytest.raises(LabelShapeError, match=r"shape \(4,\).*one value per sample.*3 outputs"):
        loss(nd.zeros((4, 3)), nd.array([0, 1, 1, 0]))


def test_sigmoid_batch_size_mismatch() -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss()
    pattern = r"shape \(3, 1\) do not match.*\(4, 1\).*batch split"

    with pytest.raises(LabelShapeError, match=pattern):
        loss(nd.zeros((4, 1)), nd.zeros((3, 1)))


@pytest.mark.parametrize(
    ("options", "pattern"),
    [({"check": "never"}, r"check='never' is not a check mode"),
     ({"strict": 1}, r"strict=1 is not a bool")],
    ids=["check", "strict"],
)
def test_sigmoid_invalid_options(options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        SafeSigmoidBinaryCrossEntropyLoss(**options)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from([0.0, 1.0, 0.25, -1.0, 2.0, math.nan, math.inf]),
            st.floats(-1.5, 1.5, width=32),
        ),
        min_size=1, max_size=8,
    ),
    strict=st.booleans(),
    hybridize=st.booleans(),
)
def test_sigmoid_random_targets_match_or_raise(
    values: list[float], strict: bool, hybridize: bool
) -> None:
    labels = np.array(values, dtype=np.float32)
    pred = nd.array(np.random.RandomState(labels.size).normal(size=(labels.size, 1)))
    ours = _build(SafeSigmoidBinaryCrossEntropyLoss, hybridize, strict=strict)
    reference = _build(gluon.loss.SigmoidBinaryCrossEntropyLoss, hybridize)
    with np.errstate(invalid="ignore"):
        in_range = bool(np.all((labels >= 0) & (labels <= 1)))
        valid = in_range and (not strict or bool(np.all((labels == 0) | (labels == 1))))

    try:
        loss = ours(pred, nd.array(labels)).asnumpy()
    except LabelError:
        assert not valid, f"valid targets {labels} were rejected"
        return

    assert valid, f"invalid targets {labels} were accepted"
    np.testing.assert_array_equal(loss, reference(pred, nd.array(labels)).asnumpy())


# --- check modes ---------------------------------------------------------------------------


def test_mode_off_defers_to_mxnet() -> None:
    pred = nd.array(np.random.RandomState(2).normal(size=(3, 3)))
    labels = nd.array([1, 2, 3])
    ours = SafeSoftmaxCrossEntropyLoss(check="off")

    loss = ours(pred, labels).asnumpy()

    expected = gluon.loss.SoftmaxCrossEntropyLoss()(pred, labels).asnumpy()
    np.testing.assert_array_equal(loss, expected)


def test_mode_off_skips_shape_checks() -> None:
    ours = SafeSigmoidBinaryCrossEntropyLoss(check="off")

    with pytest.raises(mx.base.MXNetError):
        ours(nd.zeros((4, 3)), nd.array([0, 1, 1, 0]))


@pytest.mark.parametrize("check", ["auto", "eager"])
def test_mode_eager_raises_at_call(check: str) -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss(check=check)

    with pytest.raises(LabelRangeError, match=r"2\.0 at labels\[0\]"):
        loss(nd.zeros((1, 1)), nd.array([2]))


def test_mode_lazy_raises_at_flush() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check="lazy")
    pred = nd.zeros((3, 3))
    loss(pred, nd.array([0, 1, 2]))
    loss(pred, nd.array([0, 1, 2]))
    loss(pred, nd.array([0.5, 1, 2]))
    loss(pred, nd.array([0, 1, 3]))

    with pytest.raises(NonIntegerLabelError, match=r"batch 2: .*0\.5 at labels\[0\]") as info:
        loss.flush()

    assert info.value.batch == 2


def test_mode_lazy_flush_restarts_batch_count() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check="lazy")
    pred = nd.zeros((2, 3))
    loss(pred, nd.array([0, 5]))
    with pytest.raises(LabelRangeError, match=r"batch 0: "):
        loss.flush()

    loss(pred, nd.array([0, 1]))
    loss(pred, nd.array([7, 1]))

    with pytest.raises(LabelRangeError, match=r"batch 1: .*7\.0 at labels\[0\]"):
        loss.flush()
    loss.flush()


def test_mode_lazy_first_bad_batch_across_class_counts() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check="lazy")
    loss(nd.zeros((2, 5)), nd.array([0, 4]))
    loss(nd.zeros((2, 3)), nd.array([0, 4]))
    loss(nd.zeros((2, 5)), nd.array([0, 9]))

    with pytest.raises(LabelRangeError, match=r"batch 1: .*4\.0 at labels\[1\]") as info:
        loss.flush()

    assert "num_classes=3" in str(info.value)


@pytest.mark.parametrize("axis", [-1, 1])
def test_mode_lazy_dense_rows(axis: int) -> None:
    loss = SafeSoftmaxCrossEntropyLoss(sparse_label=False, axis=axis, check="lazy")
    rows = np.zeros((2, 3, 3), dtype=np.float32)
    rows[:, 0, :] = 1.0 if axis == 1 else 0.0
    if axis == -1:
        rows[..., 0] = 1.0
    rows[1, 2, 2] = 1.0  # a second 1 turns one row into a multi-hot row.
    loss(nd.zeros((2, 3, 3)), nd.array(rows))

    with pytest.raises(LabelLayoutError, match=r"batch 0: labels rows hold several 1s"):
        loss.flush()


def test_mode_lazy_sigmoid() -> None:
    loss = SafeSigmoidBinaryCrossEntropyLoss(check="lazy")
    loss(nd.zeros((2, 2)), nd.array([[0, 1], [1, 0]]))
    loss(nd.zeros((2, 2)), nd.array([[0, 1], [-1, 0]]))

    with pytest.raises(LabelRangeError, match=r"batch 1: .*-1\.0 at labels\[1, 0\]"):
        loss.flush()


def test_mode_lazy_gradients_match_mxnet() -> None:
    rng = np.random.RandomState(17)
    pred = nd.array(rng.normal(size=(5, 4)))
    labels = nd.array(rng.randint(0, 4, size=5))
    ours = SafeSoftmaxCrossEntropyLoss(check="lazy")

    loss, grad = _loss_and_grad(ours, pred, labels)
    expected_loss, expected_grad = _loss_and_grad(gluon.loss.SoftmaxCrossEntropyLoss(), pred,
                                                  labels)

    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    ours.flush()


def test_flush_without_lazy_checks() -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check="eager")
    loss(nd.zeros((2, 3)), nd.array([0, 1]))

    loss.flush()

    assert loss.check == "eager"


# --- host reads ------------------------------------------------------------------------------


@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
def test_lazy_reads_nothing_per_batch(hybridize: bool, host_reads: collections.Counter) -> None:
    rng = np.random.RandomState(23)
    net = gluon.nn.Dense(4)
    net.initialize(ctx=CPUS)
    loss_fn = _build(SafeSoftmaxCrossEntropyLoss, hybridize, check="lazy")
    batches = []
    for i in range(6):
        ctx = CPUS[i % len(CPUS)]
        labels = rng.randint(0, 4, size=5).astype(np.float32)
        if i == 4:
            labels[3] = 4  # the one bad batch, on cpu(1)
        batches.append((nd.array(rng.normal(size=(5, 7)), ctx=ctx), nd.array(labels, ctx=ctx)))
    host_reads.clear()

    for data, labels in batches:
        with autograd.record():
            loss = loss_fn(net(data), labels)
        loss.backward()

    assert sum(host_reads.values()) == 0
    with pytest.raises(LabelRangeError, match=r"batch 4: .*4\.0 at labels\[3\]"):
        loss_fn.flush()
    # One read of the violation counts per device, then one of the bad batch's labels.
    assert host_reads["asnumpy"] == len(CPUS) + 1
    assert host_reads["wait_to_read"] == 0
    assert host_reads["waitall"] == 0


def test_lazy_shape_checks_read_nothing(host_reads: collections.Counter) -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check="lazy")
    one_hot = nd.one_hot(nd.array([0, 2]), 3)
    host_reads.clear()

    with pytest.raises(LabelLayoutError, match="sparse_label=False"):
        loss(nd.zeros((2, 3)), one_hot)

    assert sum(host_reads.values()) == 0


@pytest.mark.parametrize(
    ("loss_cls", "num_outputs"),
    [(SafeSoftmaxCrossEntropyLoss, 2), (SafeSigmoidBinaryCrossEntropyLoss, 1)],
    ids=["softmax", "sigmoid"],
)
@pytest.mark.parametrize("check", ["auto", "eager"])
def test_host_labels_read_once_per_call(
    check: str, loss_cls: Any, num_outputs: int, host_reads: collections.Counter
) -> None:
    loss = loss_cls(check=check)
    batches = [(nd.zeros((3, num_outputs), ctx=ctx), nd.array([0, 1, 1], ctx=ctx)) for ctx in CPUS]
    host_reads.clear()

    for pred, labels in batches:
        loss(pred, labels)

    assert host_reads == {"asnumpy": len(batches)}


def test_mode_off_reads_nothing(host_reads: collections.Counter) -> None:
    loss = SafeSoftmaxCrossEntropyLoss(check="off")
    pred, labels = nd.zeros((3, 2)), nd.array([0, 1, 5])
    host_reads.clear()

    loss(pred, labels)
    loss.flush()

    assert sum(host_reads.values()) == 0


@pytest.mark.skipif(mx.context.num_gpus() == 0, reason="needs a GPU")
def test_auto_defers_gpu_labels(host_reads: collections.Counter) -> None:
    loss = SafeSoftmaxCrossEntropyLoss()
    pred = nd.zeros((3, 3), ctx=mx.gpu(0))
    labels = nd.array([0, 1, 3], ctx=mx.gpu(0))
    host_reads.clear()

    loss(pred, labels)

    assert sum(host_reads.values()) == 0
    with pytest.raises(LabelRangeError, match=r"batch 0: .*3\.0 at labels\[2\]"):
        loss.flush()
