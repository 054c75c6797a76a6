"""Tests for gluon_safe.patch() and unpatch() (gluon_safe.patching)."""

from __future__ import annotations

import doctest
import logging
from typing import Any, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gluon_safe
from gluon_safe import patching
from gluon_safe._compat import gluon, mx, nd
from gluon_safe.errors import LabelRangeError, NonIntegerLabelError
from gluon_safe.training import _setup

MX_ACCURACY = vars(mx.metric)["Accuracy"]
MX_TOP_K = vars(mx.metric)["TopKAccuracy"]
MX_SOFTMAX_CE = vars(gluon.loss)["SoftmaxCrossEntropyLoss"]
MX_SIGMOID_BCE = vars(gluon.loss)["SigmoidBinaryCrossEntropyLoss"]

SAFE_BY_ORIGINAL = {
    MX_ACCURACY: gluon_safe.SafeAccuracy,
    MX_TOP_K: gluon_safe.SafeTopKAccuracy,
    MX_SOFTMAX_CE: gluon_safe.SafeSoftmaxCrossEntropyLoss,
    MX_SIGMOID_BCE: gluon_safe.SafeSigmoidBinaryCrossEntropyLoss,
}


@pytest.fixture(autouse=True)
def _always_unpatched() -> Iterator[None]:
    gluon_safe.unpatch()
    yield
    gluon_safe.unpatch()


def _metric_registry() -> dict[str, Any]:
    registry: dict[str, Any] = mx.registry._REGISTRY[mx.metric.EvalMetric]
    return registry


def _snapshot() -> dict[str, Any]:
    return {
        "metric_namespace": dict(vars(mx.metric)),
        "loss_namespace": dict(vars(gluon.loss)),
        "metric_type": type(mx.metric),
        "loss_type": type(gluon.loss),
        "registry": dict(_metric_registry()),
    }


