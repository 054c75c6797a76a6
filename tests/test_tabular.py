"""Tests for ``gluon-safe train`` and ``predict`` (gluon_safe.tabular)."""

from __future__ import annotations

import csv
import doctest
import json
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe import LabelEncoder
from gluon_safe._compat import mx, nd
from gluon_safe.cli import main
from gluon_safe.datasets import load_wine
from gluon_safe.tabular import (
    Standardizer,
    _split,
    build_network,
    predict_table,
    stratified_split,
    train_table,
)

WINE = str(resources.files("gluon_safe.datasets").joinpath("wine.csv"))
EPOCH_LINE = re.compile(
    r"^Epoch: \d+, ela: \d+\.\d sec, Loss: \d+\.\d{6}, Train_acc \d\.\d{4}, Test_acc \d\.\d{4}$",
    re.MULTILINE,
)


def _write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _blobs_rows(classes: Sequence[Any], per_class: int = 6, seed: int = 0) -> list[list[Any]]:
    rng = np.random.RandomState(seed)
    rows: list[list[Any]] = [["x1", "x2", "species"]]
    for index, value in enumerate(classes):
        for _ in range(per_class):
            x1, x2 = rng.normal(loc=3 * index, size=2)
            rows.append([f"{x1:.4f}", f"{x2:.4f}", value])
    return rows


@pytest.fixture(scope="module")
def wine_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wine") / "model"
    status = main(["train", WINE, "--label-column", "class", "--out", str(out)])
    assert status == 0
    return out


# -- train --------------------------------------------------------------------------------


def test_train_wine_writes_model_directory(
    wine_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = json.loads((wine_model / "model.json").read_text(encoding="utf-8"))
    features, classes, names = load_wine()
    encoder = LabelEncoder.load(wine_model / "label_encoder.json")
    scaling = json.loads((wine_model / "scaling.json").read_text(encoding="utf-8"))
    train_rows, _ = stratified_split(encoder.transform(classes), test_size=0.2, seed=0)

    assert info["feature_columns"] == list(names)
    assert info["num_classes"] == 3
    assert info["hidden"] == [64, 64]
    assert info["test_accuracy"] >= 0.9
    assert encoder.classes == (1, 2, 3)
    # The scaling comes from the training split only.
    np.testing.assert_allclose(scaling["mean"], features[train_rows].astype(np.float64)
                               .mean(axis=0), rtol=1e-5)
    assert (wine_model / "model.params").is_file()
    assert (wine_model / "checkpoints" / "latest").is_file()


def test_train_prints_epoch_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["train", WINE, "--label-column", "class", "--epochs", "3",
                   "--hidden", "8", "--out", str(tmp_path / "m")])

    out = capsys.readouterr().out
    assert status == 0
    assert len(EPOCH_LINE.findall(out)) == 3
    assert "classes: 1, 2, 3 (encoded as 0..2)" in out
    assert "split: 142 rows for training, 36 for testing" in out
    assert f"model saved to {tmp_path / 'm'}" in out


def test_train_default_out_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_csv(tmp_path / "blobs.csv", _blobs_rows(["a", "b"]))
    monkeypatch.chdir(tmp_path)

    status = main(["train", str(path), "--label-column", "species", "--epochs", "1"])

    assert status == 0
    assert (tmp_path / "blobs_model" / "model.json").is_file()


def test_train_same_seed_same_model(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "blobs.csv", _blobs_rows(["a", "b", "c"]))

    runs = [train_table(str(path), label_column="species", out=str(tmp_path / f"m{i}"),
                        epochs=2, hidden=(4,), seed=5) for i in range(2)]

    params = [nd.load(str(tmp_path / f"m{i}" / "model.params")) for i in range(2)]
    assert runs[0].info == runs[1].info
    for name in params[0]:
        np.testing.assert_array_equal(params[0][name].asnumpy(), params[1][name].asnumpy())


# -- predict ------------------------------------------------------------------------------


