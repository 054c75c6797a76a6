"""Survey label rows of shape (N, C): multi-label 0/1 rows, one-hot or probability rows."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from ..checks import check_multilabel, infer_target_type
from ..errors import LabelError, format_value
from . import _problems as problems_
from ._read import LabelColumn
from ._report import LabelReport, Problem

__all__ = ["diagnose_rows"]


def diagnose_rows(
    column: LabelColumn,
    rows: np.ndarray[Any, Any],
    *,
    num_classes: Optional[int],
    min_samples: int,
) -> LabelReport:
    """Find every problem in label rows, one column per class or label."""
    values = rows.astype(np.float64)
    num_columns = values.shape[1]
    found: List[Optional[Problem]] = []

    bad_rows = ~np.isfinite(values).all(axis=1)
    found.append(problems_.missing_problem(
        [f"row {i}" for i in np.flatnonzero(bad_rows).tolist()], len(values)
    ))
    valid = values[~bad_rows]
    if valid.size == 0:
        found.append(problems_.no_labels_problem(len(values)))
        return _report(column, "unknown", (), found, ())

    kind = infer_target_type(valid)
    notes: Tuple[str, ...] = ()
    if kind == "dense-rows":
        counts = _column_counts(np.bincount(valid.argmax(axis=1), minlength=num_columns))
        target_type = "multiclass"
        notes = (_dense_rows_note(valid),)
    elif kind == "multilabel":
        counts = _column_counts(valid.sum(axis=0))
        target_type = "multilabel"
    else:
        counts = ()
        target_type = "unknown" if kind != "continuous" else "continuous"
        found.append(_layout_problem(valid))

    if num_classes is not None and num_classes != num_columns:
        found.append(Problem(
            "num-classes",
            f"--num-classes is {num_classes}, but the label rows have {num_columns} columns.",
            f"Give the network one output per column ({num_columns}), or check the file.",
        ))
    if counts:
        found.append(problems_.rare_classes_problem(counts, min_samples))
    return _report(column, target_type, counts, found, notes)


def _column_counts(totals: np.ndarray[Any, Any]) -> Tuple[Tuple[Any, int], ...]:
    return tuple((index, round(float(total))) for index, total in enumerate(totals))


def _dense_rows_note(valid: np.ndarray[Any, Any]) -> str:
    one_hot = bool(np.all((valid == 0) | (valid == 1)))
    layout = "one-hot rows" if one_hot else "probability rows (soft targets)"
    return (f"the labels are {layout}: pass them to SafeSoftmaxCrossEntropyLoss with "
            "sparse_label=False and to SafeAccuracy with one_hot=True, or take "
            "labels.argmax(axis=1) for class indices")


def _layout_problem(valid: np.ndarray[Any, Any]) -> Problem:
    try:
        check_multilabel(valid)
    except LabelError as error:
        listed = ", ".join(
            f"{format_value(value)} at row {position[0]}, column {position[1]}"
            for value, position in zip(error.values, error.positions)
        )
        received = f" Received: {listed}." if listed else ""
        return Problem(
            "layout",
            "The label rows are neither multi-label 0/1 rows nor one-hot or probability "
            f"rows: {error.summary}.{received}",
            error.hint or "Store multi-label targets as 0/1 rows, or class indices as one "
                          "column.",
            count=error.count,
        )
    return Problem(  # pragma: no cover - valid 0/1 rows are multilabel or dense rows
        "layout", "The label rows have an unknown layout.",
        "Store multi-label targets as 0/1 rows, or class indices as one column.",
    )


def _report(
    column: LabelColumn,
    target_type: str,
    counts: Tuple[Tuple[Any, int], ...],
    found: List[Optional[Problem]],
    notes: Tuple[str, ...],
) -> LabelReport:
    rows = column.rows
    return LabelReport(
        source=column.describe(),
        num_values=0 if rows is None else int(rows.shape[0]),
        target_type=target_type,
        classes=counts,
        problems=tuple(problem for problem in found if problem is not None),
        notes=notes,
    )
