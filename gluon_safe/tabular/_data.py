"""Read a CSV table into numeric features and raw labels, naming the line of every bad cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from .._table import Cell, Table, TableError, UsageError, find_column, parse_cell, read_table
from ..errors import MAX_SHOWN

__all__ = ["FeatureTable", "labelled_table", "read_csv", "read_features"]

_FIX_FEATURES = (
    "gluon-safe train needs a number in every feature cell: fill in or drop rows with "
    "missing values, and encode or remove columns of text"
)


@dataclass(frozen=True)
class FeatureTable:
    """Numeric features read from a CSV file, and the raw labels when there is a label column."""

    path: str
    feature_names: Tuple[str, ...]
    features: np.ndarray[Any, np.dtype[np.float64]]
    """Shape (N, F), in file order."""

    lines: Tuple[int, ...]
    """Line of each row in the file, counted from 1."""

    label_column: Optional[str] = None
    label_cells: Tuple[Cell, ...] = ()


def read_csv(path: str) -> Table:
    """Read a CSV file, or a TSV file when its name ends in ``.tsv`` or ``.tab``.

    Raises
    ------
    UsageError
        If the file cannot be read or has no header row.
    TableError
        If the CSV syntax is invalid.
    """
    delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    table = read_table(path, delimiter)
    if not table.rows:
        raise UsageError(f"{path} is empty; expected a header row with the column names")
    return table


def labelled_table(table: Table, label_column: str) -> FeatureTable:
    """Split a table into the label column and the numeric feature columns.

    Raises
    ------
    UsageError
        If ``label_column`` is not in the header, or no other column is left.
    TableError
        If a row has another number of cells than the header, or a feature cell is
        missing, not a number, or infinite.
    """
    header = [name.strip() for name in table.rows[0]]
    label_index = find_column(header, label_column, path=table.path,
                              header_line=table.lines[0])
    feature_indices = [i for i in range(len(header)) if i != label_index]
    if not feature_indices:
        raise UsageError(f"{table.path} has no column besides the label column "
                         f"{label_column!r}, so there are no features to train on")
    _check_row_lengths(table, len(header))

    features = _parse_features(table, header, feature_indices)
    label_cells = tuple(parse_cell(row[label_index]) for row in table.rows[1:])
    return FeatureTable(
        path=table.path,
        feature_names=tuple(header[i] for i in feature_indices),
        features=features,
        lines=table.lines[1:],
        label_column=header[label_index],
        label_cells=label_cells,
    )


def read_features(table: Table, feature_names: Sequence[str]) -> FeatureTable:
    """Read the named feature columns, in that order; other columns are left out.

    Raises
    ------
    UsageError
        If a feature column is not in the header.
    TableError
        As :func:`labelled_table`.
    """
    header = [name.strip() for name in table.rows[0]]
    missing = [name for name in feature_names if name not in header]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        raise UsageError(f"{table.path} lacks the feature column(s) {listed} that the model "
                         f"was trained on; its columns are "
                         f"{', '.join(repr(name) for name in header)}")
    indices = [find_column(header, name, path=table.path) for name in feature_names]
    _check_row_lengths(table, len(header))
    features = _parse_features(table, header, indices)
    return FeatureTable(table.path, tuple(feature_names), features, table.lines[1:])


def _check_row_lengths(table: Table, width: int) -> None:
    ragged = [
        (line, len(row)) for row, line in zip(table.rows[1:], table.lines[1:])
        if len(row) != width
    ]
    if not ragged:
        return
    line, length = ragged[0]
    more = f" ({len(ragged)} rows in all)" if len(ragged) > 1 else ""
    raise TableError(
        f"{table.path}, line {line}: the row has {length} cells but the header has {width} "
        f"columns{more}. Every row needs one cell per column; check for a missing or extra "
        "delimiter.",
        path=table.path, line=line,
    )


def _parse_features(
    table: Table, header: Sequence[str], indices: Sequence[int]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    features = np.empty((len(table.rows) - 1, len(indices)), dtype=np.float64)
    bad: List[Tuple[int, str, str, str]] = []
    for r, (row, line) in enumerate(zip(table.rows[1:], table.lines[1:])):
        for c, index in enumerate(indices):
            cell = parse_cell(row[index])
            problem = _feature_problem(cell)
            if problem is None:
                features[r, c] = float(cell.value)
            else:
                bad.append((line, header[index], cell.text, problem))
    if bad:
        raise _bad_cells_error(table.path, bad)
    return features


def _feature_problem(cell: Cell) -> Optional[str]:
    if cell.kind == "missing":
        return "missing value"
    if cell.kind == "str":
        return "not a number"
    if not np.isfinite(cell.value):
        return "not finite"
    return None


def _bad_cells_error(path: str, bad: Sequence[Tuple[int, str, str, str]]) -> TableError:
    listed = "; ".join(
        f"line {line}, column {column!r}: {text!r} ({problem})"
        for line, column, text, problem in bad[:MAX_SHOWN]
    )
    more = f" and {len(bad) - MAX_SHOWN} more" if len(bad) > MAX_SHOWN else ""
    columns = sorted({column for _, column, _, _ in bad})
    first_line, first_column = bad[0][0], bad[0][1]
    return TableError(
        f"{path}: {len(bad)} feature cell{'s' if len(bad) != 1 else ''} cannot be used: "
        f"{listed}{more}. Columns affected: {', '.join(repr(c) for c in columns)}. "
        f"{_FIX_FEATURES}.",
        path=path, line=first_line, column=first_column,
    )
