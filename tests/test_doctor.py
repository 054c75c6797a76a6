"""Tests for ``gluon-safe check-labels`` (gluon_safe.doctor and gluon_safe._table)."""

from __future__ import annotations

import doctest
import json
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe import _table
from gluon_safe.cli import main
from gluon_safe.doctor import (
    UsageError,
    diagnose,
    format_report,
    read_label_column,
    report_as_json,
)
from gluon_safe.doctor._report import LabelReport

WINE = str(resources.files("gluon_safe.datasets").joinpath("wine.csv"))


def _write_lines(path: Path, lines: Sequence[Any]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _check(path: Path, **options: Any) -> LabelReport:
    column = read_label_column(str(path), column=options.pop("column", None),
                               file_format=options.pop("file_format", None))
    return diagnose(column, **options)


def _codes(report: LabelReport) -> list[str]:
    return [problem.code for problem in report.problems]


def _problem(report: LabelReport, code: str) -> Any:
    return next(problem for problem in report.problems if problem.code == code)


def _balanced(classes: Sequence[Any], per_class: int = 5) -> list[Any]:
    return [value for value in classes for _ in range(per_class)]


# -- reading ------------------------------------------------------------------------------


def test_read_wine_finds_class_column() -> None:
    column = read_label_column(WINE)

    with open(WINE, encoding="utf-8") as handle:
        rows = handle.read().splitlines()
    expected = Counter(int(row.split(",")[0]) for row in rows[1:])
    assert column.header
    assert column.column == "'class'"
    assert Counter(cell.value for cell in column.cells) == expected
    assert column.locations[0] == "line 2"


def test_read_csv_without_header_by_index(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "data.csv", ["0.5,2", "0.7,0", "0.1,1"])

    column = read_label_column(str(path), column="1")

    assert not column.header
    assert [cell.value for cell in column.cells] == [2, 0, 1]
    assert column.locations == ("line 1", "line 2", "line 3")


def test_read_tsv_negative_index(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "data.tsv", ["x\ty", "1.5\tcat", "2.5\tdog"])

    column = read_label_column(str(path), column="-1")

    assert column.header
    assert [cell.value for cell in column.cells] == ["cat", "dog"]


def test_read_name_implies_header(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "data.csv", ["species", "cat", "dog"])

    unnamed = read_label_column(str(path))
    named = read_label_column(str(path), column="species")

    assert [cell.value for cell in unnamed.cells] == ["species", "cat", "dog"]
    assert [cell.value for cell in named.cells] == ["cat", "dog"]


def test_read_short_row_is_missing_cell(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "data.csv", ["a,label", "1.0,0", "2.0", "3.0,1"])

    report = _check(path, column="label")

    assert _problem(report, "missing").locations == ("line 3",)


def test_read_blank_line_skipped_in_table(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "data.csv", ["", "a,label", "1.0,0", "", "3.0,1", "", ""])

    column = read_label_column(str(path), column="label")

    assert [cell.value for cell in column.cells] == [0, 1]
    assert column.locations == ("line 3", "line 5")


def test_read_npy_one_dimensional(tmp_path: Path) -> None:
    path = tmp_path / "labels.npy"
    np.save(path, np.array([0.0, 1.0, np.nan, 2.0]))

    column = read_label_column(str(path))

    assert [cell.kind for cell in column.cells] == ["float", "float", "missing", "float"]
    assert column.locations[2] == "index 2"


def test_read_npy_rows_and_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.npy"
    rows = np.eye(3)[[0, 1, 2, 2]]
    np.save(path, rows)

    as_rows = read_label_column(str(path))
    one_column = read_label_column(str(path), column="2")

    assert as_rows.rows is not None
    np.testing.assert_array_equal(as_rows.rows, rows)
    assert [cell.value for cell in one_column.cells] == rows[:, 2].tolist()


def test_read_text_keeps_blank_lines_inside(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("1\n\n2\n\n\n", encoding="utf-8")

    column = read_label_column(str(path))

    assert [cell.kind for cell in column.cells] == ["int", "missing", "int"]


@pytest.mark.parametrize(
    ("name", "content", "options", "echoed"),
    [
        ("labels.dat", "1\n", {}, "cannot tell the format of"),
        ("labels.csv", "a,b\n1,2\n", {}, r"has 2 columns \('a', 'b'\); pass --column"),
        ("labels.csv", "a,b\n1,2\n", {"column": "c"}, "column 'c' not found"),
        ("labels.csv", "a,a\n1,2\n", {"column": "a"}, "2 columns of"),
        ("labels.csv", "1,2\n3,4\n", {"column": "5"}, "column index 5 is out of range"),
        ("labels.txt", "1\n", {"column": "0"}, "has no columns"),
        ("labels.csv", "", {"column": "label"}, "is empty"),
        ("labels.csv", "1\n", {"file_format": "xlsx"}, "format 'xlsx' is not supported"),
    ],
    ids=["extension", "ambiguous-column", "unknown-name", "duplicate-name", "index-range",
         "txt-column", "empty-named", "format"],
)
def test_read_usage_errors(
    tmp_path: Path, name: str, content: str, options: dict[str, Any], echoed: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    with pytest.raises(UsageError, match=echoed):
        read_label_column(str(path), **options)


@pytest.mark.parametrize(
    ("array", "options", "echoed"),
    [
        (np.zeros((2, 2, 2)), {}, r"shape \(2, 2, 2\)"),
        (np.zeros(3), {"column": "0"}, "1-D array, which has no columns"),
        (np.zeros((3, 2)), {"column": "name"}, "no column names"),
        (np.zeros((3, 2)), {"column": "4"}, "column index 4 is out of range"),
    ],
    ids=["three-dim", "column-of-1d", "named-column", "index-range"],
)
def test_read_npy_usage_errors(
    tmp_path: Path, array: np.ndarray[Any, Any], options: dict[str, Any], echoed: str
) -> None:
    path = tmp_path / "labels.npy"
    np.save(path, array)

    with pytest.raises(UsageError, match=echoed):
        read_label_column(str(path), **options)


def test_read_npy_object_array_is_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.npy"
    np.save(path, np.array([1, "a", None], dtype=object), allow_pickle=True)

    with pytest.raises(UsageError, match=r"cannot read .* as a \.npy array"):
        read_label_column(str(path))


def test_read_not_utf8_is_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(b"label\n\xff\xfe\n")

    with pytest.raises(UsageError, match="is not UTF-8 text"):
        read_label_column(str(path))


def test_read_invalid_csv_is_table_error(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.csv", ["label", '"unclosed'])

    with pytest.raises(_table.TableError, match="invalid CSV after line 1"):
        read_label_column(str(path))


# -- problems -----------------------------------------------------------------------------


def test_diagnose_clean_labels(tmp_path: Path) -> None:
    labels = _balanced([0, 1, 2])
    path = _write_lines(tmp_path / "labels.txt", labels)

    report = _check(path, num_classes=3)

    assert report.ok
    assert report.target_type == "multiclass"
    assert report.classes == tuple(sorted(Counter(labels).items()))
    assert "no problems found" in format_report(report)


def test_diagnose_wine_is_one_based() -> None:
    report = _check(Path(WINE))

    assert _codes(report) == ["one-based"]
    assert "classes 1..3" in _problem(report, "one-based").message


def test_diagnose_gaps(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced([1, 2, 3, 5, 6, 7]))

    report = _check(path)

    assert _codes(report) == ["one-based", "gaps"]
    gaps = _problem(report, "gaps")
    assert gaps.message.startswith("Class 4 has no sample")
    assert "8 outputs for 6 classes" in gaps.message
    assert "LabelEncoder" in gaps.fix


def test_diagnose_gaps_from_zero(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced([3, 4, 10]))

    report = _check(path)

    assert _codes(report) == ["gaps"]
    assert "Classes 0, 1, 2, 5, 6, 7, 8, 9 have no sample" in report.problems[0].message


def test_diagnose_normalized(tmp_path: Path) -> None:
    labels = _balanced([0.0, 1 / 3, 2 / 3, 1.0])
    path = _write_lines(tmp_path / "labels.txt", [repr(float(np.float32(v))) for v in labels])

    report = _check(path)

    assert report.target_type == "continuous"
    assert _codes(report) == ["normalized"]
    problem = report.problems[0]
    assert problem.count == sum(1 for v in labels if v not in (0.0, 1.0))
    assert "k/3" in problem.message
    assert problem.locations[0] == "line 6"


def test_diagnose_continuous(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", [1.5, 2.25, 7.0, 3.75])

    report = _check(path)

    assert _codes(report) == ["continuous"]
    assert "[1.5, 7]" in report.problems[0].message
    assert "L2Loss" in report.problems[0].fix


def test_diagnose_missing_values(tmp_path: Path) -> None:
    lines = ["label", *_balanced([0, 1]), "", "NaN", "NA", "?", "null"]
    path = _write_lines(tmp_path / "labels.csv", lines)

    report = _check(path, column="label")

    missing = _problem(report, "missing")
    assert missing.count == 5
    assert missing.locations[:2] == ("line 12", "line 13")
    assert _codes(report) == ["missing"]


def test_diagnose_mixed_types_surveys_majority(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", [*_balanced([1, 2, 3]), "three"])

    report = _check(path)

    assert report.target_type == "unknown"
    assert _codes(report) == ["mixed-types", "one-based"]
    mixed = _problem(report, "mixed-types")
    assert mixed.locations == ("line 16",)
    assert "'three'" in mixed.message


def test_diagnose_infinite(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", [*_balanced([0, 1]), "inf"])

    report = _check(path)

    assert _codes(report) == ["non-finite"]
    assert _problem(report, "non-finite").locations == ("line 11",)


@pytest.mark.parametrize(
    ("classes", "fix"),
    [
        ([-1, 1], "{-1, 1} binary targets"),
        ([-1, 0, 1, 2], "ignore_label=-1"),
        ([-3, 0, 1], "Class indices start at 0"),
    ],
    ids=["plus-minus-one", "padding", "other"],
)
def test_diagnose_negative(tmp_path: Path, classes: list[int], fix: str) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced(classes))

    report = _check(path)

    negative = _problem(report, "negative")
    assert negative.count == 5 * sum(1 for c in classes if c < 0)
    assert fix in negative.fix


def test_diagnose_num_classes_too_small(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced([1, 2, 3]))

    report = _check(path, num_classes=3)

    problem = _problem(report, "num-classes")
    assert problem.count == 5
    assert "look 1-based" in problem.fix
    assert problem.locations[0] == "line 11"


def test_diagnose_num_classes_too_large(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced([0, 1, 2]))

    report = _check(path, num_classes=5)

    assert _codes(report) == ["num-classes"]
    assert "classes 3..4 have no sample" in report.problems[0].message


def test_diagnose_num_classes_text(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced(["cat", "dog"]))

    report = _check(path, num_classes=3)

    assert _codes(report) == ["num-classes"]
    assert report.target_type == "binary"


def test_diagnose_rare_classes(tmp_path: Path) -> None:
    labels = [*_balanced(["cat", "dog"]), "eel", "fox", "fox"]
    path = _write_lines(tmp_path / "labels.txt", labels)

    report = _check(path, min_samples=3)

    rare = _problem(report, "rare-classes")
    assert "'eel' (1), 'fox' (2)" in rare.message
    assert rare.count == 3


def test_diagnose_rare_header_hint(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.csv", ["species", *_balanced(["cat", "dog"])])

    report = _check(path)

    assert "pass --column species" in _problem(report, "rare-classes").fix


def test_diagnose_single_class(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced([0]))

    assert _codes(_check(path)) == ["single-class"]


def test_diagnose_no_labels(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "labels.csv", ["label", "", "NaN"])

    report = _check(path, column="label")

    assert _codes(report) == ["missing", "no-labels"]
    assert report.classes == ()


def test_diagnose_one_hot_rows(tmp_path: Path) -> None:
    classes = np.array(_balanced([0, 1, 2]))
    path = tmp_path / "rows.npy"
    np.save(path, np.eye(3)[classes])

    report = _check(path)

    assert report.ok
    assert report.target_type == "multiclass"
    assert report.classes == tuple(sorted(Counter(classes.tolist()).items()))
    assert "one-hot rows" in report.notes[0]


def test_diagnose_multilabel_rows(tmp_path: Path) -> None:
    rows = np.random.RandomState(0).randint(0, 2, size=(40, 4))
    rows[:, 3] = 0
    path = tmp_path / "rows.npy"
    np.save(path, rows)

    report = _check(path, num_classes=5)

    assert report.target_type == "multilabel"
    assert report.classes == tuple(enumerate(rows.sum(axis=0).tolist()))
    assert _codes(report) == ["num-classes", "rare-classes"]
    assert "3 (0)" in _problem(report, "rare-classes").message


def test_diagnose_bad_rows_layout(tmp_path: Path) -> None:
    path = tmp_path / "rows.npy"
    np.save(path, np.array([[0, 2], [1, 0], [np.nan, 1]]))

    report = _check(path)

    assert _codes(report) == ["missing", "layout"]
    assert "2.0 at row 0, column 1" in _problem(report, "layout").message


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_diagnose_invalid_option(tmp_path: Path, value: Any) -> None:
    column = read_label_column(str(_write_lines(tmp_path / "labels.txt", [0, 1])))

    with pytest.raises(ValueError, match=f"num_classes={value!r} must be a positive int"):
        diagnose(column, num_classes=value)


def _oracle_codes(labels: list[int], min_samples: int) -> list[str]:
    classes = sorted(set(labels))
    codes = []
    if classes[0] == 1:
        codes.append("one-based")
    start = 1 if classes[0] == 1 else 0
    if set(range(start, classes[-1] + 1)) - set(classes):
        codes.append("gaps")
    if len(classes) == 1:
        codes.append("single-class")
    if min(Counter(labels).values()) < min_samples:
        codes.append("rare-classes")
    return codes


@settings(max_examples=60, deadline=None)
@given(
    counts=st.dictionaries(st.integers(0, 12), st.integers(1, 6), min_size=1, max_size=6),
    min_samples=st.integers(1, 5),
)
def test_diagnose_index_problems_match_sets(
    tmp_path_factory: pytest.TempPathFactory, counts: dict[int, int], min_samples: int
) -> None:
    labels = [value for value, count in sorted(counts.items()) for _ in range(count)]
    path = _write_lines(tmp_path_factory.mktemp("labels") / "labels.txt", labels)

    report = _check(path, min_samples=min_samples)

    assert _codes(report) == _oracle_codes(labels, min_samples)
    assert report.classes == tuple(sorted(counts.items()))


# -- the command --------------------------------------------------------------------------


def test_check_labels_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = _write_lines(tmp_path / "clean.txt", _balanced([0, 1]))

    clean_status = main(["check-labels", str(clean)])
    clean_out = capsys.readouterr().out
    wine_status = main(["check-labels", WINE])
    wine_out = capsys.readouterr().out

    assert clean_status == 0
    assert "no problems found" in clean_out
    assert wine_status == 1
    assert "[one-based]" in wine_out
    assert "fix: Subtract 1" in wine_out


def test_check_labels_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"{i}.5,{i % 3 + 1}" for i in range(15)]
    path = _write_lines(tmp_path / "labels.csv", ["x,y", *rows])

    status = main(["check-labels", str(path), "--column", "y", "--num-classes", "3", "--json"])

    document = json.loads(capsys.readouterr().out)
    assert status == 1
    assert document["ok"] is False
    assert document["target_type"] == "multiclass"
    assert [c["count"] for c in document["classes"]] == [5, 5, 5]
    assert [p["code"] for p in document["problems"]] == ["one-based", "num-classes"]
    assert document == json.loads(report_as_json(_check(path, column="y", num_classes=3)))


def test_check_labels_format_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_lines(tmp_path / "labels.data", _balanced([0, 1]))

    status = main(["check-labels", str(path), "--format", "txt"])

    assert status == 0
    assert "(txt)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "echoed"),
    [
        (["missing.csv"], "file not found"),
        (["labels.bin"], "cannot tell the format"),
        (["labels.txt", "--num-classes", "0"], "invalid value '0'"),
        (["labels.txt", "--min-samples", "x"], "invalid value 'x'"),
        (["labels.txt", "--format", "xlsx"], "invalid choice: 'xlsx'"),
        (["labels.txt", "--column", "2"], "has no columns"),
    ],
    ids=["missing-file", "extension", "num-classes", "min-samples", "format", "column"],
)
def test_check_labels_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    args: list[str], echoed: str,
) -> None:
    _write_lines(tmp_path / "labels.txt", [0, 1])
    _write_lines(tmp_path / "labels.bin", [0, 1])
    monkeypatch.chdir(tmp_path)

    status = main(["check-labels", *args])

    assert status == 2
    assert echoed in capsys.readouterr().err


def test_check_labels_text_report_caps_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_lines(tmp_path / "labels.txt", _balanced(list(range(25))))

    status = main(["check-labels", str(path)])

    out = capsys.readouterr().out
    assert status == 0
    assert "classes (25):" in out
    assert "... and 5 more" in out


# -- cells --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("3", "int", 3), (" -2 ", "int", -2), ("2.0", "float", 2.0), ("1e-3", "float", 1e-3),
     ("-inf", "float", float("-inf")), ("", "missing", None), ("N/A", "missing", None),
     ("1_000", "str", "1_000"), ("٣", "str", "٣"), ("cat", "str", "cat")],
)
def test_parse_cell(text: str, kind: str, value: Optional[Any]) -> None:
    cell = _table.parse_cell(text)

    assert cell.kind == kind
    assert cell.value == value


def test_table_doctests_pass() -> None:
    results = doctest.testmod(_table)

    assert results.failed == 0
    assert results.attempted >= 3