def test_predict_wine_prints_original_classes(
    wine_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features, classes, _ = load_wine()

    status = main(["predict", str(wine_model), WINE])

    printed = [int(line) for line in capsys.readouterr().out.split()]
    assert status == 0
    assert printed == _reference_predictions(wine_model, features)
    assert set(printed) <= {1, 2, 3}
    assert np.mean(np.array(printed) == classes) >= 0.9


def _reference_predictions(model: Path, features: np.ndarray[Any, Any]) -> list[Any]:
    """Predict with plain Gluon and numpy from the saved files, as an oracle."""
    info = json.loads((model / "model.json").read_text(encoding="utf-8"))
    scaling = json.loads((model / "scaling.json").read_text(encoding="utf-8"))
    encoder = LabelEncoder.load(model / "label_encoder.json")
    net = build_network(info["hidden"], info["num_classes"])
    net.load_parameters(str(model / "model.params"), ctx=mx.cpu())
    scaled = (features - np.array(scaling["mean"])) / np.array(scaling["std"])
    scores = net(nd.array(scaled.astype(np.float32))).asnumpy()
    predictions: list[Any] = encoder.inverse_transform(scores.argmax(axis=1))
    return predictions


def test_predict_ignores_order_and_extra_columns(wine_model: Path, tmp_path: Path) -> None:
    with open(WINE, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    reordered = [[row[i] for i in reversed(range(1, len(row)))] + ["extra"] for row in rows]
    path = _write_csv(tmp_path / "reordered.csv", reordered)

    assert predict_table(str(wine_model), str(path)) == predict_table(str(wine_model), WINE)


def test_train_predict_string_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _blobs_rows(["setosa", "versicolor", "virginica"], per_class=10)
    path = _write_csv(tmp_path / "iris.tsv", [[str(c) for c in row] for row in rows])
    path.write_text(path.read_text(encoding="utf-8").replace(",", "\t"), encoding="utf-8")
    out = tmp_path / "iris_model"

    train_status = main(["train", str(path), "--label-column", "species", "--epochs", "30",
                         "--out", str(out)])
    capsys.readouterr()
    predict_status = main(["predict", str(out), str(path)])

    printed = capsys.readouterr().out.split()
    assert train_status == 0
    assert predict_status == 0
    assert len(printed) == 30
    assert set(printed) <= {"setosa", "versicolor", "virginica"}
    expected = [row[2] for row in rows[1:]]
    assert np.mean([p == e for p, e in zip(printed, expected)]) >= 0.8


def test_predict_header_only_prints_nothing(
    wine_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(WINE, encoding="utf-8") as handle:
        header = handle.readline()
    path = tmp_path / "empty.csv"
    path.write_text(header, encoding="utf-8")

    status = main(["predict", str(wine_model), str(path)])

    assert status == 0
    assert capsys.readouterr().out == ""


# -- bad input: train ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "echoed"),
    [
        ([["x", "y"], ["1.0", "a"], ["red", "a"], ["2.0", "b"], ["3.0", "b"]],
         r"line 3, column 'x': 'red' \(not a number\)"),
        ([["x", "y"], ["1.0", "a"], ["", "a"], ["2.0", "b"], ["3.0", "b"]],
         r"line 3, column 'x': '' \(missing value\)"),
        ([["x", "y"], ["1.0", "a"], ["inf", "a"], ["2.0", "b"], ["3.0", "b"]],
         r"line 3, column 'x': 'inf' \(not finite\)"),
        ([["x", "z", "y"], ["1.0", "2", "a"], ["2.0", "a"], ["2.0", "1", "b"]],
         r"line 3: the row has 2 cells but the header has 3 columns"),
        ([["x", "y"], ["1.0", "a"], ["1.5", "a"], ["2.0", "b"], ["2.5", "b"], ["3.0", "c"]],
         r"column 'y': 1 class has a single sample: 'c' \(line 6\)"),
        ([["x", "y"], ["1.0", "0.0"], ["1.5", "0.5"], ["2.0", "1.0"], ["3.0", "0.5"]],
         r"column 'y': .*look normalized"),
        ([["x", "y"], ["1.0", "a"], ["1.5", ""], ["2.0", "b"], ["3.0", "b"]],
         r"column 'y': 1 of 4 labels is missing .* at line 3"),
        ([["x", "y"], ["1.0", "a"], ["1.5", "a"]],
         r"column 'y': Every label is the same class"),
        ([["x", "y"], ["1.0", "1"], ["1.5", "1"], ["2.0", "b"], ["3.0", "b"]],
         r"column 'y': The column mixes 2 numbers and 2 text values"),
    ],
    ids=["text-feature", "empty-feature", "infinite-feature", "ragged-row", "single-sample",
         "normalized-labels", "missing-label", "one-class", "mixed-labels"],
)
def test_train_bad_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[list[str]], echoed: str
) -> None:
    path = _write_csv(tmp_path / "bad.csv", rows)

    status = main(["train", str(path), "--label-column", "y", "--epochs", "1",
                   "--out", str(tmp_path / "m")])

    err = capsys.readouterr().err
    assert status == 1
    assert re.search(echoed, err), err
    assert not (tmp_path / "m").exists()


def test_train_many_bad_cells_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [["x", "w", "y"], *[["n/a", "?", "a" if i % 2 else "b"] for i in range(6)]]
    path = _write_csv(tmp_path / "bad.csv", rows)

    status = main(["train", str(path), "--label-column", "y", "--out", str(tmp_path / "m")])

    err = capsys.readouterr().err
    assert status == 1
    assert "12 feature cells cannot be used" in err
    assert "and 7 more" in err
    assert "Columns affected: 'w', 'x'" in err


@pytest.mark.parametrize(
    ("content", "args", "echoed"),
    [
        ("x,y\n1,a\n", ["--label-column", "label"], "column 'label' not found"),
        ("y\na\nb\n", ["--label-column", "y"], "no column besides the label column"),
        ("", ["--label-column", "y"], "is empty"),
        (None, ["--label-column", "y"], "file not found"),
        ("x,y\n1,a\n", ["--label-column", "y", "--hidden", "64,0"], "invalid value '64,0'"),
        ("x,y\n1,a\n", ["--label-column", "y", "--hidden", "a"], "invalid value 'a'"),
        ("x,y\n1,a\n", ["--label-column", "y", "--test-size", "1"], "invalid value '1'"),
        ("x,y\n1,a\n", ["--label-column", "y", "--learning-rate", "0"], "invalid value '0'"),
        ("x,y\n1,a\n", [], "--label-column"),
    ],
    ids=["label-column", "no-features", "empty", "missing-file", "hidden-zero",
         "hidden-word", "test-size", "learning-rate", "no-label-column"],
)
def test_train_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, args: list[str],
    echoed: str,
) -> None:
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    status = main(["train", str(path), *args, "--out", str(tmp_path / "m")])

    assert status == 2
    assert echoed in capsys.readouterr().err


