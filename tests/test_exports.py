"""Guard the public names that ``gluon_safe/__init__.py`` exports."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import gluon_safe
from gluon_safe._compat import mx

EXPECTED_PUBLIC = {
    "CSVLogger", "Callback", "Checkpoint", "CheckpointError", "ContinuousLabelError",
    "DeviceBatch", "DeviceDataLoader", "DeviceError", "EarlyStopping", "GluonSafeError",
    "History", "LabelEncoder", "LabelError", "LabelLayoutError", "LabelRangeError",
    "LabelShapeError", "LabelTypeError", "LaunchError", "LossReductionWarning",
    "MultiLabelAccuracy", "MultiLabelEncoder", "NonFiniteError", "NonFiniteLabelError",
    "NonIntegerLabelError", "Resume", "SafeAccuracy", "SafeMetricBase",
    "SafeSigmoidBCELoss", "SafeSigmoidBinaryCrossEntropyLoss", "SafeSoftmaxCELoss",
    "SafeSoftmaxCrossEntropyLoss", "SafeTopKAccuracy", "ShardSampler",
    "StaleGradientError", "TerminateOnNaN", "Trainer", "UnseenLabelError",
    "WorkerTimeoutError", "__version__", "checks", "data", "devices", "encoding",
    "errors", "evaluate", "fit", "load_checkpoint", "losses", "metrics", "patch",
    "split_batch", "training", "unpatch",
}


def test_all_is_sorted_and_unique() -> None:
    assert gluon_safe.__all__ == sorted(gluon_safe.__all__)
    assert len(set(gluon_safe.__all__)) == len(gluon_safe.__all__)


def test_all_matches_expected_names() -> None:
    assert set(gluon_safe.__all__) == EXPECTED_PUBLIC


@pytest.mark.parametrize("name", sorted(EXPECTED_PUBLIC))
def test_exported_name_resolves(name: str) -> None:
    assert getattr(gluon_safe, name) is not None


def test_exported_classes_belong_to_package() -> None:
    for name in gluon_safe.__all__:
        value = getattr(gluon_safe, name)
        if isinstance(value, (type, types.FunctionType)):
            assert value.__module__.startswith("gluon_safe."), name


def test_import_leaves_mxnet_names_alone() -> None:
    assert mx.metric.create("acc").__class__ is mx.metric.Accuracy
    assert mx.gluon.loss.SoftmaxCrossEntropyLoss.__module__ == "mxnet.gluon.loss"


@pytest.mark.timeout(120)
def test_import_under_warnings_as_errors() -> None:
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import gluon_safe"],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert completed.returncode == 0, completed.stderr
