"""Tests for gluon_safe.encoding and gluon_safe.checks._target."""

from __future__ import annotations

import csv
import json
import logging
import pickle
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import nd
from gluon_safe.checks import check_class_indices
from gluon_safe.checks._target import infer_target_type, integral_mask, scalar_kind
from gluon_safe.encoding import LabelEncoder, MultiLabelEncoder
from gluon_safe.errors import (
    CheckpointError,
    ContinuousLabelError,
    LabelError,
    LabelLayoutError,
    LabelRangeError,
    LabelTypeError,
    NonFiniteLabelError,
    NonIntegerLabelError,
    UnseenLabelError,
)

WINE_CSV = Path("/work/shared/data/wine.csv")

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

# numpy's fixed-width str dtype drops trailing NUL characters, and JSON cannot hold
# lone surrogates, so generated class names avoid both.
class_names = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=8,
).filter(lambda s: bool(s.strip()))


def read_wine_classes() -> list[int]:
    with WINE_CSV.open(newline="") as handle:
        return [int(row["class"]) for row in csv.DictReader(handle)]


def sorted_index(values: list[Any]) -> list[int]:
    classes = sorted(set(values))
    return [classes.index(v) for v in values]


# --- infer_target_type -------------------------------------------------------------

@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 1], "binary"),
        ([0, 1, 2], "multiclass"),
        ([7], "binary"),
        ([1.0, 2.0, 3.0], "multiclass"),
        ([True, False], "binary"),
        (["cat", "dog"], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([0.2, 0.4, 1.0], "continuous"),
        ([[1], [2], [3]], "multiclass"),
        ([[0, 1, 0], [1, 0, 0]], "dense-rows"),
        ([[0.2, 0.8], [0.5, 0.5]], "dense-rows"),
        ([[0, 1, 1], [1, 0, 0]], "multilabel"),
        ([[0, 0, 0], [1, 0, 0]], "multilabel"),
        ([[True, True], [False, True]], "multilabel"),
        ([[0.5, 2.5], [1.5, 0.1]], "continuous"),
        ([[1, 5], [2, 3]], "unknown"),
        ([], "unknown"),
        (3, "unknown"),
        ([[[0, 1]]], "unknown"),
        ([1.0, float("nan")], "unknown"),
        ([1, "a"], "unknown"),
        ([[1, 2], [3]], "unknown"),
        ([b"a", b"b"], "unknown"),
        ([2**70, 1], "unknown"),
        (np.array([[1, 2]], dtype=complex), "unknown"),
        ([["a", "b"], ["c", "d"]], "unknown"),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_infer_target_type_table(values: Any, expected: str) -> None:
    assert infer_target_type(values) == expected


def test_infer_target_type_ndarray() -> None:
    assert infer_target_type(nd.array([0.0, 1.0, 2.0])) == "multiclass"
    assert infer_target_type(nd.array([[0, 1], [1, 0]])) == "dense-rows"


def test_infer_target_type_numpy_strings() -> None:
    assert infer_target_type(np.array(["x", "y", "x"])) == "binary"


def test_scalar_kind_bool_before_int() -> None:
    assert scalar_kind(bool) == "bool"
    assert scalar_kind(np.bool_) == "bool"
    assert scalar_kind(np.int32) == "int"
    assert scalar_kind(np.float32) == "float"
    assert scalar_kind(np.str_) == "str"
    assert scalar_kind(type(None)) == "none"
    assert scalar_kind(bytes) == "other"


def test_integral_mask_rejects_huge_floats() -> None:
    mask = integral_mask(np.array([2.0, 0.2, np.nan, 1e30, -3.0]))
    assert mask.tolist() == [True, False, False, False, True]


# --- LabelEncoder: fit, transform, inverse_transform ----------------------------------

def test_label_encoder_sorted_classes() -> None:
    encoder = LabelEncoder().fit([3, 1, 2, 1])
    assert encoder.classes == (1, 2, 3)
    assert encoder.num_classes == 3
    assert encoder.is_fitted


def test_label_encoder_transform_matches_numpy() -> None:
    values = np.array([5, -2, 9, 5, 0, -2])
    encoder = LabelEncoder().fit(values)
    _, expected = np.unique(values, return_inverse=True)
    result = encoder.transform(values)
    assert result.dtype == np.int64
    assert result.tolist() == expected.tolist()


def test_label_encoder_integral_floats_become_ints() -> None:
    encoder = LabelEncoder().fit([2.0, 1.0, 2.0])
    assert encoder.classes == (1, 2)
    assert all(type(c) is int for c in encoder.classes)
    assert encoder.transform([1, 2]).tolist() == [0, 1]


def test_label_encoder_numpy_scalars_become_python() -> None:
    encoder = LabelEncoder().fit(np.array(["b", "a"]))
    assert [type(c) for c in encoder.classes] == [str, str]
    encoder = LabelEncoder().fit([np.int32(4), np.int64(2)])
    assert [type(c) for c in encoder.classes] == [int, int]


def test_label_encoder_ndarray_input() -> None:
    labels = nd.array([3, 1, 2, 3])
    encoder = LabelEncoder().fit(labels)
    assert encoder.classes == (1, 2, 3)
    assert encoder.transform(labels).tolist() == [2, 0, 1, 2]
    scores = nd.array([[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]])
    assert encoder.inverse_transform(scores.argmax(axis=1)) == [3, 1]


def test_label_encoder_column_shape_kept() -> None:
    encoder = LabelEncoder().fit([[1], [2]])
    result = encoder.transform(np.array([[2], [1], [2]]))
    assert result.shape == (3, 1)
    assert result.ravel().tolist() == [1, 0, 1]


def test_label_encoder_tuple_and_generator_input() -> None:
    encoder = LabelEncoder().fit(("x", "y"))
    assert encoder.transform(v for v in ["y", "x"]).tolist() == [1, 0]


def test_label_encoder_empty_transform() -> None:
    encoder = LabelEncoder().fit(["a", "b"])
    result = encoder.transform([])
    assert result.shape == (0,)
    assert result.dtype == np.int64


def test_label_encoder_bool_classes() -> None:
    encoder = LabelEncoder().fit(np.array([True, False, True]))
    assert encoder.classes == (False, True)
    assert encoder.transform([True]).tolist() == [1]
    restored = encoder.inverse_transform([0, 1])
    assert restored == [False, True]
    assert [type(v) for v in restored] == [bool, bool]


def test_label_encoder_allow_float_classes() -> None:
    encoder = LabelEncoder(allow_float=True).fit([0.5, 1.0, 2.5])
    assert encoder.classes == (0.5, 1.0, 2.5)
    assert all(type(c) is float for c in encoder.classes)
    assert encoder.transform([1, 2.5]).tolist() == [1, 2]


def test_label_encoder_float32_classes_keep_short_form() -> None:
    encoder = LabelEncoder(allow_float=True).fit(nd.array([0.2, 0.7]))
    assert encoder.classes == (0.2, 0.7)
    assert encoder.transform([0.7, 0.2]).tolist() == [1, 0]


def test_label_encoder_fit_transform_matches_fit_then_transform() -> None:
    values = ["b", "c", "a", "c"]
    assert LabelEncoder().fit_transform(values).tolist() == sorted_index(values)


def test_label_encoder_refit_replaces_classes() -> None:
    encoder = LabelEncoder().fit([1, 2])
    encoder.fit(["a"])
    assert encoder.classes == ("a",)


def test_label_encoder_output_passes_check_class_indices() -> None:
    encoder = LabelEncoder().fit(["x", "y", "z"])
    check_class_indices(encoder.transform(["z", "x"]), encoder.num_classes)


# --- LabelEncoder: bad input ------------------------------------------------------

def test_label_encoder_continuous_normalized_hint() -> None:
    raw = np.tile(np.arange(1, 7), 5)
    normalized = raw / 6.0
    with pytest.raises(ContinuousLabelError, match=r"0\.16666666666666666 at labels\[0\]") as info:
        LabelEncoder().fit(normalized)
    assert "look normalized" in info.value.hint
    assert "allow_float=True" in info.value.hint
    assert info.value.count == int(np.sum(raw != 6))
    assert info.value.total == raw.size


def test_label_encoder_continuous_ndarray_float32() -> None:
    normalized = nd.array(np.arange(1, 7) / 6.0)
    with pytest.raises(ContinuousLabelError, match=r"0\.16666667 at labels\[0\]"):
        LabelEncoder().fit(normalized)


def test_label_encoder_continuous_regression_hint() -> None:
    with pytest.raises(ContinuousLabelError, match=r"range over \[1\.5, 7\.25\]"):
        LabelEncoder().fit([1.5, 3.0, 7.25])


def test_label_encoder_continuous_in_transform() -> None:
    encoder = LabelEncoder().fit([0, 1])
    with pytest.raises(ContinuousLabelError, match=r"0\.5 at labels\[1\]"):
        encoder.transform([1.0, 0.5])


def test_label_encoder_nan_positions() -> None:
    with pytest.raises(NonFiniteLabelError, match=r"nan at labels\[1\], inf at labels\[3\]"):
        LabelEncoder().fit([1.0, float("nan"), 2.0, float("inf")])


def test_label_encoder_none_positions() -> None:
    with pytest.raises(LabelError, match=r"None at labels\[2\]") as info:
        LabelEncoder().fit(["a", "b", None])
    assert type(info.value) is LabelError


def test_label_encoder_empty_string_positions() -> None:
    with pytest.raises(LabelError, match=r"'' at labels\[1\], '  ' at labels\[2\]"):
        LabelEncoder().fit(["a", "", "  "])


def test_label_encoder_mixed_strings_and_numbers() -> None:
    with pytest.raises(LabelTypeError, match=r"'x' at labels\[2\]") as info:
        LabelEncoder().fit([1, 2, "x"])
    assert isinstance(info.value, TypeError)


def test_label_encoder_mixed_bools_and_numbers() -> None:
    with pytest.raises(LabelTypeError, match=r"True at labels\[0\]"):
        LabelEncoder().fit([True, 2, 3])


def test_label_encoder_unsupported_value_type() -> None:
    with pytest.raises(LabelTypeError, match=r"b'a' at labels\[0\]"):
        LabelEncoder().fit([b"a", b"b"])


def test_label_encoder_unsupported_dtype() -> None:
    with pytest.raises(LabelTypeError, match=r"dtype \|S1"):
        LabelEncoder().fit(np.array([b"a", b"b"]))


def test_label_encoder_int_beyond_int64() -> None:
    with pytest.raises(LabelTypeError, match=re.escape(f"{2**70} at labels[0]")):
        LabelEncoder().fit([2**70, 1])


def test_label_encoder_uint64_beyond_int64() -> None:
    with pytest.raises(LabelTypeError, match=re.escape(f"{2**63} at labels[1]")):
        LabelEncoder().fit(np.array([1, 2**63], dtype=np.uint64))


def test_label_encoder_single_string() -> None:
    with pytest.raises(LabelTypeError, match=r"Received: 'cat'"):
        LabelEncoder().fit("cat")


def test_label_encoder_empty_fit() -> None:
    with pytest.raises(LabelError, match=r"labels is empty"):
        LabelEncoder().fit([])


def test_label_encoder_one_hot_rows_layout() -> None:
    with pytest.raises(LabelLayoutError, match=r"shape \(2, 3\)") as info:
        LabelEncoder().fit([[0, 1, 0], [1, 0, 0]])
    assert "argmax" in info.value.hint


def test_label_encoder_multilabel_rows_layout() -> None:
    with pytest.raises(LabelLayoutError, match=r"shape \(2, 3\)") as info:
        LabelEncoder().fit(np.array([[0, 1, 1], [1, 0, 0]]))
    assert "MultiLabelEncoder" in info.value.hint


def test_label_encoder_scalar_layout() -> None:
    with pytest.raises(LabelLayoutError, match=r"shape \(\)"):
        LabelEncoder().fit(5)


def test_label_encoder_3d_layout() -> None:
    with pytest.raises(LabelLayoutError, match=r"shape \(1, 2, 2\)") as info:
        LabelEncoder().fit(np.zeros((1, 2, 2)))
    assert "ravel" in info.value.hint


def test_label_encoder_unseen_raise() -> None:
    encoder = LabelEncoder().fit([1, 2, 3])
    with pytest.raises(UnseenLabelError, match=r"5 at labels\[1\], 7 at labels\[2\]") as info:
        encoder.transform([1, 5, 7, 5])
    error = info.value
    assert error.count == 3
    assert error.total == 4
    assert "(2 distinct)" in str(error)
    assert "1, 2, 3" in error.expected
    assert "unseen='ignore'" in error.hint


def test_label_encoder_unseen_ignore(caplog: pytest.LogCaptureFixture) -> None:
    encoder = LabelEncoder(unseen="ignore", ignore_label=-1).fit(["a", "b"])
    with caplog.at_level(logging.DEBUG, logger="gluon_safe.encoding"):
        first = encoder.transform(["a", "z", "b", "y"])
        second = encoder.transform(["z"])
    assert first.tolist() == [0, -1, 1, -1]
    assert second.tolist() == [-1]
    reports = [r for r in caplog.records if "not seen at fit" in r.getMessage()]
    assert [r.levelno for r in reports] == [logging.INFO, logging.DEBUG]
    assert "2 of 4 labels" in reports[0].getMessage()


def test_label_encoder_unseen_ignore_label_255() -> None:
    encoder = LabelEncoder(unseen="ignore", ignore_label=255).fit([1, 2])
    assert encoder.transform([2, 3]).tolist() == [1, 255]


def test_label_encoder_kind_mismatch() -> None:
    encoder = LabelEncoder().fit([1, 2])
    with pytest.raises(LabelTypeError, match=r"str values but the encoder was fitted on int"):
        encoder.transform(["1"])


def test_label_encoder_bool_against_int_classes() -> None:
    encoder = LabelEncoder().fit([True, False])
    with pytest.raises(LabelTypeError, match=r"int values but the encoder was fitted on bool"):
        encoder.transform([1, 0])


def test_label_encoder_float_values_unseen_for_int_classes() -> None:
    encoder = LabelEncoder(allow_float=True, unseen="ignore").fit([1, 2])
    assert encoder.transform([0.5, 2.0]).tolist() == [-1, 1]


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.classes,
        lambda e: e.num_classes,
        lambda e: e.transform([1]),
        lambda e: e.inverse_transform([0]),
        lambda e: e.to_json(),
    ],
    ids=["classes", "num_classes", "transform", "inverse_transform", "to_json"],
)
def test_label_encoder_not_fitted(call: Any) -> None:
    encoder: LabelEncoder[int] = LabelEncoder()
    assert not encoder.is_fitted
    with pytest.raises(RuntimeError, match=r"This LabelEncoder is not fitted yet"):
        call(encoder)


