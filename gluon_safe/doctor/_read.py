"""Read one label column from a CSV or TSV file, a ``.npy`` array or a text file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, Union

import numpy as np
from typing_extensions import Literal, TypeAlias

from .._table import (
    Cell,
    UsageError,
    delimiter_for,
    find_column,
    looks_like_header,
    open_text,
    parse_cell,
    read_table,
)

__all__ = [
    "FILE_FORMATS",
    "LABEL_COLUMN_NAMES",
    "FileFormat",
    "LabelColumn",
    "read_label_column",
    "resolve_format",
]

FileFormat: TypeAlias = Literal["csv", "tsv", "npy", "txt"]
FILE_FORMATS: Tuple[str, ...] = ("csv", "tsv", "npy", "txt")

_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".npy": "npy", ".txt": "txt"}

LABEL_COLUMN_NAMES = ("label", "labels", "class", "target", "y")
"""Header names taken as the label column when ``column`` is not given (any case)."""

ColumnSpec = Union[int, str]


@dataclass(frozen=True)
class LabelColumn:
    """The labels read from a file, with where each one came from."""

    path: str
    file_format: FileFormat
    column: Optional[str]
    """The column as the report names it (``"'class'"``, ``"2"``), None for one column."""

    header: bool
    """Whether the first row was read as a header."""

    cells: Tuple[Cell, ...]
    """One parsed cell per sample; empty when ``rows`` contains the labels."""

    locations: Tuple[str, ...]
    """Location of each cell, such as ``'line 5'`` or ``'index 4'``."""

    rows: Optional[np.ndarray[Any, Any]] = None
    """Label rows of shape (N, C) from a 2-D ``.npy`` array, one column per class."""

    def describe(self) -> str:
        """Describe the source for a report, e.g. ``"wine.csv, column 'class' (csv, header)"``."""
        parts = [self.path]
        if self.column is not None:
            parts.append(f"column {self.column}")
        layout: str = self.file_format
        if self.file_format in ("csv", "tsv"):
            layout += ", header row" if self.header else ", no header row"
        if self.rows is not None:
            layout += f", rows of {self.rows.shape[1]} columns"
        return f"{', '.join(parts)} ({layout})"


def resolve_format(path: str, file_format: Optional[str]) -> FileFormat:
    """Return ``file_format``, or the format that the file extension names.

    Raises
    ------
    UsageError
        If ``file_format`` is unknown, or it is None and the extension is not one of
        ``.csv``, ``.tsv``, ``.tab``, ``.npy`` or ``.txt``.
    """
    if file_format is not None:
        if file_format not in FILE_FORMATS:
            raise UsageError(f"format {file_format!r} is not supported; expected one of "
                             f"{', '.join(FILE_FORMATS)}")
        return file_format  # type: ignore[return-value]
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise UsageError(f"cannot tell the format of {path} from its extension "
                         f"{extension or '(none)'}; pass --format with one of "
                         f"{', '.join(FILE_FORMATS)}")
    return _EXTENSIONS[extension]  # type: ignore[return-value]


def read_label_column(
    path: str, *, column: Optional[str] = None, file_format: Optional[str] = None
) -> LabelColumn:
    """Read the labels of ``path``.

    Parameters
    ----------
    path : str
        A CSV or TSV file (with or without a header row), a ``.npy`` array, or a text
        file with one label per line.
    column : str, optional
        The label column of a table: a header name, or an index counted from 0
        (negative counts from the end). A name implies a header row. When None, a
        one-column table uses that column, and a table with a header uses the column
        named label, labels, class, target or y. A 2-D ``.npy`` array without a
        column is read as label rows.
    file_format : {'csv', 'tsv', 'npy', 'txt'}, optional
        The default is taken from the extension.

    Returns
    -------
    LabelColumn

    Raises
    ------
    UsageError
        If the file cannot be read, its format is unknown, or the column is missing
        or ambiguous.
    TableError
        If the CSV syntax is invalid.
    """
    resolved = resolve_format(path, file_format)
    spec = _parse_column_spec(column)
    if resolved == "npy":
        return _read_npy(path, spec)
    if resolved == "txt":
        if spec is not None:
            raise UsageError(f"{path} is read as one label per line (txt), which has no "
                             "columns; leave out --column, or pass --format csv or tsv")
        return _read_text(path)
    return _read_delimited(path, resolved, spec)


def _parse_column_spec(column: Optional[str]) -> Optional[ColumnSpec]:
    if column is None:
        return None
    if re.fullmatch(r"[+-]?[0-9]+", column.strip()):
        return int(column)
    if not column.strip():
        raise UsageError("--column is empty; pass a header name or an index from 0")
    return column.strip()


def _read_delimited(path: str, file_format: FileFormat, spec: Optional[ColumnSpec]) -> LabelColumn:
    table = read_table(path, delimiter_for(file_format), keep_blank_lines=True)
    rows, lines = table.rows, table.lines
    first_row = next((row for row in rows if row != ("",)), ())
    if len(first_row) > 1:
        # A blank line is a missing label only in a one-column file.
        kept = [i for i, row in enumerate(rows) if row != ("",)]
        rows, lines = tuple(rows[i] for i in kept), tuple(lines[i] for i in kept)
    header = isinstance(spec, str) or looks_like_header(rows)
    if isinstance(spec, str) and not rows:
        raise UsageError(f"{path} is empty, so it has no column {spec!r}")
    width = len(rows[0]) if rows else 1
    names = [title.strip() for title in rows[0]] if header else None
    index = _column_index(spec, names, width, path, lines[0] if lines else 1)

    data_rows = rows[1:] if header else rows
    data_lines = lines[1:] if header else lines
    cells = tuple(
        parse_cell(row[index]) if -len(row) <= index < len(row) else Cell("missing", None, "")
        for row in data_rows
    )
    locations = tuple(f"line {line}" for line in data_lines)
    if names is not None:
        shown: Optional[str] = repr(names[index])
    else:
        shown = None if width == 1 else str(index)
    return LabelColumn(path, file_format, shown, header, cells, locations)


def _column_index(
    spec: Optional[ColumnSpec], names: Optional[List[str]], width: int, path: str,
    header_line: int,
) -> int:
    if isinstance(spec, str) and names is not None:
        # A name always reads the first row as the header, so names is set here.
        return find_column(names, spec, path=path, header_line=header_line)
    if isinstance(spec, int):
        if not -width <= spec < width:
            raise UsageError(f"column index {spec} is out of range: {path} has {width} "
                             f"column{'s' if width != 1 else ''} (0..{width - 1})")
        return spec % width
    if width == 1:
        return 0
    if names is not None:
        guesses = [i for i, name in enumerate(names) if name.lower() in LABEL_COLUMN_NAMES]
        if len(guesses) == 1:
            return guesses[0]
    listed = ", ".join(repr(name) for name in names) if names else f"0..{width - 1}"
    raise UsageError(f"{path} has {width} columns ({listed}); pass --column with the name "
                     "or the index (from 0) of the label column")


def _read_text(path: str) -> LabelColumn:
    with open_text(path) as handle:
        lines = handle.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    cells = tuple(parse_cell(line) for line in lines)
    locations = tuple(f"line {number}" for number in range(1, len(lines) + 1))
    return LabelColumn(path, "txt", None, False, cells, locations)


def _read_npy(path: str, spec: Optional[ColumnSpec]) -> LabelColumn:
    array = _load_npy(path)
    if array.ndim == 2 and array.shape[1] == 1 and spec is None:
        array = array[:, 0]
    if isinstance(spec, str):
        raise UsageError(f"{path} is a .npy array, which has no column names; pass "
                         "--column with an index from 0")
    if array.ndim == 2 and spec is not None:
        width = array.shape[1]
        if not -width <= spec < width:
            raise UsageError(f"column index {spec} is out of range: {path} has {width} "
                             f"columns (0..{width - 1})")
        return _npy_column(path, array[:, spec % width], str(spec % width))
    if array.ndim == 2:
        if array.dtype.kind not in "biuf":
            raise UsageError(f"{path} contains {array.dtype} rows; label rows must be numbers")
        return LabelColumn(path, "npy", None, False, (), (), rows=array)
    if spec is not None:
        raise UsageError(f"{path} is a 1-D array, which has no columns; leave out --column")
    return _npy_column(path, array, None)


def _load_npy(path: str) -> np.ndarray[Any, Any]:
    try:
        array: np.ndarray[Any, Any] = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied") from None
    except ValueError as exc:
        # np.load raises ValueError for object arrays and for files that are not .npy.
        raise UsageError(f"cannot read {path} as a .npy array: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise UsageError(f"{path} is a .npz archive; save the labels with numpy.save as .npy")
    if array.ndim not in (1, 2):
        raise UsageError(f"{path} contains an array of shape {array.shape}; expected labels of "
                         "shape (N,) or label rows of shape (N, C)")
    return array


def _npy_column(path: str, values: np.ndarray[Any, Any], column: Optional[str]) -> LabelColumn:
    if values.dtype.kind not in "biufUS":
        raise UsageError(f"{path} contains {values.dtype} values; expected numbers or strings")
    cells = tuple(_array_cell(value) for value in values.tolist())
    locations = tuple(f"index {i}" for i in range(len(cells)))
    return LabelColumn(path, "npy", column, False, cells, locations)


def _array_cell(value: Any) -> Cell:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return Cell("int", int(value), str(value))
    if isinstance(value, int):
        return Cell("int", value, str(value))
    if isinstance(value, float):
        if value != value:
            return Cell("missing", None, "nan")
        return Cell("float", value, repr(value))
    text = str(value)
    if not text.strip():
        return Cell("missing", None, text)
    return Cell("str", text.strip(), text)
