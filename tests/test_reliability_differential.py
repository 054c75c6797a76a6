"""Reliability: differential properties against MXNet 1.9.1 on random valid and invalid input.

Each property draws labels that are valid or carry a few invalid values, and accepts
one of two outcomes only. On valid input the gluon_safe class gives MXNet's exact result,
or the numpy oracle's where MXNet has no such class. On invalid input it raises a
:class:`~gluon_safe.LabelError` and folds nothing of the bad batch into its totals. A
silent difference fails the property.

The example count comes from the Hypothesis profile (see ``conftest.py``): 50 by default,
1,000 with ``HYPOTHESIS_PROFILE=ci``. Every property is marked slow for that reason.
"""

from __future__ import annotations

import gc
import math
from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe import (
    DeviceDataLoader,
    LabelEncoder,
    LabelError,
    MultiLabelAccuracy,
    MultiLabelEncoder,
    SafeAccuracy,
    SafeSigmoidBCELoss,
    SafeSoftmaxCELoss,
    SafeTopKAccuracy,
)
from gluon_safe._compat import autograd, gluon, mx, nd

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Example counts come from the profile; only the deadline is fixed here.
DIFFERENTIAL = settings(deadline=None)

ROW = "random labels against MXNet (differential properties)"
CHECKS = ["eager", "lazy", "auto"]


def bad_values(num_classes: int) -> list[float]:
    """Values that are never class indices in ``[0, num_classes)``."""
    return [-1.0, -3.0, 0.5, 2.25, float(num_classes), num_classes + 0.5, 1e9, 2.0**31,
            math.nan, math.inf, -math.inf]


@st.composite
def sparse_labels(draw: Any, num_samples: int, num_classes: int) -> np.ndarray:
    """Draw class indices; about half the draws then corrupt one to three positions."""
    values = draw(st.lists(st.integers(0, num_classes - 1), min_size=num_samples,
                           max_size=num_samples))
    labels = np.asarray(values, dtype=np.float32)
    if draw(st.booleans()):
        positions = draw(st.lists(st.integers(0, num_samples - 1), min_size=1, max_size=3))
        for position in positions:
            labels[position] = draw(st.sampled_from(bad_values(num_classes)))
    return labels


def are_class_indices(labels: np.ndarray, num_classes: float,
                      ignore_label: Optional[float] = None) -> bool:
    considered = labels if ignore_label is None else labels[labels != ignore_label]
    if not np.isfinite(considered).all():
        return False
    return bool(((np.floor(considered) == considered) & (considered >= 0)
                 & (considered < num_classes)).all())