def test_label_encoder_save_not_fitted(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"not fitted"):
        LabelEncoder().save(tmp_path / "encoder.json")
    assert not (tmp_path / "encoder.json").exists()


def test_label_encoder_option_checks() -> None:
    with pytest.raises(TypeError, match=r"allow_float='yes'"):
        LabelEncoder(allow_float="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unseen='skip'.*'raise', 'ignore'"):
        LabelEncoder(unseen="skip")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ignore_label=1\.5"):
        LabelEncoder(ignore_label=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ignore_label=True"):
        LabelEncoder(ignore_label=True)


def test_label_encoder_ignore_label_collides() -> None:
    encoder = LabelEncoder(unseen="ignore", ignore_label=1)
    with pytest.raises(ValueError, match=r"ignore_label=1 is also a class index \(0\.\.2\)"):
        encoder.fit(["a", "b", "c"])
    assert not encoder.is_fitted
    assert LabelEncoder(unseen="ignore", ignore_label=1).fit(["a"]).classes == ("a",)


@pytest.mark.parametrize(
    ("indices", "error", "pattern"),
    [
        ([0, 3], LabelRangeError, r"3 at indices\[1\]"),
        ([0.5], NonIntegerLabelError, r"0\.5 at indices\[0\]"),
        ([float("nan")], NonFiniteLabelError, r"nan at indices\[0\]"),
        ([-1], LabelRangeError, r"-1 at indices\[0\]"),
        (["a"], LabelTypeError, r"indices must be numbers"),
        ([[0.1, 0.9, 0.0]], LabelLayoutError, r"indices have shape \(1, 3\)"),
    ],
    ids=["too_large", "fractional", "nan", "ignore_label", "strings", "probabilities"],
)
def test_label_encoder_inverse_transform_errors(indices: Any, error: type, pattern: str) -> None:
    encoder = LabelEncoder().fit(["a", "b", "c"])
    with pytest.raises(error, match=pattern):
        encoder.inverse_transform(indices)


def test_label_encoder_inverse_transform_integral_floats() -> None:
    encoder = LabelEncoder().fit(["a", "b", "c"])
    assert encoder.inverse_transform(np.array([2.0, 0.0], dtype=np.float32)) == ["c", "a"]


# --- Wine data --------------------------------------------------------------------

def test_label_encoder_wine_classes() -> None:
    raw = read_wine_classes()
    expected_counts = Counter(raw)
    # The UCI description of the data lists 59, 71 and 48 wines for the classes 1, 2 and 3.
    assert expected_counts == {1: 59, 2: 71, 3: 48}

    column = np.loadtxt(WINE_CSV, delimiter=",", skiprows=1, usecols=0)
    encoder = LabelEncoder().fit(column)
    indices = encoder.transform(column)

    assert encoder.classes == (1, 2, 3)
    assert indices.tolist() == [c - 1 for c in raw]
    assert np.bincount(indices).tolist() == [expected_counts[c] for c in encoder.classes]
    assert encoder.inverse_transform(indices) == raw


def test_label_encoder_wine_normalized_rejected() -> None:
    column = np.loadtxt(WINE_CSV, delimiter=",", skiprows=1, usecols=0)
    with pytest.raises(ContinuousLabelError, match=r"0\.3333333333333333 at labels\[0\]"):
        LabelEncoder().fit(column / column.max())


# --- JSON, pickle, equality, repr -------------------------------------------------

@pytest.mark.parametrize(
    ("values", "kind"),
    [([3, 1], "int"), (["b", "a"], "str"), ([True, False], "bool"), ([0.5, 2.0], "float")],
    ids=["int", "str", "bool", "float"],
)
def test_label_encoder_json_round_trip(values: list[Any], kind: str) -> None:
    encoder = LabelEncoder(allow_float=True, unseen="ignore", ignore_label=-7).fit(values)
    document = json.loads(encoder.to_json())
    assert document["format"] == "gluon_safe.LabelEncoder"
    assert document["version"] == 1
    assert document["class_type"] == kind

    loaded = LabelEncoder.from_json(encoder.to_json())
    assert loaded == encoder
    assert [type(c) for c in loaded.classes] == [type(c) for c in encoder.classes]
    assert loaded.ignore_label == -7
    assert loaded.unseen == "ignore"
    assert loaded.allow_float


def test_label_encoder_save_load(tmp_path: Path) -> None:
    path = tmp_path / "encoder.json"
    encoder = LabelEncoder().fit(["é", "b"])
    encoder.save(path)
    loaded = LabelEncoder.load(path)
    assert loaded == encoder
    assert loaded.transform(["é"]).tolist() == [1]


def test_label_encoder_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LabelEncoder.load(tmp_path / "missing.json")


def test_label_encoder_load_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.params"
    path.write_bytes(b"\x80\x81\xff binary")
    with pytest.raises(CheckpointError, match=r"weights\.params' is not a valid LabelEncoder file"):
        LabelEncoder.load(path)


def test_label_encoder_load_names_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"notes\.json' is not a valid.*invalid JSON"):
        LabelEncoder.load(path)