def _assert_same_objects(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        if isinstance(before[key], dict):
            assert before[key].keys() == after[key].keys(), key
            changed = [k for k in before[key] if before[key][k] is not after[key][k]]
            assert changed == [], key
        else:
            assert before[key] is after[key], key


def _aliases(module: Any, cls: type) -> list[str]:
    return [name for name, value in vars(module).items()
            if value is cls and not name.startswith("_")]


def test_patch_replaces_metric_classes() -> None:
    with gluon_safe.patch():
        assert mx.metric.Accuracy is gluon_safe.SafeAccuracy
        assert mx.metric.TopKAccuracy is gluon_safe.SafeTopKAccuracy

    assert mx.metric.Accuracy is MX_ACCURACY
    assert mx.metric.TopKAccuracy is MX_TOP_K


def test_patch_replaces_every_loss_alias() -> None:
    aliases = {name: SAFE_BY_ORIGINAL[cls] for cls in (MX_SOFTMAX_CE, MX_SIGMOID_BCE)
               for name in _aliases(gluon.loss, cls)}

    with gluon_safe.patch():
        patched = {name: getattr(gluon.loss, name) for name in aliases}

    assert {"SoftmaxCELoss", "SigmoidBCELoss"} <= aliases.keys()
    assert patched == aliases
    assert gluon.loss.SoftmaxCELoss is MX_SOFTMAX_CE


def test_patch_replaces_every_registry_name() -> None:
    names = {name: cls for name, cls in _metric_registry().items()
             if cls in (MX_ACCURACY, MX_TOP_K)}

    with gluon_safe.patch():
        created = {name: type(mx.metric.create(name, **_metric_args(cls)))
                   for name, cls in names.items()}

    assert {"acc", "accuracy"} <= names.keys()
    assert created == {name: SAFE_BY_ORIGINAL[cls] for name, cls in names.items()}
    assert type(mx.metric.create("acc")) is MX_ACCURACY


def _metric_args(cls: type) -> dict[str, Any]:
    return {"top_k": 2} if cls is MX_TOP_K else {}


def test_patch_from_import_gets_safe_class() -> None:
    with gluon_safe.patch():
        from mxnet.gluon.loss import SigmoidBCELoss, SoftmaxCrossEntropyLoss
        from mxnet.metric import Accuracy

    assert Accuracy is gluon_safe.SafeAccuracy
    assert SoftmaxCrossEntropyLoss is gluon_safe.SafeSoftmaxCrossEntropyLoss
    assert SigmoidBCELoss is gluon_safe.SafeSigmoidBinaryCrossEntropyLoss


def test_patch_touches_nothing_else() -> None:
    before = _snapshot()

    with gluon_safe.patch():
        during = _snapshot()
        other_metrics = _unreplaced_attributes(mx.metric)
        other_losses = _unreplaced_attributes(gluon.loss)
    after = _snapshot()

    _assert_same_objects(before, after)
    # The module dictionaries stay as they are even while patched: MXNet's own code
    # reads its classes from there.
    _assert_same_objects(
        {k: before[k] for k in ("metric_namespace", "loss_namespace")},
        {k: during[k] for k in ("metric_namespace", "loss_namespace")},
    )
    assert all(other_metrics[n] is vars(mx.metric)[n] for n in other_metrics)
    assert all(other_losses[n] is vars(gluon.loss)[n] for n in other_losses)
    changed = {n for n in before["registry"] if during["registry"][n] is not before["registry"][n]}
    expected = {n for n, cls in before["registry"].items() if cls in SAFE_BY_ORIGINAL}
    assert changed == expected


def _unreplaced_attributes(module: Any) -> dict[str, Any]:
    replaced = [id(cls) for cls in SAFE_BY_ORIGINAL]
    return {name: getattr(module, name) for name, value in vars(module).items()
            if id(value) not in replaced}


def test_patch_is_idempotent() -> None:
    before = _snapshot()

    first = gluon_safe.patch()
    second = gluon_safe.patch()
    gluon_safe.unpatch()

    assert first.activated
    assert not second.activated
    assert not patching.is_patched()
    _assert_same_objects(before, _snapshot())


def test_unpatch_without_patch_does_nothing() -> None:
    before = _snapshot()

    gluon_safe.unpatch()

    _assert_same_objects(before, _snapshot())


def test_patch_nested_block_keeps_outer_patch() -> None:
    gluon_safe.patch()

    with gluon_safe.patch() as inner:
        pass

    assert not inner.activated
    assert patching.is_patched()
    assert mx.metric.Accuracy is gluon_safe.SafeAccuracy


def test_patch_block_unpatches_on_exception() -> None:
    with pytest.raises(RuntimeError, match="inside the block"), gluon_safe.patch():
        raise RuntimeError("inside the block")

    assert not patching.is_patched()
    assert mx.metric.Accuracy is MX_ACCURACY


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["patch", "unpatch"]), max_size=8))
def test_patch_state_follows_last_call(calls: list[str]) -> None:
    gluon_safe.unpatch()
    before = _snapshot()

    for call in calls:
        getattr(gluon_safe, call)()

    expect_patched = bool(calls) and calls[-1] == "patch"
    assert patching.is_patched() == expect_patched
    assert (mx.metric.Accuracy is gluon_safe.SafeAccuracy) == expect_patched
    gluon_safe.unpatch()
    _assert_same_objects(before, _snapshot())


def test_patch_assignment_raises_while_patched() -> None:
    with gluon_safe.patch(), pytest.raises(AttributeError, match=r"mxnet\.metric\.Accuracy"):
        mx.metric.Accuracy = MX_ACCURACY