def scores(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Non-integral scores in (0, 1), so no score row can pass for class indices."""
    return np.random.RandomState(seed).uniform(0.01, 0.99, shape).astype(np.float32)


def split(array: np.ndarray, parts: int) -> list[nd.NDArray]:
    bounds = np.linspace(0, len(array), parts + 1).astype(int)
    return [nd.array(array[a:b], dtype=array.dtype) for a, b in zip(bounds[:-1], bounds[1:])]


def totals(metric) -> tuple[float, int, float, int]:
    return (float(metric.sum_metric), int(metric.num_inst), float(metric.global_sum_metric),
            int(metric.global_num_inst))


@st.composite
def accuracy_cases(draw: Any) -> dict[str, Any]:
    num_classes = draw(st.integers(2, 6))
    num_samples = draw(st.integers(2, 24))
    parts = draw(st.integers(1, min(3, num_samples)))
    layout = draw(st.sampled_from(["scores", "scores_column", "indices", "one_hot"]))
    labels = draw(sparse_labels(num_samples, num_classes))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(num_classes=num_classes, labels=labels, parts=parts, layout=layout,
                preds=scores(seed, (num_samples, num_classes)),
                ignore_label=draw(st.sampled_from([None, -1.0])),
                declare_classes=draw(st.booleans()), check=draw(st.sampled_from(CHECKS)))


def accuracy_inputs(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    labels, preds = case["labels"], case["preds"]
    if case["layout"] == "scores_column":
        labels = labels.reshape(-1, 1)
    elif case["layout"] == "indices":
        preds = preds.argmax(axis=1).astype(np.float32)
    elif case["layout"] == "one_hot":
        rows = np.nan_to_num(labels, nan=0, posinf=0, neginf=0).astype(np.int64)
        labels = np.eye(case["num_classes"], dtype=np.float32)[rows % case["num_classes"]]
    return labels, preds


@pytest.mark.reliability(
    ROW,
    input="random class indices with a few invalid values (NaN, inf, -1, 0.5, K, 2**31), "
          "one-hot rows, several arrays per update, ignore_label, every check mode; 1,000 "
          "examples per property with HYPOTHESIS_PROFILE=ci",
    mxnet="the oracle on valid input: Accuracy, TopKAccuracy, the Gluon losses, DataLoader "
          "with split_and_load(even_split=False); invalid input: see the rows above",
    gluon_safe="valid input: MXNet's exact result (metrics, losses, loader); encoders as the "
               "numpy oracle; invalid input: LabelError and no partial counts",
)
@DIFFERENTIAL
@given(case=accuracy_cases(), first=st.integers(0, 2**31 - 1))
def test_accuracy_matches_mxnet_or_raises(case, first):
    labels, preds = accuracy_inputs(case)
    declared = case["num_classes"] if case["declare_classes"] else None
    metric = SafeAccuracy(num_classes=declared, ignore_label=case["ignore_label"],
                          check=case["check"])
    oracle = mx.metric.Accuracy()
    # A valid batch first, so that a rejected batch must leave these counts untouched.
    warm_labels = np.arange(4, dtype=np.float32) % case["num_classes"]
    warm_preds = scores(first, (4, case["num_classes"]))
    for target in (metric, oracle):
        target.update([nd.array(warm_labels)], [nd.array(warm_preds)])
    expected_warm = totals(oracle)

    # Predictions given as class indices do not tell the number of classes, so without
    # num_classes only the lower bound of the labels is known.
    upper = case["num_classes"] if declared or case["layout"] != "indices" else math.inf
    valid = case["layout"] != "one_hot" and are_class_indices(
        case["labels"], upper, case["ignore_label"])
    if not valid:
        with pytest.raises(LabelError):
            metric.update(split(labels, case["parts"]), split(preds, case["parts"]))
            metric.get()
        assert totals(metric) == expected_warm
        return

    metric.update(split(labels, case["parts"]), split(preds, case["parts"]))
    kept = np.ones(len(labels), dtype=bool)
    if case["ignore_label"] is not None:
        kept = labels.reshape(len(labels), -1)[:, 0] != case["ignore_label"]
    if kept.any():
        # MXNet's totals are sums, so one array stands for the parts (and none may be empty).
        oracle.update([nd.array(labels[kept])], [nd.array(preds[kept])])
    assert totals(metric) == totals(oracle)
    assert metric.get() == oracle.get()


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(case=accuracy_cases(), data=st.data())
def test_topk_accuracy_matches_mxnet_or_raises(case, data):
    # For top_k > num_classes MXNet's TopKAccuracy fails inside numpy, and gluon_safe raises
    # a ValueError naming both numbers, so this property stays within num_classes.
    top_k = data.draw(st.integers(2, case["num_classes"]), label="top_k")
    labels, preds = case["labels"], case["preds"]
    metric = SafeTopKAccuracy(top_k=top_k, check=case["check"])
    oracle = mx.metric.TopKAccuracy(top_k=top_k)
    if not are_class_indices(labels, case["num_classes"]):
        with pytest.raises(LabelError):
            metric.update(split(labels, case["parts"]), split(preds, case["parts"]))
            metric.get()
        assert totals(metric) == (0.0, 0, 0.0, 0)
        return
    metric.update(split(labels, case["parts"]), split(preds, case["parts"]))
    oracle.update(split(labels, case["parts"]), split(preds, case["parts"]))
    assert totals(metric) == totals(oracle)
    assert metric.get()[1] == oracle.get()[1]


@st.composite
def multilabel_cases(draw: Any) -> dict[str, Any]:
    num_samples = draw(st.integers(1, 16))
    num_labels = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    labels = (rng.rand(num_samples, num_labels) < 0.3).astype(np.float32)
    if draw(st.booleans()):
        row, column = draw(st.integers(0, num_samples - 1)), draw(st.integers(0, num_labels - 1))
        labels[row, column] = draw(st.sampled_from([-1.0, 0.5, 2.0, math.nan, math.inf]))
    per_label = draw(st.booleans())
    threshold: Any = draw(st.floats(0.05, 0.95))
    if per_label:
        threshold = draw(st.lists(st.floats(0.05, 0.95), min_size=num_labels,
                                  max_size=num_labels))
    return dict(labels=labels, preds=rng.rand(num_samples, num_labels).astype(np.float32),
                threshold=threshold, average=draw(st.sampled_from(["exact_match", "hamming"])),
                from_logits=draw(st.booleans()), check=draw(st.sampled_from(CHECKS)))


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(case=multilabel_cases())
def test_multilabel_accuracy_matches_numpy_or_raises(case):
    labels, probs = case["labels"], case["preds"]
    preds = probs
    cut = np.asarray(case["threshold"], dtype=np.float64)
    if case["from_logits"]:
        preds = np.log(np.clip(probs, 1e-4, 1 - 1e-4) / np.clip(1 - probs, 1e-4, 1)).astype(
            np.float32)
        cut = np.log(cut / (1 - cut))
    metric = MultiLabelAccuracy(threshold=case["threshold"], average=case["average"],
                                from_logits=case["from_logits"], check=case["check"])
    valid = bool(np.isin(labels, (0.0, 1.0)).all())
    if not valid:
        with pytest.raises(LabelError):
            metric.update(nd.array(labels), nd.array(preds))
            metric.get()
        assert totals(metric) == (0.0, 0, 0.0, 0)
        return
    metric.update(nd.array(labels), nd.array(preds))
    hits = (preds > cut.astype(np.float32)) == (labels == 1)
    if case["average"] == "hamming":
        expected = (float(hits.sum()), int(hits.size))
    else:
        expected = (float(hits.all(axis=1).sum()), len(labels))
    assert (float(metric.sum_metric), int(metric.num_inst)) == expected


def loss_and_grad(loss, preds: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = nd.array(preds)
    pred.attach_grad()
    with autograd.record():
        values = loss(pred, nd.array(labels))
    values.backward()
    flush = getattr(loss, "flush", None)
    if flush is not None:
        flush()
    return values.asnumpy(), pred.grad.asnumpy()


@st.composite
def softmax_cases(draw: Any) -> dict[str, Any]:
    num_classes = draw(st.integers(2, 6))
    num_samples = draw(st.integers(1, 12))
    sparse = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    if sparse:
        labels = draw(sparse_labels(num_samples, num_classes))
    else:
        labels = rng.dirichlet(np.ones(num_classes), num_samples).astype(np.float32)
        if draw(st.booleans()):
            row = draw(st.integers(0, num_samples - 1))
            labels[row] = draw(st.sampled_from([2.0, -0.5, math.nan, 0.0]))
    return dict(labels=labels, preds=rng.randn(num_samples, num_classes).astype(np.float32),
                sparse=sparse, num_classes=num_classes, check=draw(st.sampled_from(CHECKS)),
                hybridize=draw(st.booleans()),
                ignore_label=draw(st.sampled_from([None, -1.0])) if sparse else None)


def are_distributions(rows: np.ndarray) -> bool:
    if not np.isfinite(rows).all() or (rows < 0).any():
        return False
    return bool((np.abs(rows.sum(axis=1) - 1) <= 1e-3).all())


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(case=softmax_cases())
def test_softmax_loss_matches_mxnet_or_raises(case):
    labels, preds = case["labels"], case["preds"]
    safe = SafeSoftmaxCELoss(sparse_label=case["sparse"], ignore_label=case["ignore_label"],
                             check=case["check"])
    plain = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=case["sparse"])
    if case["hybridize"]:
        safe.hybridize()
        plain.hybridize()
    if case["sparse"]:
        valid = are_class_indices(labels, case["num_classes"], case["ignore_label"])
    else:
        valid = are_distributions(labels)
    if not valid:
        with pytest.raises(LabelError):
            loss_and_grad(safe, preds, labels)
        return

    values, grad = loss_and_grad(safe, preds, labels)
    ignored = np.zeros(len(labels), dtype=bool)
    oracle_labels = labels
    if case["ignore_label"] is not None:
        ignored = labels == case["ignore_label"]
        oracle_labels = np.where(ignored, 0, labels)
    expected, expected_grad = loss_and_grad(plain, preds, oracle_labels)
    np.testing.assert_array_equal(values[~ignored], expected[~ignored])
    np.testing.assert_array_equal(grad[~ignored], expected_grad[~ignored])
    np.testing.assert_array_equal(values[ignored], 0)
    np.testing.assert_array_equal(grad[ignored], 0)


@st.composite
def sigmoid_cases(draw: Any) -> dict[str, Any]:
    shape = (draw(st.integers(1, 10)), draw(st.integers(1, 4)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    strict = draw(st.booleans())
    labels = (rng.rand(*shape) < 0.5).astype(np.float32)
    if not strict and draw(st.booleans()):
        labels = rng.rand(*shape).astype(np.float32)
    if draw(st.booleans()):
        labels[draw(st.integers(0, shape[0] - 1)), draw(st.integers(0, shape[1] - 1))] = draw(
            st.sampled_from([-1.0, 1.5, 0.25, math.nan, -math.inf]))
    return dict(labels=labels, preds=rng.randn(*shape).astype(np.float32), strict=strict,
                from_sigmoid=draw(st.booleans()), check=draw(st.sampled_from(CHECKS)))


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(case=sigmoid_cases())
def test_sigmoid_bce_matches_mxnet_or_raises(case):
    labels, preds = case["labels"], case["preds"]
    if case["from_sigmoid"]:
        preds = 1 / (1 + np.exp(-preds))
    safe = SafeSigmoidBCELoss(from_sigmoid=case["from_sigmoid"], strict=case["strict"],
                              check=case["check"])
    plain = gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=case["from_sigmoid"])
    finite = bool(np.isfinite(labels).all())
    if case["strict"]:
        valid = bool(np.isin(labels, (0.0, 1.0)).all())
    else:
        valid = finite and bool(((labels >= 0) & (labels <= 1)).all())
    if not valid:
        with pytest.raises(LabelError):
            loss_and_grad(safe, preds, labels)
        return
    values, grad = loss_and_grad(safe, preds, labels)
    expected, expected_grad = loss_and_grad(plain, preds, labels)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(grad, expected_grad)


@st.composite
def raw_labels(draw: Any) -> list[Any]:
    ints = st.integers(-50, 50)
    whole_floats = st.integers(-50, 50).map(float)
    odd = st.sampled_from([0.5, -2.25, math.nan, math.inf])
    element = st.one_of(ints, whole_floats, odd) if draw(st.booleans()) else ints
    return draw(st.lists(element, min_size=1, max_size=30))


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(values=raw_labels(), unseen=st.integers(-60, 60))
def test_label_encoder_matches_numpy_or_raises(values, unseen):
    array = np.asarray(values, dtype=np.float64)
    valid = bool(np.isfinite(array).all() and (np.floor(array) == array).all())
    if not valid:
        with pytest.raises(LabelError):
            LabelEncoder().fit(values)
        return
    encoder = LabelEncoder().fit(values)
    classes, inverse = np.unique(array.astype(np.int64), return_inverse=True)
    assert list(encoder.classes) == classes.tolist()
    np.testing.assert_array_equal(encoder.transform(values), inverse)
    if unseen in set(classes.tolist()):
        assert encoder.transform([unseen]).tolist() == [classes.tolist().index(unseen)]
    else:
        with pytest.raises(LabelError, match=str(unseen)):
            encoder.transform([unseen])


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(samples=st.lists(st.lists(st.integers(0, 9), max_size=4), min_size=1, max_size=15)
       .filter(any),
       unseen=st.integers(0, 12))
def test_multilabel_encoder_matches_numpy(samples, unseen):
    encoder = MultiLabelEncoder().fit(samples)
    classes = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in samples]))
    expected = np.zeros((len(samples), len(classes)), dtype=np.float32)
    for row, sample in enumerate(samples):
        expected[row, np.searchsorted(classes, sample)] = 1
    assert list(encoder.classes) == classes.tolist()
    np.testing.assert_array_equal(encoder.transform(samples), expected)
    if unseen not in set(classes.tolist()):
        with pytest.raises(LabelError):
            encoder.transform([[unseen]])


@st.composite
def loader_cases(draw: Any) -> dict[str, Any]:
    num_classes = draw(st.integers(2, 5))
    num_samples = draw(st.integers(1, 30))
    return dict(num_classes=num_classes, labels=draw(sparse_labels(num_samples, num_classes)),
                batch_size=draw(st.integers(1, 8)), num_devices=draw(st.integers(1, 4)),
                last_batch=draw(st.sampled_from(["keep", "discard", "rollover"])),
                device_prefetch=draw(st.sampled_from([0, 0, 1])))


@pytest.mark.reliability(ROW)
@DIFFERENTIAL
@given(case=loader_cases())
def test_loader_matches_dataloader_or_raises(case):
    # DataLoader.__init__ in MXNet 1.9.1 runs gc.collect(), which scans the whole heap of
    # the test process (about 50 ms here). Freezing the objects that exist already keeps
    # that scan short; it changes nothing that the loaders compute.
    gc.freeze()
    try:
        check_loader_against_dataloader(case)
    finally:
        gc.unfreeze()


def check_loader_against_dataloader(case: dict[str, Any]) -> None:
    labels = case["labels"]
    features = np.arange(len(labels), dtype=np.float32).reshape(-1, 1)
    dataset = gluon.data.ArrayDataset(features, labels)
    options = dict(batch_size=case["batch_size"], last_batch=case["last_batch"])
    ctx = [mx.cpu(i) for i in range(case["num_devices"])]
    reference = [(x.asnumpy(), y.asnumpy()) for x, y in gluon.data.DataLoader(dataset, **options)]
    bad_batches = [i for i, (_, y) in enumerate(reference)
                   if not are_class_indices(y, case["num_classes"])]

    loader = DeviceDataLoader(dataset, ctx=ctx, num_classes=case["num_classes"],
                              device_prefetch=case["device_prefetch"], **options)
    if bad_batches:
        with pytest.raises(LabelError) as info:
            list(loader)
        assert info.value.batch == bad_batches[0]
        bad_rows = reference[bad_batches[0]][0][:, 0].astype(int)
        assert set(info.value.sample_indices) <= set(bad_rows.tolist())
        return

    batches = list(loader)
    assert len(batches) == len(reference)
    for batch, (x, y) in zip(batches, reference):
        used = ctx[:min(len(y), len(ctx))]
        expected = gluon.utils.split_and_load(nd.array(y), used, even_split=False)
        assert batch.num_samples == len(y)
        assert [part.context for part in batch.label] == used
        for part, reference_part in zip(batch.label, expected):
            np.testing.assert_array_equal(part.asnumpy(), reference_part.asnumpy())
        np.testing.assert_array_equal(np.concatenate([p.asnumpy() for p in batch.data]), x)