def test_label_encoder_load_multilabel_file(tmp_path: Path) -> None:
    path = tmp_path / "multi.json"
    MultiLabelEncoder().fit([["a"]]).save(path)
    with pytest.raises(CheckpointError, match=r"written by MultiLabelEncoder\.save\(\)"):
        LabelEncoder.load(path)


def valid_document() -> dict[str, Any]:
    encoder = LabelEncoder(unseen="ignore").fit([1, 2, 3])
    document: dict[str, Any] = json.loads(encoder.to_json())
    return document


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda d: d.update(format="other"), r"format='other'"),
        (lambda d: d.pop("format"), r"format=None"),
        (lambda d: d.update(version=2), r"format version 2 but this gluon_safe reads version 1"),
        (lambda d: d.update(version="1"), r"version='1'"),
        (lambda d: d.update(class_type="list"), r"class_type='list'"),
        (lambda d: d.update(classes=[]), r"classes=\[\]"),
        (lambda d: d.update(classes="123"), r"classes='123'"),
        (lambda d: d.update(classes=[1, True]), r"classes\[1\]=True is a bool"),
        (lambda d: d.update(classes=[1, "2"]), r"classes\[1\]='2' is a str"),
        (lambda d: d.update(classes=[2, 1]), r"not sorted or hold duplicates"),
        (lambda d: d.update(classes=[1, 1]), r"not sorted or hold duplicates"),
        (lambda d: d.update(class_type="float", classes=[0.5, float("nan")]),
         r"classes\[1\]=nan is not finite"),
        (lambda d: d.update(class_type="str", classes=["a", " "]),
         r"classes\[1\]=' ' is an empty class name"),
        (lambda d: d.update(options=[]), r"options=\[\]"),
        (lambda d: d["options"].pop("ignore_label"), r"options hold \['allow_float', 'unseen'\]"),
        (lambda d: d["options"].update(unseen="skip"), r"invalid options \(unseen='skip'"),
        (lambda d: d["options"].update(ignore_label=1), r"invalid options \(ignore_label=1 is"),
    ],
    ids=[
        "format", "no_format", "newer_version", "version_type", "class_type", "no_classes",
        "classes_type", "bool_in_int", "str_in_int", "unsorted", "duplicates", "nan",
        "empty_name", "options_type", "options_keys", "unseen_value", "ignore_collides",
    ],
)
def test_label_encoder_from_json_invalid(change: Any, pattern: str) -> None:
    document = valid_document()
    change(document)
    with pytest.raises(CheckpointError, match=pattern):
        LabelEncoder.from_json(json.dumps(document))


