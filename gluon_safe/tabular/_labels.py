"""Check the label column of a training table and encode it with ``LabelEncoder``."""

from __future__ import annotations

from collections import Counter
from typing import Any, List, Tuple

import numpy as np

from .._table import TableError
from ..doctor import LabelColumn, diagnose
from ..doctor._problems import counted
from ..encoding import LabelEncoder
from ._data import FeatureTable

__all__ = ["MIN_SAMPLES_PER_CLASS", "encode_labels"]

MIN_SAMPLES_PER_CLASS = 2
"""A stratified split puts at least one sample of every class in each part."""

_FATAL = ("no-labels", "missing", "mixed-types", "non-finite", "normalized", "continuous",
          "single-class")
"""Problems of ``check-labels`` that make a label column unusable for training.

1-based labels, gaps and negative classes are not among them: ``LabelEncoder`` maps any
set of distinct classes onto ``0..K-1``.
"""


def encode_labels(table: FeatureTable) -> Tuple[LabelEncoder[Any], np.ndarray[Any, Any]]:
    """Check the raw labels of ``table`` and return a fitted encoder and the class indices.

    Raises
    ------
    TableError
        If a label is missing or infinite, the column mixes numbers and text, the labels
        are fractional (normalized or continuous), there is only one class, or a class
        has a single sample. The message names the lines and the column.
    """
    column = LabelColumn(
        path=table.path, file_format="csv", column=repr(table.label_column), header=True,
        cells=table.label_cells, locations=tuple(f"line {line}" for line in table.lines),
    )
    report = diagnose(column, min_samples=MIN_SAMPLES_PER_CLASS)
    for problem in report.problems:
        if problem.code in _FATAL:
            line = _first_line(problem.locations)
            raise TableError(
                f"{table.path}, column {table.label_column!r}: {problem.message} "
                f"{problem.fix}",
                path=table.path, line=line, column=table.label_column,
            )

    raw = _raw_labels(table)
    _check_class_sizes(table, raw)
    encoder: LabelEncoder[Any] = LabelEncoder()
    indices = encoder.fit_transform(raw)
    return encoder, indices


def _raw_labels(table: FeatureTable) -> List[Any]:
    cells = table.label_cells
    if all(cell.kind == "str" for cell in cells):
        return [cell.value for cell in cells]
    # Integral floats such as 2.0 are the class 2, as LabelEncoder reads them.
    return [int(cell.value) for cell in cells]


def _check_class_sizes(table: FeatureTable, raw: List[Any]) -> None:
    counts = Counter(raw)
    single = [value for value, count in counts.items() if count < MIN_SAMPLES_PER_CLASS]
    if not single:
        return
    lines = [table.lines[raw.index(value)] for value in single]
    listed = ", ".join(
        f"{value!r} (line {line})" for value, line in sorted(zip(single, lines), key=_line_key)
    )
    several = len(single) > 1
    raise TableError(
        f"{table.path}, column {table.label_column!r}: {counted(len(single), 'class', 'has')} "
        f"a single sample: {listed}. A stratified split needs at least "
        f"{MIN_SAMPLES_PER_CLASS} samples per class, one for training and one for testing: "
        f"collect more samples of {'those classes' if several else 'that class'}, or drop "
        f"{'their rows' if several else 'its row'}.",
        path=table.path, line=min(lines), column=table.label_column,
    )


def _line_key(item: Tuple[Any, int]) -> int:
    return item[1]


def _first_line(locations: Tuple[str, ...]) -> Any:
    if not locations:
        return None
    return int(locations[0].split()[-1])
