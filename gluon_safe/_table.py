"""Reading delimited text tables for the command line: cells, rows, headers, columns.

``gluon-safe check-labels``, ``train`` and ``predict`` read CSV and TSV files with the
standard ``csv`` module. Every row keeps the line number where it ends in the file, so
errors can name the line and the column of a bad cell.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, TextIO, Tuple, Union

from typing_extensions import Literal, TypeAlias

from .errors import MAX_SHOWN, GluonSafeError

__all__ = [
    "MISSING_MARKERS",
    "Cell",
    "CellKind",
    "Table",
    "TableError",
    "UsageError",
    "delimiter_for",
    "find_column",
    "format_locations",
    "looks_like_header",
    "parse_cell",
    "read_table",
]

PathLike = Union[str, "os.PathLike[str]"]

CellKind: TypeAlias = Literal["int", "float", "str", "missing"]
"""Kind of one parsed cell."""

MISSING_MARKERS = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})
"""Cell texts read as a missing value, compared in lower case after stripping spaces."""

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?|[+-]?inf(?:inity)?", re.I)


class UsageError(GluonSafeError, ValueError):
    """The input cannot be read as requested: a missing file, column or format.

    The command line reports it as a usage error (exit status 2).
    """


class TableError(GluonSafeError, ValueError):
    """A table whose content cannot be used: a bad cell, a ragged row, too few samples.

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        Line of the first offending cell, counted from 1.
    column : str or None
        Name (or index) of the column of the first offending cell.
    """

    def __init__(
        self, message: str, *, path: str, line: Optional[int] = None,
        column: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Cell:
    """One parsed cell: its kind, its value and the text it was read from."""

    kind: CellKind
    value: Any
    """An int, a float (infinities included), the stripped text, or None when missing."""

    text: str


@dataclass(frozen=True)
class Table:
    """The rows of a delimited text file, each with the line it ends on."""

    path: str
    rows: Tuple[Tuple[str, ...], ...]
    lines: Tuple[int, ...]
    """Line number (from 1) of each row, as ``csv.reader.line_num`` counts it."""


def parse_cell(text: str) -> Cell:
    """Parse the text of one cell as an int, a float, a missing value or a string.

    Examples
    --------
    >>> [parse_cell(t).kind for t in ["3", "0.5", "1e3", "", "NaN", "?", "cat"]]
    ['int', 'float', 'float', 'missing', 'missing', 'missing', 'str']
    """
    stripped = text.strip()
    if stripped.lower() in MISSING_MARKERS:
        return Cell("missing", None, stripped)
    if _INT.fullmatch(stripped):
        return Cell("int", int(stripped), stripped)
    if _FLOAT.fullmatch(stripped):
        value = float(stripped)
        if math.isnan(value):  # pragma: no cover - 'nan' is a missing marker
            return Cell("missing", None, stripped)
        return Cell("float", value, stripped)
    return Cell("str", stripped, stripped)


def delimiter_for(file_format: str) -> str:
    """Return the delimiter of ``'csv'`` (comma) or ``'tsv'`` (tab)."""
    return "\t" if file_format == "tsv" else ","


@contextlib.contextmanager
def open_text(path: PathLike) -> Iterator[TextIO]:
    """Open a UTF-8 text file, turning the usual reading failures into :class:`UsageError`.

    Failures while the ``with`` body reads the file (a file that is not UTF-8) are
    turned into a :class:`UsageError` too.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as handle:
            yield handle
    except FileNotFoundError:
        raise UsageError(f"file not found: {name}") from None
    except IsADirectoryError:
        raise UsageError(f"{name} is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"cannot read {name}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8 text"
        ) from None


def read_table(path: PathLike, delimiter: str, *, keep_blank_lines: bool = False) -> Table:
    """Read the rows of a delimited UTF-8 text file.

    Blank lines are left out, unless ``keep_blank_lines``: then a blank line between
    rows becomes a row with one empty cell, which is how a one-column file writes a
    missing value. Blank lines at the start and at the end are always left out.

    Raises
    ------
    UsageError
        If the file does not exist, is a directory, cannot be read, or is not UTF-8.
    TableError
        If the CSV syntax is invalid (such as an unclosed quote).
    """
    name = os.fspath(path)
    rows: List[Tuple[str, ...]] = []
    lines: List[int] = []
    try:
        with open_text(name) as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    if not keep_blank_lines:
                        continue
                    row = [""]
                rows.append(tuple(row))
                lines.append(reader.line_num)
    except csv.Error as exc:
        line = len(lines) + 1
        raise TableError(
            f"{name}: invalid CSV after line {lines[-1] if lines else 0}: {exc}",
            path=name, line=line,
        ) from None
    while rows and rows[-1] == ("",):
        rows.pop()
        lines.pop()
    while rows and rows[0] == ("",):
        del rows[0], lines[0]
    return Table(name, tuple(rows), tuple(lines))


def looks_like_header(rows: Sequence[Sequence[str]]) -> bool:
    """Tell whether the first row is a header: all text, above a column of numbers.

    The first row counts as a header when every cell in it is text (not a number and
    not empty) and at least one column holds only numbers (or missing values) below
    it. A file of text only is read without a header, because its first row could be
    data.

    Examples
    --------
    >>> looks_like_header([["alcohol", "class"], ["14.2", "1"]])
    True
    >>> looks_like_header([["cat"], ["dog"]])
    False
    """
    if len(rows) < 2:
        return False
    first = [parse_cell(text) for text in rows[0]]
    if not all(cell.kind == "str" for cell in first):
        return False
    for index in range(len(rows[0])):
        below = [parse_cell(row[index]).kind for row in rows[1:] if index < len(row)]
        numbers = [kind for kind in below if kind in ("int", "float")]
        if numbers and all(kind != "str" for kind in below):
            return True
    return False


def find_column(header: Sequence[str], name: str, *, path: str, header_line: int = 1) -> int:
    """Return the index of the column called ``name`` in ``header``.

    ``header_line`` is the line of the header in the file, for the message.

    Raises
    ------
    UsageError
        If no column or several columns have that name; the message lists the columns.
    """
    matches = [i for i, title in enumerate(header) if title.strip() == name]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(repr(title.strip()) for title in header)
    if not matches:
        raise UsageError(f"column {name!r} not found in the header (line {header_line}) of "
                         f"{path}; the columns are {listed}")
    raise UsageError(f"{len(matches)} columns of {path} are named {name!r}; rename them so "
                     "that the name is unique")


def format_locations(locations: Sequence[str], count: int) -> str:
    """Join the first few locations (``'line 3'``) and count the rest."""
    shown = ", ".join(locations[:MAX_SHOWN])
    if count > MAX_SHOWN:
        shown += f" and {count - MAX_SHOWN} more"
    return shown