def test_label_encoder_from_json_not_an_object() -> None:
    with pytest.raises(CheckpointError, match=r"the JSON text .* top level is a JSON list"):
        LabelEncoder.from_json("[1, 2]")


def test_label_encoder_pickle() -> None:
    encoder = LabelEncoder(unseen="ignore").fit(["a", "b"])
    restored = pickle.loads(pickle.dumps(encoder))
    assert restored == encoder
    assert restored.transform(["b", "q"]).tolist() == [1, -1]


def test_label_encoder_in_dataloader_workers() -> None:
    from gluon_safe._compat import gluon

    raw = ["b", "a", "c", "a", "b", "c"]
    encoder = LabelEncoder().fit(raw)
    dataset = gluon.data.SimpleDataset(list(zip(np.arange(6, dtype=np.float32), raw)))
    dataset = dataset.transform(
        lambda x, y: (x, np.float32(encoder.transform([y])[0])), lazy=True
    )
    loader = gluon.data.DataLoader(dataset, batch_size=3, num_workers=2, thread_pool=False)
    labels = np.concatenate([label.asnumpy() for _, label in loader])
    assert labels.tolist() == sorted_index(raw)


def test_label_encoder_equality() -> None:
    assert LabelEncoder().fit([1, 2]) == LabelEncoder().fit([2, 1])
    assert LabelEncoder().fit([1, 2]) != LabelEncoder(allow_float=True).fit([0.5, 1.0])
    assert LabelEncoder().fit([0, 1]) != LabelEncoder().fit([False, True])
    assert LabelEncoder().fit([1]) != LabelEncoder(unseen="ignore").fit([1])
    assert LabelEncoder().fit(["a"]) != MultiLabelEncoder().fit([["a"]])
    with pytest.raises(TypeError, match="unhashable"):
        hash(LabelEncoder())


