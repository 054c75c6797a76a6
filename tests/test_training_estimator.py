"""gluon_safe metrics and losses inside MXNet's own gluon.contrib.estimator.Estimator."""

from __future__ import annotations

import numpy as np
import pytest
from _training_helpers import init_fixed, loader, make_net, params_of, wine

from gluon_safe._compat import gluon, mx
from gluon_safe.errors import LabelRangeError, NonIntegerLabelError
from gluon_safe.losses import SafeSoftmaxCrossEntropyLoss
from gluon_safe.metrics import SafeAccuracy

estimator = pytest.importorskip("mxnet.gluon.contrib.estimator")


def estimator_run(loss, metric, labels_shift=0.0):
    features, labels = wine(30)
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    est = estimator.Estimator(net, loss=loss, train_metrics=metric, trainer=trainer,
                              context=mx.cpu(0))
    est.logger.disabled = True
    est.fit(loader(features, labels + labels_shift, 10), epochs=2)
    return net, est


def test_estimator_with_safe_parts_matches_plain():
    safe_net, safe_est = estimator_run(SafeSoftmaxCrossEntropyLoss(), SafeAccuracy())
    plain_net, plain_est = estimator_run(gluon.loss.SoftmaxCrossEntropyLoss(),
                                         mx.metric.Accuracy())
    expected = params_of(plain_net)
    for name, value in params_of(safe_net).items():
        np.testing.assert_array_equal(value, expected[name])
    assert safe_est.train_metrics[0].get()[1] == plain_est.train_metrics[0].get()[1]


def test_estimator_with_safe_loss_rejects_one_based_labels():
    with pytest.raises(LabelRangeError, match="labels contain class indices >= num_classes=3"):
        estimator_run(SafeSoftmaxCrossEntropyLoss(), SafeAccuracy(), labels_shift=1.0)


def test_estimator_with_safe_metric_rejects_normalized_labels():
    features, labels = wine(30)
    net = make_net()
    init_fixed(net, [mx.cpu(0)])
    est = estimator.Estimator(net, loss=gluon.loss.SoftmaxCrossEntropyLoss(),
                              train_metrics=SafeAccuracy(), context=mx.cpu(0),
                              trainer=gluon.Trainer(net.collect_params(), "sgd"))
    est.logger.disabled = True
    with pytest.raises(NonIntegerLabelError, match="so they look normalized"):
        est.fit(loader(features, labels / 2, 10), epochs=1)