def test_patch_classes_construct_and_match_mxnet() -> None:
    labels = nd.array([0, 2, 1, 1])
    preds = nd.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3], [0.5, 0.3, 0.2]])
    expected_metric = MX_ACCURACY()
    expected_metric.update([labels], [preds])
    expected_loss = MX_SOFTMAX_CE()(preds, labels).asnumpy()

    with gluon_safe.patch():
        # MXNet's constructors call super(Accuracy, self): they must still find MXNet's
        # class, or these calls recurse or fail.
        metric = mx.metric.Accuracy()
        metric.update([labels], [preds])
        loss = gluon.loss.SoftmaxCELoss()(preds, labels).asnumpy()
        top_k = mx.metric.TopKAccuracy(top_k=2)
        bce = gluon.loss.SigmoidBCELoss()

    assert metric.get() == expected_metric.get()
    np.testing.assert_array_equal(loss, expected_loss)
    assert type(top_k) is gluon_safe.SafeTopKAccuracy
    assert type(bce) is gluon_safe.SafeSigmoidBinaryCrossEntropyLoss


def test_patch_metric_raises_on_normalized_labels() -> None:
    with gluon_safe.patch():
        metric = mx.metric.create("acc")

    with pytest.raises(NonIntegerLabelError, match=r"0\.5 at labels"):
        metric.update([nd.array([0.0, 0.5, 1.0])], [nd.ones((3, 3))])


def test_patch_loss_raises_on_one_based_labels() -> None:
    with gluon_safe.patch():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()

    with pytest.raises(LabelRangeError, match="look 1-based"):
        loss(nd.ones((3, 3)), nd.array([1, 2, 3]))


def test_patch_config_round_trip() -> None:
    with gluon_safe.patch():
        rebuilt = mx.metric.create(mx.metric.Accuracy(axis=1).get_config())

    assert type(rebuilt) is gluon_safe.SafeAccuracy


def test_unpatch_keeps_name_registered_meanwhile(caplog: pytest.LogCaptureFixture) -> None:
    class CustomAccuracy(MX_ACCURACY):  # type: ignore[misc, valid-type]
        pass

    gluon_safe.patch()
    _metric_registry()["acc"] = CustomAccuracy
    try:
        with caplog.at_level(logging.WARNING, logger="gluon_safe.patching"):
            gluon_safe.unpatch()
        assert _metric_registry()["acc"] is CustomAccuracy
        assert "'acc' was registered again" in caplog.text
        assert _metric_registry()["accuracy"] is MX_ACCURACY
    finally:
        _metric_registry()["acc"] = MX_ACCURACY


def test_patch_fit_setup_still_sees_mxnet_classes() -> None:
    plain_loss = MX_SOFTMAX_CE()

    with gluon_safe.patch():
        safe_loss = gluon.loss.SoftmaxCrossEntropyLoss(num_classes=3)
        replaced = _setup.safe_loss(plain_loss, "auto")
        kept = _setup.safe_loss(safe_loss, "auto")
        metrics = _setup.default_metrics(plain_loss, "auto")

    assert type(replaced) is gluon_safe.SafeSoftmaxCrossEntropyLoss
    assert kept is safe_loss
    assert [type(m) for m in metrics] == [gluon_safe.SafeAccuracy]


def _module_fit(labels: np.ndarray[Any, Any]) -> list[str]:
    data = mx.sym.var("data")
    output = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3), name="softmax")
    features = np.random.RandomState(0).rand(len(labels), 4).astype(np.float32)
    train_iter = mx.io.NDArrayIter(features, labels, batch_size=10, label_name="softmax_label")
    module = mx.mod.Module(output, context=mx.cpu())
    seen: list[str] = []
    module.fit(train_iter, eval_metric="acc", num_epoch=1,
               batch_end_callback=lambda params: seen.append(type(params.eval_metric).__name__))
    return seen


def test_patch_module_fit_gets_safe_metric() -> None:
    classes = (np.arange(30) % 3).astype(np.float32)

    plain = _module_fit(classes / 2)
    with gluon_safe.patch():
        patched = _module_fit(classes)
        with pytest.raises(NonIntegerLabelError, match=r"0\.5 at labels"):
            _module_fit(classes / 2)

    assert plain == ["Accuracy"] * 3
    assert patched == ["SafeAccuracy"] * 3


def test_patching_doctests_pass() -> None:
    results = doctest.testmod(patching)

    assert results.failed == 0
    assert results.attempted >= 3
    assert not patching.is_patched()