def test_label_encoder_repr() -> None:
    assert repr(LabelEncoder().fit(["a", "b"])) == (
        "LabelEncoder(classes=['a', 'b'], allow_float=False, unseen='raise', ignore_label=-1)"
    )
    assert repr(LabelEncoder()).endswith("<not fitted>")
    assert "..., 99 (100 classes)" in repr(LabelEncoder().fit(range(100)))


def test_label_encoder_fit_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gluon_safe.encoding"):
        LabelEncoder().fit([2, 1, 2])
    assert "LabelEncoder fitted 2 int classes on 3 labels: 1, 2" in caplog.messages


# --- LabelEncoder properties --------------------------------------------------------

@PROPERTY_SETTINGS
@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=1, max_size=40))
def test_label_encoder_round_trip_ints(values: list[int]) -> None:
    encoder = LabelEncoder().fit(values)
    indices = encoder.transform(values)
    assert indices.tolist() == sorted_index(values)
    restored = encoder.inverse_transform(indices)
    assert restored == values
    assert all(type(v) is int for v in restored)


@PROPERTY_SETTINGS
@given(st.lists(class_names, min_size=1, max_size=30))
def test_label_encoder_round_trip_strings(values: list[str]) -> None:
    encoder = LabelEncoder().fit(values)
    assert encoder.classes == tuple(sorted(set(values)))
    restored = encoder.inverse_transform(encoder.transform(values))
    assert restored == values


