"""Tests for gluon-safe demo: gluon_safe.demo and its training loop in gluon_safe._demo_training."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from gluon_safe._compat import mx
from gluon_safe._demo_training import TEST_FRACTION, split_wine
from gluon_safe.datasets import load_wine
from gluon_safe.demo import DEFAULT_EPOCHS, DemoResult, run_demo
from gluon_safe.errors import LabelRangeError, NonIntegerLabelError

EPOCH_LINE = re.compile(
    r"Epoch: \d+, ela: \d+\.\d sec, Loss: \d+\.\d{6}, Train_acc \d\.\d{4}, Test_acc \d\.\d{4}"
)
ELAPSED = re.compile(r"ela: \d+\.\d sec")
FINAL_ACCURACY = re.compile(r"Test accuracy after (\d+) epochs?: (\d\.\d{4})")
DEMO_TIMEOUT_S = 120


def _run_demo_lines(epochs: int, seed: int = 0) -> tuple[DemoResult, list[str]]:
    lines: list[str] = []
    result = run_demo(epochs=epochs, seed=seed, write=lines.append)
    return result, lines


def _squash(lines: list[str]) -> str:
    """Join the report into one string with single spaces, undoing the line wrapping."""
    return " ".join(" ".join(lines).split())


def _run_demo_process(*args: str) -> subprocess.CompletedProcess[str]:
    # The time-out only stops a hung demo; tests never assert wall-clock times.
    return subprocess.run(
        [sys.executable, "-m", "gluon_safe", "demo", *args],
        capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, check=False,
    )


@pytest.fixture(scope="module")
def full_demo() -> tuple[DemoResult, list[str]]:
    return _run_demo_lines(DEFAULT_EPOCHS)


def test_split_wine_is_stratified_and_disjoint() -> None:
    data = load_wine()

    split = split_wine(data, seed=5)

    for value in (1, 2, 3):
        count = int((data.classes == value).sum())
        assert int((split.test_classes == value).sum()) == round(TEST_FRACTION * count)
        assert int((split.train_classes == value).sum()) == count - round(TEST_FRACTION * count)
    assert np.intersect1d(split.train_rows, split.test_rows).size == 0
    np.testing.assert_array_equal(
        np.sort(np.concatenate([split.train_rows, split.test_rows])), np.arange(len(data.classes))
    )
    np.testing.assert_array_equal(split.train_classes, data.classes[split.train_rows])
    np.testing.assert_array_equal(split.test_classes, data.classes[split.test_rows])


def test_split_wine_scales_with_training_statistics() -> None:
    data = load_wine()
    split = split_wine(data, seed=5)
    train = data.features[split.train_rows].astype(np.float64)
    low = train.min(axis=0)
    span = train.max(axis=0) - low

    expected_test = (data.features[split.test_rows] - low) / span

    np.testing.assert_allclose(split.train_features, (train - low) / span, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(split.test_features, expected_test, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(split.train_features.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(split.train_features.max(axis=0), 1.0, atol=1e-6)
    assert split.train_features.dtype == np.float32
    assert split.test_features.dtype == np.float32


def test_split_wine_depends_on_seed() -> None:
    data = load_wine()

    first = split_wine(data, seed=0)
    again = split_wine(data, seed=0)
    other = split_wine(data, seed=1)

    np.testing.assert_array_equal(first.test_features, again.test_features)
    assert not np.array_equal(first.test_features, other.test_features)


@pytest.mark.parametrize(
    ("kwargs", "echoed"),
    [({"epochs": 0}, "epochs=0"), ({"seed": -1}, "seed=-1"), ({"seed": 2**32}, f"seed={2**32}")],
    ids=["epochs-zero", "seed-negative", "seed-too-large"],
)
def test_run_demo_invalid_arguments(kwargs: dict[str, int], echoed: str) -> None:
    with pytest.raises(ValueError, match=re.escape(echoed)):
        run_demo(write=lambda line: None, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "echoed"),
    [
        ({"epochs": 2.5}, "epochs=2.5"),
        ({"seed": "0"}, "seed='0'"),
        ({"epochs": True}, "epochs=True"),
    ],
    ids=["epochs-float", "seed-string", "epochs-bool"],
)
def test_run_demo_argument_types(kwargs: dict[str, Any], echoed: str) -> None:
    with pytest.raises(TypeError, match=re.escape(echoed)):
        run_demo(write=lambda line: None, **kwargs)


def test_run_demo_short_run_structure() -> None:
    result, lines = _run_demo_lines(epochs=2)

    epoch_lines = [line for line in lines if line.startswith("Epoch: ")]
    assert len(epoch_lines) == 2
    assert epoch_lines == [epoch.line() for epoch in result.encoded.history]
    assert all(EPOCH_LINE.fullmatch(line) for line in epoch_lines)
    assert len(result.one_based.history) == 2
    assert len(result.normalized.history) == 2


def test_run_demo_rejections_name_both_mistakes() -> None:
    result, lines = _run_demo_lines(epochs=1)

    found = [(r.setup, r.component, type(r.error)) for r in result.rejections]
    assert found == [
        ("1-based", "SafeSoftmaxCrossEntropyLoss", LabelRangeError),
        ("1-based", "SafeAccuracy", LabelRangeError),
        ("normalized", "SafeSoftmaxCrossEntropyLoss", NonIntegerLabelError),
        ("normalized", "SafeAccuracy", NonIntegerLabelError),
    ]
    normalized_values = {np.float32(1 / 3), np.float32(2 / 3)}
    for rejection in result.rejections:
        if rejection.setup == "1-based":
            assert set(rejection.error.values) == {3.0}
            assert "1-based" in str(rejection.error)
        else:
            assert {np.float32(v) for v in rejection.error.values} <= normalized_values
            assert "normalized" in str(rejection.error)
        assert " ".join(str(rejection.error).split()) in _squash(lines)


def test_run_demo_depends_on_seed() -> None:
    first, _ = _run_demo_lines(epochs=2, seed=0)
    other, _ = _run_demo_lines(epochs=2, seed=1)

    assert first.encoded.history[-1].loss != other.encoded.history[-1].loss


@pytest.mark.slow
def test_run_demo_reaches_accuracy(full_demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = full_demo

    last = result.encoded.history[-1]
    assert len(result.encoded.history) == DEFAULT_EPOCHS
    assert last.test_accuracy >= 0.9
    assert f"Test accuracy after {DEFAULT_EPOCHS} epochs: {last.test_accuracy:.4f}" in lines


@pytest.mark.slow
def test_run_demo_one_based_accuracy_is_misleading(
    full_demo: tuple[DemoResult, list[str]],
) -> None:
    result, lines = full_demo
    run = result.one_based
    test_labels = result.split.test_classes.astype(np.float32)

    # No output unit 3 exists, so no class-3 wine can be scored correct.
    reachable = float(np.mean(result.split.test_classes != 3))
    assert run.history[-1].test_accuracy <= reachable
    assert run.history[-1].test_accuracy < result.encoded.history[-1].test_accuracy
    assert run.history[-1].test_accuracy == pytest.approx(
        _mxnet_accuracy(run.test_outputs, test_labels)
    )
    assert _accuracy_line(run.history[-1]) in lines


@pytest.mark.slow
def test_run_demo_normalized_accuracy_is_misleading(
    full_demo: tuple[DemoResult, list[str]],
) -> None:
    result, lines = full_demo
    run = result.normalized
    test_labels = (result.split.test_classes / 3).astype(np.float32)
    true_accuracy = float(np.mean(run.test_predictions == result.split.test_classes - 1))

    assert run.history[-1].test_accuracy >= 0.9
    assert run.history[-1].test_accuracy == pytest.approx(
        _mxnet_accuracy(run.test_outputs, test_labels)
    )
    assert result.normalized_true_accuracy == pytest.approx(true_accuracy)
    assert true_accuracy < 0.5
    assert _accuracy_line(run.history[-1]) in lines


@pytest.mark.slow
def test_demo_process_end_to_end() -> None:
    completed = _run_demo_process("--epochs", str(DEFAULT_EPOCHS), "--seed", "0")

    out = completed.stdout
    assert completed.returncode == 0, completed.stderr
    assert out.count("mx.metric.Accuracy: train ") == 2
    assert "raised LabelRangeError" in out
    assert "raised NonIntegerLabelError" in out
    assert len([line for line in out.splitlines() if EPOCH_LINE.fullmatch(line)]) == (
        DEFAULT_EPOCHS
    )
    final = FINAL_ACCURACY.search(out)
    assert final is not None
    assert int(final.group(1)) == DEFAULT_EPOCHS
    assert float(final.group(2)) >= 0.9


@pytest.mark.slow
def test_demo_process_is_deterministic() -> None:
    first = _run_demo_process("--epochs", "5", "--seed", "7")
    second = _run_demo_process("--epochs", "5", "--seed", "7")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "Epoch: 4, " in first.stdout
    assert ELAPSED.sub("ela: _", first.stdout) == ELAPSED.sub("ela: _", second.stdout)


def _mxnet_accuracy(outputs: Any, labels: np.ndarray[Any, Any]) -> float:
    metric = mx.metric.Accuracy()
    metric.update([mx.nd.array(labels)], [outputs])
    return float(metric.get()[1])


def _accuracy_line(epoch: Any) -> str:
    return (
        f"mx.metric.Accuracy: train {epoch.train_accuracy:.4f}, test {epoch.test_accuracy:.4f}"
    )
