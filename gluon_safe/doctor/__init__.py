"""The label doctor behind ``gluon-safe check-labels``.

:func:`read_label_column` reads the labels of a CSV or TSV file, a ``.npy`` array or a
text file; :func:`diagnose` finds the target type, the class counts and every problem
with its fix; :func:`format_report` and :func:`report_as_json` render the result.
"""

from __future__ import annotations

from .._table import TableError, UsageError
from ._diagnose import DEFAULT_MIN_SAMPLES, diagnose
from ._read import FILE_FORMATS, LABEL_COLUMN_NAMES, LabelColumn, read_label_column
from ._report import LabelReport, Problem, format_report, report_as_json

__all__ = [
    "DEFAULT_MIN_SAMPLES",
    "FILE_FORMATS",
    "LABEL_COLUMN_NAMES",
    "LabelColumn",
    "LabelReport",
    "Problem",
    "TableError",
    "UsageError",
    "diagnose",
    "format_report",
    "read_label_column",
    "report_as_json",
]