@PROPERTY_SETTINGS
@given(st.lists(st.integers(min_value=-1000, max_value=1000), min_size=1, max_size=40))
def test_label_encoder_round_trip_integral_floats(values: list[int]) -> None:
    as_float32 = nd.array(values, dtype="float32")
    encoder = LabelEncoder().fit(as_float32)
    restored = encoder.inverse_transform(encoder.transform(np.array(values, dtype=np.float64)))
    assert restored == values
    assert all(type(v) is int for v in restored)


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False, width=64),
            st.integers(min_value=-1000, max_value=1000),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_label_encoder_round_trip_allow_float(values: list[float]) -> None:
    encoder = LabelEncoder(allow_float=True).fit(values)
    restored = encoder.inverse_transform(encoder.transform(values))
    assert restored == values


@PROPERTY_SETTINGS
@given(
    st.one_of(
        st.lists(st.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=20),
        st.lists(class_names, min_size=1, max_size=20),
        st.lists(st.booleans(), min_size=1, max_size=5),
        st.lists(st.floats(allow_nan=False, allow_infinity=False).map(lambda x: x + 0.5)
                 .filter(lambda x: not float(x).is_integer()), min_size=1, max_size=20),
    )
)
def test_label_encoder_json_preserves_types(values: list[Any]) -> None:
    encoder = LabelEncoder(allow_float=True).fit(values)
    loaded = LabelEncoder.from_json(encoder.to_json())
    assert loaded.classes == encoder.classes
    assert [type(c) for c in loaded.classes] == [type(c) for c in encoder.classes]
    assert loaded == encoder


