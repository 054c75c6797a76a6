"""Reliability: label mistakes that plain MXNet 1.9.1 accepts silently.

Each row pairs a test that shows what plain MXNet does with the input (``role='mxnet'``)
with tests of what gluon_safe does with the same input and with its variants: eager and
lazy checks, metrics, losses, the data loader and ``fit``. Expected values are computed
here with numpy, or with MXNet's own classes on the corrected input.
"""

from __future__ import annotations

import numpy as np
import pytest

from gluon_safe import (
    DeviceDataLoader,
    LabelEncoder,
    LabelLayoutError,
    LabelRangeError,
    MultiLabelAccuracy,
    NonFiniteLabelError,
    NonIntegerLabelError,
    SafeAccuracy,
    SafeSigmoidBCELoss,
    SafeSoftmaxCELoss,
    SafeTopKAccuracy,
    fit,
)
from gluon_safe._compat import autograd, gluon, mx, nd

NUM_CLASSES = 10
NUM_SAMPLES = 100

ONE_HOT = "one-hot labels in a multi-class accuracy"
DENSE_ROWS = "soft-target or multi-hot rows in a multi-class accuracy"
MULTILABEL = "multi-label metric for several labels per sample"
TOO_LARGE = "class index far above the number of classes"
ONE_BASED = "1-based labels 1..K with K outputs"
PADDING = "padding label -1"
NAN_LABEL = "NaN label"
SPARSE_LOSS = "one-hot labels to the sparse softmax loss"

pytestmark = pytest.mark.timeout(120)


def random_preds(seed: int = 0, shape: tuple[int, int] = (NUM_SAMPLES, NUM_CLASSES)) -> np.ndarray:
    """Return probability rows unrelated to any label (Dirichlet, each row sums to 1)."""
    rng = np.random.RandomState(seed)
    return rng.dirichlet(np.ones(shape[1]), shape[0]).astype(np.float32)


def one_hot_labels(seed: int = 1) -> np.ndarray:
    rng = np.random.RandomState(seed)
    return np.eye(NUM_CLASSES, dtype=np.float32)[rng.randint(0, NUM_CLASSES, NUM_SAMPLES)]


def soft_labels(seed: int = 2) -> np.ndarray:
    return random_preds(seed)


def multi_hot_labels(seed: int = 3) -> np.ndarray:
    """Return 0/1 rows with about 20% ones, at least two ones in the first row."""
    rng = np.random.RandomState(seed)
    labels = (rng.rand(NUM_SAMPLES, NUM_CLASSES) < 0.2).astype(np.float32)
    labels[0, :2] = 1
    return labels


def mxnet_accuracy_cast(labels: np.ndarray, preds: np.ndarray) -> float:
    """Compute accuracy as mx.metric.Accuracy does for same-shape inputs: int32 casts, per cell."""
    return float((preds.astype(np.int32) == labels.astype(np.int32)).mean())


def update_safe(metric, labels: np.ndarray, preds: np.ndarray) -> float:
    metric.update(nd.array(labels), nd.array(preds))
    return float(metric.get()[1])