def test_train_out_is_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")

    status = main(["train", WINE, "--label-column", "class", "--out", str(tmp_path / "taken")])

    assert status == 2
    assert "is a file, not a directory" in capsys.readouterr().err


# -- bad input: predict -------------------------------------------------------------------


def test_predict_missing_feature_column_exits_2(
    wine_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(WINE, encoding="utf-8") as handle:
        rows = [row[:-1] for row in csv.reader(handle)]
    path = _write_csv(tmp_path / "short.csv", rows)

    status = main(["predict", str(wine_model), str(path)])

    assert status == 2
    assert "lacks the feature column(s) 'proline'" in capsys.readouterr().err


def test_predict_bad_cell_exits_1(
    wine_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(WINE, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[4][2] = "high"
    path = _write_csv(tmp_path / "bad.csv", rows)

    status = main(["predict", str(wine_model), str(path)])

    assert status == 1
    assert "line 5, column 'malic_acid': 'high' (not a number)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("damage", "status", "echoed"),
    [
        (shutil.rmtree, 2, "model directory not found"),
        (lambda d: (d / "scaling.json").unlink(), 2, "scaling.json is missing"),
        (lambda d: (d / "model.json").write_text("{", encoding="utf-8"), 1, "not valid JSON"),
        (lambda d: _edit_json(d / "model.json", version=99), 1, "format version 99"),
        (lambda d: _edit_json(d / "model.json", hidden=[3]), 1, "does not fit the network"),
        (lambda d: _edit_json(d / "scaling.json", std=[0.0] * 13), 1, "not positive"),
        (lambda d: _edit_json(d / "model.json", num_classes=4), 1, "do not belong together"),
    ],
    ids=["no-directory", "missing-file", "bad-json", "version", "params", "scaling",
         "mismatch"],
)
def test_predict_damaged_model(
    wine_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any,
    status: int, echoed: str,
) -> None:
    copy = tmp_path / "copy"
    _copy_model(wine_model, copy)
    damage(copy)

    result = main(["predict", str(copy), WINE])

    assert result == status
    assert echoed in capsys.readouterr().err


def _copy_model(source: Path, target: Path) -> None:
    target.mkdir()
    for name in ("model.json", "model.params", "label_encoder.json", "scaling.json"):
        (target / name).write_bytes((source / name).read_bytes())


def _edit_json(path: Path, **changes: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")


# -- split and scaling --------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(2, 30), min_size=1, max_size=5),
    test_size=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_keeps_every_class(
    counts: list[int], test_size: float, seed: int
) -> None:
    classes = np.repeat(np.arange(len(counts)), counts)
    np.random.RandomState(0).shuffle(classes)

    train, test = stratified_split(classes, test_size=test_size, seed=seed)

    assert sorted([*train.tolist(), *test.tolist()]) == list(range(len(classes)))
    for value, count in enumerate(counts):
        expected_test = min(max(round(test_size * count), 1), count - 1)
        assert int((classes[test] == value).sum()) == expected_test
        assert int((classes[train] == value).sum()) == count - expected_test


@pytest.mark.parametrize(
    ("classes", "test_size", "echoed"),
    [([0, 0, 1], 0.5, "class 1 has 1 row"), ([0, 0, 1, 1], 1.0, "test_size=1.0")],
)
def test_stratified_split_invalid(classes: list[int], test_size: float, echoed: str) -> None:
    with pytest.raises(ValueError, match=re.escape(echoed)):
        stratified_split(np.array(classes), test_size=test_size, seed=0)


def test_standardizer_uses_given_split() -> None:
    train = np.array([[1.0, 5.0], [3.0, 5.0]])

    scaling = Standardizer.fit(("a", "b"), train)
    scaled = scaling.transform(np.array([[2.0, 5.0], [5.0, 7.0]]))

    assert scaling.mean == (2.0, 5.0)
    assert scaling.std == (1.0, 1.0)  # the constant column keeps a scale of 1
    np.testing.assert_allclose(scaled, [[0.0, 0.0], [3.0, 2.0]])
    assert Standardizer.from_dict(scaling.to_dict()) == scaling


@pytest.mark.parametrize(
    ("document", "echoed"),
    [
        ({"columns": ["a"], "mean": [0.0]}, "invalid feature scaling: KeyError"),
        ({"columns": ["a"], "mean": [0.0, 1.0], "std": [1.0]}, "1 columns, 2 means"),
        ({"columns": ["a"], "mean": [float("nan")], "std": [1.0]}, "not a finite number"),
    ],
)
def test_standardizer_from_invalid_dict(document: dict[str, Any], echoed: str) -> None:
    with pytest.raises(ValueError, match=re.escape(echoed)):
        Standardizer.from_dict(document)


def test_split_doctests_pass() -> None:
    results = doctest.testmod(_split)

    assert results.failed == 0
    assert results.attempted >= 1