# --- MultiLabelEncoder -------------------------------------------------------------

def test_multilabel_encoder_rows() -> None:
    samples = [["rock", "jazz"], ["pop"], [], ("jazz", "jazz"), {"pop", "rock"}]
    encoder = MultiLabelEncoder().fit(samples)
    rows = encoder.transform(samples)
    assert encoder.classes == ("jazz", "pop", "rock")
    assert rows.dtype == np.float32
    expected = np.array(
        [[float(c in set(s)) for c in encoder.classes] for s in samples], dtype=np.float32
    )
    np.testing.assert_array_equal(rows, expected)
    assert encoder.inverse_transform(rows) == [
        ("jazz", "rock"), ("pop",), (), ("jazz",), ("pop", "rock")
    ]


def test_multilabel_encoder_fit_transform_generator() -> None:
    samples = [["b"], ["a", "b"]]
    rows = MultiLabelEncoder().fit_transform(list(s) for s in samples)
    assert rows.tolist() == [[0, 1], [1, 1]]


def test_label_encoder_fit_transform_generator() -> None:
    assert LabelEncoder().fit_transform(v for v in ["b", "a"]).tolist() == [1, 0]


def test_multilabel_encoder_rows_are_bce_targets() -> None:
    from gluon_safe._compat import gluon

    encoder = MultiLabelEncoder().fit([[1, 2], [3]])
    rows = nd.array(encoder.transform([[1, 2], [3]]))
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()(nd.zeros(rows.shape), rows)
    expected = np.full(2, np.log(2.0), dtype=np.float32)
    np.testing.assert_allclose(loss.asnumpy(), expected, rtol=1e-6)


def test_multilabel_encoder_array_rows() -> None:
    raw = np.array([[1.0, 5.0], [2.0, 5.0]], dtype=np.float32)
    encoder = MultiLabelEncoder().fit(nd.array(raw))
    assert encoder.classes == (1, 2, 5)
    assert encoder.transform(raw).tolist() == [[1, 0, 1], [0, 1, 1]]


def test_multilabel_encoder_indicator_rows_rejected() -> None:
    with pytest.raises(LabelLayoutError, match=r"samples of shape \(2, 2\) look like 0/1"):
        MultiLabelEncoder().fit(np.array([[0, 1], [1, 1]]))


def test_multilabel_encoder_string_sample() -> None:
    with pytest.raises(LabelTypeError, match=r"'abc' at samples\[1\]") as info:
        MultiLabelEncoder().fit([["a"], "abc"])
    assert "['abc']" in info.value.hint


def test_multilabel_encoder_scalar_sample() -> None:
    with pytest.raises(LabelTypeError, match=r"3 at samples\[0\]") as info:
        MultiLabelEncoder().fit(np.array([3, 4]))
    assert "LabelEncoder" in info.value.hint


@pytest.mark.parametrize("samples", ["abc", 5], ids=["string", "int"])
def test_multilabel_encoder_not_iterable(samples: Any) -> None:
    name = type(samples).__name__
    with pytest.raises(LabelTypeError, match=rf"must be an iterable of label sets, got {name}"):
        MultiLabelEncoder().fit(samples)


def test_multilabel_encoder_no_labels() -> None:
    with pytest.raises(LabelError, match=r"samples is empty"):
        MultiLabelEncoder().fit([[], []])


def test_multilabel_encoder_positions_of_bad_values() -> None:
    with pytest.raises(NonFiniteLabelError, match=r"nan at samples\[1, 0\]"):
        MultiLabelEncoder().fit([[1.0], [float("nan"), 2.0]])
    with pytest.raises(ContinuousLabelError, match=r"0\.5 at samples\[0, 1\]"):
        MultiLabelEncoder().fit([[1, 0.5]])
    with pytest.raises(LabelTypeError, match=r"'a' at samples\[1, 1\]"):
        MultiLabelEncoder().fit([[1, 2], [3, "a"]])
    with pytest.raises(LabelError, match=r"None at samples\[0, 0\]"):
        MultiLabelEncoder().fit([[None]])