def softmax_loss_grad(labels, preds: np.ndarray, loss=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the loss values and the gradient with respect to ``preds``."""
    if loss is None:
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
    pred = nd.array(preds)
    pred.attach_grad()
    with autograd.record():
        values = loss(pred, nd.array(labels))
    values.backward()
    return values.asnumpy(), pred.grad.asnumpy()


def loader_over(labels: np.ndarray, **options) -> DeviceDataLoader:
    features = np.zeros((len(labels), 2), dtype=np.float32)
    return DeviceDataLoader(gluon.data.ArrayDataset(features, labels.astype(np.float32)),
                            batch_size=4, ctx=[mx.cpu(0)], device_prefetch=0, **options)


def tiny_net(num_outputs: int = 3) -> gluon.nn.HybridSequential:
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(num_outputs, in_units=4))
    net.initialize(mx.init.Uniform(0.5), ctx=mx.cpu(0))
    return net


def tiny_data(labels: np.ndarray, seed: int = 4) -> list[tuple[nd.NDArray, nd.NDArray]]:
    features = np.random.RandomState(seed).randn(len(labels), 4).astype(np.float32)
    return [(nd.array(features), nd.array(labels))]


# --- one-hot labels in Accuracy ----------------------------------------------------------

@pytest.mark.reliability(ONE_HOT, role="mxnet")
def test_mxnet_accuracy_one_hot_cells():
    labels, preds = one_hot_labels(), random_preds()
    metric = mx.metric.Accuracy()
    metric.update([nd.array(labels)], [nd.array(preds)])
    expected = mxnet_accuracy_cast(labels, preds)
    assert metric.get()[1] == pytest.approx(expected)
    # Probabilities cast to int are all 0, so every 0 cell of a one-hot row "matches".
    assert expected == pytest.approx(float((labels == 0).mean()))
    assert expected == pytest.approx(0.9)


@pytest.mark.reliability(
    ONE_HOT,
    input="one-hot labels (100, 10), random probability predictions (100, 10)",
    mxnet="Accuracy compares cell by cell: 0.9",
    gluon_safe="LabelLayoutError: looks one-hot; with one_hot=True, the argmax accuracy "
               "(about 0.1)",
)
@pytest.mark.parametrize("check", ["auto", "eager", "lazy"])
def test_accuracy_one_hot_labels_raise(check):
    with pytest.raises(LabelLayoutError, match="look like one-hot rows, not class indices") as info:
        update_safe(SafeAccuracy(check=check), one_hot_labels(), random_preds())
    assert "one_hot=True" in str(info.value)
    assert "labels.argmax(axis=1)" in str(info.value)


@pytest.mark.reliability(ONE_HOT)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_one_hot_argmax_value(check):
    labels, preds = one_hot_labels(), random_preds()
    expected = float((preds.argmax(axis=1) == labels.argmax(axis=1)).mean())
    assert update_safe(SafeAccuracy(one_hot=True, check=check), labels, preds) == expected
    assert expected < 0.3


@pytest.mark.reliability(ONE_HOT)
def test_topk_accuracy_one_hot_labels_raise():
    with pytest.raises(LabelLayoutError, match="look like one-hot rows, not class indices"):
        update_safe(SafeTopKAccuracy(top_k=3), one_hot_labels(), random_preds())


@pytest.mark.reliability(ONE_HOT)
def test_accuracy_one_hot_names_device_array():
    labels, preds = one_hot_labels(), random_preds()
    metric = SafeAccuracy()
    with pytest.raises(LabelLayoutError, match=r"labels\[1\] of shape \(50, 10\) look like "
                                               "one-hot"):
        metric.update([nd.array(labels[:50].argmax(axis=1)), nd.array(labels[50:])],
                      [nd.array(preds[:50]), nd.array(preds[50:])])
    assert metric.num_inst == 0


@pytest.mark.reliability(ONE_HOT)
def test_fit_one_hot_sparse_loss_raises():
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    with pytest.raises(LabelLayoutError, match="batch 0: labels of shape \\(6, 3\\) look like "
                                               "one-hot rows") as info:
        fit(tiny_net(), tiny_data(labels), loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=1,
            ctx=mx.cpu(0), verbose=False)
    assert "sparse_label=False" in str(info.value)


@pytest.mark.reliability(ONE_HOT)
def test_fit_dense_loss_reports_argmax_accuracy():
    labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    net = tiny_net()
    data = tiny_data(labels)
    history = fit(net, data, loss=gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False),
                  optimizer="sgd", optimizer_params={"learning_rate": 0.0}, epochs=1,
                  ctx=mx.cpu(0), verbose=False)
    preds = net(data[0][0]).asnumpy()
    expected = float((preds.argmax(axis=1) == labels.argmax(axis=1)).mean())
    assert history["accuracy"] == [expected]


# --- soft-target and multi-hot rows in Accuracy ------------------------------------------

@pytest.mark.reliability(DENSE_ROWS, role="mxnet")
@pytest.mark.parametrize("make_labels", [soft_labels, multi_hot_labels], ids=["soft", "multi_hot"])
def test_mxnet_accuracy_dense_rows_cells(make_labels):
    labels, preds = make_labels(), random_preds()
    metric = mx.metric.Accuracy()
    metric.update([nd.array(labels)], [nd.array(preds)])
    expected = mxnet_accuracy_cast(labels, preds)
    assert metric.get()[1] == pytest.approx(expected)
    if make_labels is soft_labels:
        assert expected == 1.0
    else:
        assert expected == pytest.approx(float((labels == 0).mean()))
        assert 0.75 < expected < 0.85


@pytest.mark.reliability(
    DENSE_ROWS,
    input="Dirichlet soft-target rows, or 20%-dense multi-hot rows, as labels (100, 10)",
    mxnet="Accuracy: 1.0 for soft rows, about 0.8 for multi-hot rows",
    gluon_safe="LabelLayoutError: not class indices; points to one_hot=True or argmax, or "
               "to MultiLabelAccuracy",
)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_soft_rows_raise(check):
    with pytest.raises(LabelLayoutError, match=r"look like soft-target \(probability\) rows, "
                                               "not class indices") as info:
        update_safe(SafeAccuracy(check=check), soft_labels(), random_preds())
    assert "one_hot=True" in str(info.value)
    assert "labels.argmax(axis=1)" in str(info.value)


@pytest.mark.reliability(DENSE_ROWS)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_multi_hot_rows_raise(check):
    with pytest.raises(LabelLayoutError, match=r"look like multi-hot \(multi-label\) rows") as info:
        update_safe(SafeAccuracy(check=check), multi_hot_labels(), random_preds())
    assert "gluon_safe.MultiLabelAccuracy" in str(info.value)


@pytest.mark.reliability(DENSE_ROWS)
def test_accuracy_one_hot_rejects_multi_hot():
    with pytest.raises(LabelLayoutError, match=r"rows hold several 1s \(multi-hot\)") as info:
        update_safe(SafeAccuracy(one_hot=True), multi_hot_labels(), random_preds())
    assert info.value.positions[0] == (0,)
    assert "MultiLabelAccuracy" in str(info.value)


@pytest.mark.reliability(DENSE_ROWS)
def test_accuracy_one_hot_argmax_of_soft_rows():
    labels, preds = soft_labels(), random_preds()
    expected = float((preds.argmax(axis=1) == labels.argmax(axis=1)).mean())
    assert update_safe(SafeAccuracy(one_hot=True), labels, preds) == expected


@pytest.mark.reliability(DENSE_ROWS)
def test_lazy_loss_dense_rows_hint():
    # A lazy loss reads no values, so its hint covers one-hot, soft and multi-hot rows.
    loss = SafeSoftmaxCELoss(check="lazy")
    with pytest.raises(LabelLayoutError, match="look like dense rows") as info:
        loss(nd.array(random_preds()), nd.array(multi_hot_labels()))
    assert "sparse_label=False" in str(info.value)
    assert "MultiLabelAccuracy and SigmoidBinaryCrossEntropyLoss" in str(info.value)


# --- the multi-label metric --------------------------------------------------------------

def multilabel_oracle(labels: np.ndarray, probs: np.ndarray, thresholds, average: str) -> float:
    cut = np.asarray(thresholds, dtype=np.float32)
    hits = (probs > cut) == (labels == 1)
    return float(hits.mean() if average == "hamming" else hits.all(axis=1).mean())


@pytest.mark.reliability(MULTILABEL, role="mxnet")
def test_mxnet_metric_has_no_multilabel_accuracy():
    public = [name.lower() for name in dir(mx.metric) if not name.startswith("_")]
    assert [name for name in public if "binary" in name or "multilabel" in name] == []
    assert "accuracy" in public


@pytest.mark.reliability(
    MULTILABEL,
    input="multi-hot 0/1 rows (100, 10) with probability predictions",
    mxnet="no multi-label accuracy in mx.metric",
    gluon_safe="MultiLabelAccuracy: exact-match and Hamming, one threshold or one per label, "
               "eager or lazy, with the label checks",
)
@pytest.mark.parametrize("average", ["exact_match", "hamming"])
@pytest.mark.parametrize("check", ["eager", "lazy"])
@pytest.mark.parametrize("thresholds", [0.5, [0.1 * (i + 1) for i in range(NUM_CLASSES - 1)]
                                        + [0.35]], ids=["one", "per_label"])
def test_multilabel_accuracy_matches_numpy(average, check, thresholds):
    labels, probs = multi_hot_labels(), random_preds(seed=5)
    probs = np.clip(probs * 4, 0, 1)
    metric = MultiLabelAccuracy(threshold=thresholds, average=average, check=check)
    expected = multilabel_oracle(labels, probs, thresholds, average)
    assert update_safe(metric, labels, probs) == pytest.approx(expected, abs=1e-12)
    assert metric.num_inst == (labels.size if average == "hamming" else len(labels))


@pytest.mark.reliability(MULTILABEL)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_multilabel_accuracy_logit_thresholds(check):
    labels, probs = multi_hot_labels(), random_preds(seed=6)
    probs = np.clip(probs * 3, 0.01, 0.99)
    thresholds = np.linspace(0.15, 0.85, NUM_CLASSES)
    logits = np.log(probs / (1 - probs)).astype(np.float32)
    metric = MultiLabelAccuracy(threshold=list(thresholds), from_logits=True, check=check,
                                average="hamming")
    # sigmoid(logit) > t exactly when logit > logit(t); compare in float32 like the metric.
    cuts = np.log(thresholds / (1 - thresholds)).astype(np.float32)
    expected = float(((logits > cuts) == (labels == 1)).mean())
    assert update_safe(metric, labels, logits) == pytest.approx(expected, abs=1e-12)


@pytest.mark.reliability(MULTILABEL)
def test_multilabel_accuracy_threshold_count():
    metric = MultiLabelAccuracy(threshold=[0.5, 0.5, 0.5], check="off")
    with pytest.raises(LabelLayoutError, match=r"preds have shape \(100, 10\) but threshold has "
                                               "3 entries"):
        update_safe(metric, multi_hot_labels(), random_preds())


@pytest.mark.reliability(MULTILABEL)
@pytest.mark.parametrize("threshold", [[], [0.5, 1.0], [0.5, "high"]], ids=["empty", "one", "str"])
def test_multilabel_accuracy_rejects_bad_thresholds(threshold):
    with pytest.raises(ValueError, match=r"threshold=\["):
        MultiLabelAccuracy(threshold=threshold)


@pytest.mark.reliability(MULTILABEL)
def test_multilabel_accuracy_config_round_trip():
    metric = MultiLabelAccuracy(threshold=(0.2, 0.7), average="hamming")
    rebuilt = mx.metric.create(metric.get_config())
    assert isinstance(rebuilt, MultiLabelAccuracy)
    assert rebuilt.threshold == (0.2, 0.7)
    assert rebuilt.average == "hamming"


@pytest.mark.reliability(MULTILABEL)
@pytest.mark.parametrize("check", ["eager", "lazy"])
@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (soft_labels(), NonIntegerLabelError, "labels contain values other than 0 and 1"),
        (2 * multi_hot_labels() - 1, LabelRangeError, r"look like \{-1, 1\} targets"),
        (np.where(multi_hot_labels() == 1, np.nan, 0), NonFiniteLabelError, "NaN or infinite"),
    ],
    ids=["soft", "minus_one_one", "nan"],
)
def test_multilabel_accuracy_checks_labels(check, labels, error, message):
    metric = MultiLabelAccuracy(check=check)
    with pytest.raises(error, match=message):
        update_safe(metric, labels, random_preds())


@pytest.mark.reliability(MULTILABEL)
def test_multilabel_accuracy_rejects_class_indices():
    labels = np.random.RandomState(7).randint(0, NUM_CLASSES, NUM_SAMPLES)
    with pytest.raises(LabelLayoutError, match=r"labels have shape \(100,\) but multi-label "
                                               "targets are 2-D"):
        update_safe(MultiLabelAccuracy(), labels, random_preds())


# --- class index far above the number of classes -----------------------------------------

THREE_CLASS_PREDS = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.5]], dtype=np.float32)


@pytest.mark.reliability(TOO_LARGE, role="mxnet")
def test_mxnet_loss_clips_1000_to_last():
    clipped, clipped_grad = softmax_loss_grad([0, 1000], THREE_CLASS_PREDS)
    last, last_grad = softmax_loss_grad([0, 2], THREE_CLASS_PREDS)
    np.testing.assert_array_equal(clipped, last)
    np.testing.assert_array_equal(clipped_grad, last_grad)


@pytest.mark.reliability(
    TOO_LARGE,
    input="labels [0, 1000] with 3 classes, softmax cross-entropy",
    mxnet="the loss and gradient of label 2, silently",
    gluon_safe="LabelRangeError naming 1000, its index and the range [0, 3)",
)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_loss_names_1000_index_and_range(check):
    loss = SafeSoftmaxCELoss(check=check)
    with pytest.raises(LabelRangeError, match=r"1000\.0 at labels\[1\] .*"
                                              r"class indices in \[0, 3\)") as info:
        loss(nd.array(THREE_CLASS_PREDS), nd.array([0, 1000]))
        loss.flush()
    assert info.value.values == (1000.0,)
    assert info.value.positions == ((1,),)
    assert "1001 units" in info.value.hint


@pytest.mark.reliability(TOO_LARGE)
@pytest.mark.parametrize("value", [3.0, 1000.0, 2.0**31, 1e30])
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_rejects_index_beyond_classes(value, check):
    # 2**31 and 1e30 overflow int32, the dtype MXNet's Accuracy casts labels to.
    labels = np.array([0, value, 1], dtype=np.float32)
    preds = np.eye(3, dtype=np.float32)
    with pytest.raises(LabelRangeError, match=r"class indices >= num_classes=3") as info:
        update_safe(SafeAccuracy(check=check), labels, preds)
    assert info.value.positions == ((1,),)


@pytest.mark.reliability(TOO_LARGE)
def test_loader_index_beyond_classes_raises():
    labels = np.array([0, 1, 2, 0, 1, 1000, 2, 0], dtype=np.float32)
    with pytest.raises(LabelRangeError, match=r"batch 1: .*1000\.0 at labels\[1\].*Dataset "
                                              "indices of the samples shown: 5"):
        list(loader_over(labels, num_classes=3))


@pytest.mark.reliability(TOO_LARGE)
def test_fit_index_beyond_classes_raises():
    labels = np.array([0, 1, 2, 1000], dtype=np.float32)
    with pytest.raises(LabelRangeError, match=r"batch 0: labels contain class indices >= "
                                              "num_classes=3"):
        fit(tiny_net(), tiny_data(labels), loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=1,
            ctx=mx.cpu(0), verbose=False, check="lazy")


# --- 1-based labels ------------------------------------------------------------------------

@pytest.mark.reliability(ONE_BASED, role="mxnet")
def test_mxnet_loss_trains_3_as_2():
    preds = np.random.RandomState(8).randn(4, 3).astype(np.float32)
    one_based, one_based_grad = softmax_loss_grad([1, 2, 3, 3], preds)
    clipped, clipped_grad = softmax_loss_grad([1, 2, 2, 2], preds)
    np.testing.assert_array_equal(one_based, clipped)
    np.testing.assert_array_equal(one_based_grad, clipped_grad)
    # Class 0 is never a target: its column of the gradient only pushes it down.
    assert (one_based_grad[:, 0] > 0).all()


@pytest.mark.reliability(
    ONE_BASED,
    input="labels 1..3 with 3 outputs",
    mxnet="label 3 is clipped onto 2 (identical loss and gradient); class 0 never trained",
    gluon_safe="LabelRangeError: look 1-based (1 to 3); suggests LabelEncoder",
)
@pytest.mark.parametrize("check", ["eager", "lazy"])
@pytest.mark.parametrize("hybridize", [False, True])
def test_softmax_loss_one_based_labels_raise(check, hybridize):
    loss = SafeSoftmaxCELoss(check=check)
    if hybridize:
        loss.hybridize()
    with pytest.raises(LabelRangeError, match=r"run from 1 to 3 = num_classes, so they look "
                                              r"1-based.*LabelEncoder") as info:
        loss(nd.ones((4, 3)), nd.array([1, 2, 3, 3]))
        loss.flush()
    assert info.value.values == (3.0, 3.0)


@pytest.mark.reliability(ONE_BASED)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_one_based_labels_raise(check):
    with pytest.raises(LabelRangeError, match="so they look 1-based"):
        update_safe(SafeAccuracy(check=check), np.array([1, 2, 3, 3]), np.eye(4, 3))


@pytest.mark.reliability(ONE_BASED)
def test_loader_one_based_labels_raise():
    with pytest.raises(LabelRangeError, match="so they look 1-based"):
        list(loader_over(np.array([1, 2, 3, 1, 2, 3]), num_classes=3))


@pytest.mark.reliability(ONE_BASED)
def test_label_encoder_fixes_one_based_labels():
    raw = np.array([1, 2, 3, 3], dtype=np.float32)
    encoder = LabelEncoder().fit(raw)
    encoded = encoder.transform(raw)
    np.testing.assert_array_equal(encoded, raw - 1)
    preds = np.random.RandomState(9).randn(4, 3).astype(np.float32)
    safe, safe_grad = softmax_loss_grad(encoded, preds, SafeSoftmaxCELoss())
    plain, plain_grad = softmax_loss_grad(encoded, preds)
    np.testing.assert_array_equal(safe, plain)
    np.testing.assert_array_equal(safe_grad, plain_grad)


# --- padding label -1 ------------------------------------------------------------------------

PADDED = np.array([0, -1, 2, -1, 1, 2], dtype=np.float32)
PADDED_PREDS = np.random.RandomState(10).randn(6, 3).astype(np.float32)


@pytest.mark.reliability(PADDING, role="mxnet")
def test_mxnet_trains_padding_as_class_0():
    padded, padded_grad = softmax_loss_grad(PADDED, PADDED_PREDS)
    zero, zero_grad = softmax_loss_grad(np.maximum(PADDED, 0), PADDED_PREDS)
    np.testing.assert_array_equal(padded, zero)
    np.testing.assert_array_equal(padded_grad, zero_grad)


@pytest.mark.reliability(
    PADDING,
    input="padding label -1 among class indices",
    mxnet="trained as class 0",
    gluon_safe="LabelRangeError suggesting ignore_label=-1; with ignore_label=-1 the loss, "
               "the gradient, the metric and fit skip those items",
)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_padding_without_ignore_label_raises(check):
    loss = SafeSoftmaxCELoss(check=check)
    with pytest.raises(LabelRangeError, match=r"negative class indices.*pass ignore_label=-1"):
        loss(nd.array(PADDED_PREDS), nd.array(PADDED))
        loss.flush()
    with pytest.raises(LabelRangeError, match="pass ignore_label=-1"):
        update_safe(SafeAccuracy(check=check), PADDED, PADDED_PREDS)


@pytest.mark.reliability(PADDING)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_ignore_label_zeroes_loss_and_gradient(check):
    values, grad = softmax_loss_grad(PADDED, PADDED_PREDS, SafeSoftmaxCELoss(ignore_label=-1,
                                                                             check=check))
    kept = PADDED != -1
    plain, plain_grad = softmax_loss_grad(PADDED[kept], PADDED_PREDS[kept])
    np.testing.assert_array_equal(values[~kept], 0)
    np.testing.assert_array_equal(grad[~kept], 0)
    np.testing.assert_array_equal(values[kept], plain)
    np.testing.assert_array_equal(grad[kept], plain_grad)


@pytest.mark.reliability(PADDING)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_ignore_label_accuracy(check):
    metric = SafeAccuracy(ignore_label=-1, check=check)
    kept = PADDED != -1
    expected = float((PADDED_PREDS.argmax(axis=1)[kept] == PADDED[kept]).mean())
    assert update_safe(metric, PADDED, PADDED_PREDS) == expected
    assert metric.num_inst == int(kept.sum())


@pytest.mark.reliability(PADDING)
def test_fit_ignore_label_skips_padding():
    features = np.random.RandomState(11).randn(6, 4).astype(np.float32)
    kept = PADDED != -1
    padded_net, kept_net = tiny_net(), tiny_net()
    for source, target in zip(padded_net.collect_params().values(),
                              kept_net.collect_params().values()):
        target.set_data(source.data())
    sgd = {"learning_rate": 0.5}
    history = fit(padded_net, [(nd.array(features), nd.array(PADDED))],
                  loss=SafeSoftmaxCELoss(ignore_label=-1), optimizer="sgd",
                  optimizer_params=sgd, epochs=1, ctx=mx.cpu(0), verbose=False)
    fit(kept_net, [(nd.array(features[kept]), nd.array(PADDED[kept]))],
        loss=gluon.loss.SoftmaxCrossEntropyLoss(), optimizer="sgd", optimizer_params=sgd,
        epochs=1, ctx=mx.cpu(0), verbose=False)
    for (name, padded), kept_param in zip(padded_net.collect_params().items(),
                                          kept_net.collect_params().values()):
        np.testing.assert_allclose(padded.data().asnumpy(), kept_param.data().asnumpy(),
                                   rtol=1e-6, atol=1e-7, err_msg=name)
    assert np.isfinite(history["loss"][0])


@pytest.mark.reliability(PADDING)
def test_loader_ignore_label_passes_padding_only():
    batches = list(loader_over(PADDED, num_classes=3, ignore_label=-1))
    assert sum(batch.num_samples for batch in batches) == len(PADDED)
    with pytest.raises(LabelRangeError, match=r"-2\.0 at labels\[1\]"):
        list(loader_over(np.array([0, -2, 1]), num_classes=3, ignore_label=-1))


# --- NaN labels --------------------------------------------------------------------------------

@pytest.mark.reliability(NAN_LABEL, role="mxnet")
def test_mxnet_nan_label_trains_class_0():
    preds = np.array([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=np.float32)
    labels = np.array([np.nan, 0], dtype=np.float32)
    nan_loss, nan_grad = softmax_loss_grad(labels, preds)
    zero_loss, zero_grad = softmax_loss_grad([0, 0], preds)
    np.testing.assert_array_equal(nan_loss, zero_loss)
    np.testing.assert_array_equal(nan_grad, zero_grad)

    metric = mx.metric.Accuracy()
    metric.update([nd.array(labels)], [nd.array(preds)])
    # The int32 cast of NaN matches no class, so the sample trained as class 0 counts as wrong.
    expected = float((preds.argmax(axis=1).astype(np.int32) == labels.astype(np.int32)).mean())
    assert metric.get()[1] == expected
    assert expected == 0.5


@pytest.mark.reliability(
    NAN_LABEL,
    input="a NaN (or inf) label",
    mxnet="trained as class 0 and counted as wrong",
    gluon_safe="NonFiniteLabelError naming the value's index, in losses, metrics and the loader",
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_softmax_loss_nonfinite_label_names_index(value, check):
    loss = SafeSoftmaxCELoss(check=check)
    with pytest.raises(NonFiniteLabelError, match=r"at labels\[2\]") as info:
        loss(nd.ones((4, 3)), nd.array([0, 1, value, 2]))
        loss.flush()
    assert info.value.positions == ((2,),)


@pytest.mark.reliability(NAN_LABEL)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_accuracy_nan_label_raises(check):
    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[0\]"):
        update_safe(SafeAccuracy(check=check), np.array([np.nan, 0]), np.eye(2, 3))


@pytest.mark.reliability(NAN_LABEL)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_sigmoid_bce_nan_target_raises(check):
    loss = SafeSigmoidBCELoss(check=check)
    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[1, 0\]"):
        loss(nd.zeros((2, 2)), nd.array([[0, 1], [np.nan, 0]]))
        loss.flush()


@pytest.mark.reliability(NAN_LABEL)
def test_loader_nan_label_names_sample():
    labels = np.array([0, 1, 2, 0, 1, np.nan], dtype=np.float32)
    with pytest.raises(NonFiniteLabelError, match=r"batch 1: .*nan at labels\[1\].*Dataset "
                                                  "indices of the samples shown: 5"):
        list(loader_over(labels, num_classes=3))


# --- one-hot labels to the sparse softmax loss --------------------------------------------------

FOUR_BY_THREE = np.random.RandomState(12).randn(4, 3).astype(np.float32)
ONE_HOT_4x3 = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]


@pytest.mark.reliability(SPARSE_LOSS, role="mxnet")
def test_mxnet_sparse_loss_one_hot_error():
    with pytest.raises(mx.base.MXNetError, match="Shape inconsistent") as info:
        gluon.loss.SoftmaxCrossEntropyLoss()(nd.array(FOUR_BY_THREE),
                                             nd.array(ONE_HOT_4x3)).wait_to_read()
    assert "sparse_label" not in str(info.value)


@pytest.mark.reliability(
    SPARSE_LOSS,
    input="one-hot labels (4, 3) to SoftmaxCrossEntropyLoss (sparse_label=True)",
    mxnet="MXNetError 'Shape inconsistent' with no hint",
    gluon_safe="LabelLayoutError naming sparse_label=False or class indices; with "
               "sparse_label=False, a row like [2, 0, 0] raises",
)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_sparse_loss_one_hot_hint(check):
    loss = SafeSoftmaxCELoss(check=check)
    with pytest.raises(LabelLayoutError, match=r"labels of shape \(4, 3\) look like") as info:
        loss(nd.array(FOUR_BY_THREE), nd.array(ONE_HOT_4x3))
    assert "pass sparse_label=False" in str(info.value)
    assert "class indices (labels.argmax(axis=-1))" in str(info.value)


@pytest.mark.reliability(SPARSE_LOSS)
@pytest.mark.parametrize("check", ["eager", "lazy"])
def test_dense_loss_one_hot_matches_mxnet(check):
    safe, safe_grad = softmax_loss_grad(ONE_HOT_4x3, FOUR_BY_THREE,
                                        SafeSoftmaxCELoss(sparse_label=False, check=check))
    plain, plain_grad = softmax_loss_grad(
        ONE_HOT_4x3, FOUR_BY_THREE, gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False))
    np.testing.assert_array_equal(safe, plain)
    np.testing.assert_array_equal(safe_grad, plain_grad)


@pytest.mark.reliability(SPARSE_LOSS)
@pytest.mark.parametrize("check", ["eager", "lazy"])
@pytest.mark.parametrize(
    ("row", "error", "message"),
    [
        ([2, 0, 0], LabelLayoutError, "rows do not sum to 1"),
        ([1, 1, 0], LabelLayoutError, r"rows hold several 1s \(multi-hot\)"),
        ([1.5, -0.5, 0], LabelRangeError, "negative values in dense label rows"),
        ([np.nan, 1, 0], NonFiniteLabelError, "NaN or infinite"),
    ],
    ids=["not_distribution", "multi_hot", "negative", "nan"],
)
def test_dense_loss_rejects_non_distributions(check, row, error, message):
    labels = ONE_HOT_4x3.copy()
    labels[1] = row
    loss = SafeSoftmaxCELoss(sparse_label=False, check=check)
    with pytest.raises(error, match=message):
        loss(nd.array(FOUR_BY_THREE), nd.array(labels))
        loss.flush()