def test_multilabel_encoder_unseen_raise() -> None:
    encoder = MultiLabelEncoder().fit([["a", "b"]])
    with pytest.raises(UnseenLabelError, match=r"'x' at samples\[1, 0\]") as info:
        encoder.transform([["a"], ["x", "b"]])
    assert "'a', 'b'" in info.value.expected


def test_multilabel_encoder_unseen_ignore(caplog: pytest.LogCaptureFixture) -> None:
    encoder = MultiLabelEncoder(unseen="ignore").fit([["a", "b"]])
    with caplog.at_level(logging.INFO, logger="gluon_safe.encoding"):
        rows = encoder.transform([["a", "x"], ["y"]])
    assert rows.tolist() == [[1, 0], [0, 0]]
    assert any("2 of 3 samples were not seen at fit" in m for m in caplog.messages)


@pytest.mark.parametrize(
    ("indicators", "error", "pattern"),
    [
        ([[1, 0]], LabelLayoutError, r"num_labels=3"),
        ([1, 0, 1], LabelLayoutError, r"indicators have shape \(3,\)"),
        ([[0.7, 0, 1]], NonIntegerLabelError, r"0\.7 at indicators\[0, 0\]"),
        ([[2, 0, 1]], LabelRangeError, r"2 at indicators\[0, 0\]"),
        ([[float("nan"), 0, 1]], NonFiniteLabelError, r"nan at indicators\[0, 0\]"),
    ],
    ids=["columns", "one_dim", "fractional", "above_one", "nan"],
)
def test_multilabel_encoder_inverse_transform_errors(
    indicators: Any, error: type, pattern: str
) -> None:
    encoder = MultiLabelEncoder().fit([[1, 2, 3]])
    with pytest.raises(error, match=pattern):
        encoder.inverse_transform(indicators)


def test_multilabel_encoder_inverse_transform_ndarray() -> None:
    encoder = MultiLabelEncoder().fit([[1, 2, 3]])
    probs = nd.array([[0.9, 0.2, 0.6]])
    assert encoder.inverse_transform(probs > 0.5) == [(1, 3)]


def test_multilabel_encoder_not_fitted() -> None:
    with pytest.raises(RuntimeError, match=r"This MultiLabelEncoder is not fitted yet"):
        MultiLabelEncoder().transform([["a"]])


def test_multilabel_encoder_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tags.json"
    encoder = MultiLabelEncoder(unseen="ignore").fit([[3, 1], [2]])
    encoder.save(path)
    loaded = MultiLabelEncoder.load(path)
    assert loaded == encoder
    assert [type(c) for c in loaded.classes] == [int, int, int]
    assert loaded.unseen == "ignore"


def test_multilabel_encoder_load_label_encoder_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    LabelEncoder().fit([1]).save(path)
    with pytest.raises(CheckpointError, match=r"load it with LabelEncoder\.load\(\)"):
        MultiLabelEncoder.load(path)


def test_multilabel_encoder_pickle() -> None:
    encoder = MultiLabelEncoder().fit([["a"], ["b"]])
    assert pickle.loads(pickle.dumps(encoder)) == encoder


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.one_of(
            st.lists(st.integers(min_value=-50, max_value=50), max_size=5),
            st.sets(st.integers(min_value=-50, max_value=50), max_size=5),
        ),
        min_size=1,
        max_size=20,
    ).filter(lambda samples: any(samples))
)
def test_multilabel_encoder_round_trip(samples: list[Any]) -> None:
    encoder = MultiLabelEncoder().fit(samples)
    restored = encoder.inverse_transform(encoder.transform(samples))
    assert restored == [tuple(sorted(set(s))) for s in samples]


@PROPERTY_SETTINGS
@given(st.lists(st.lists(class_names, max_size=4), min_size=1, max_size=15)
       .filter(lambda samples: any(samples)))
def test_multilabel_encoder_round_trip_strings(samples: list[list[str]]) -> None:
    encoder = MultiLabelEncoder().fit(samples)
    loaded = MultiLabelEncoder.from_json(encoder.to_json())
    restored = loaded.inverse_transform(encoder.transform(samples))
    assert restored == [tuple(sorted(set(s))) for s in samples]
