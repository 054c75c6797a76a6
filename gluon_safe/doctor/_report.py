"""The result of ``check-labels``: problems with their fixes, and how it is printed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["MAX_CLASSES_SHOWN", "LabelReport", "Problem", "format_report", "report_as_json"]

MAX_CLASSES_SHOWN = 20
"""Class counts listed in the text report; the JSON report lists every class."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a label column.

    ``code`` is a stable identifier for scripts (``'one-based'``, ``'gaps'``, ...);
    ``message`` describes what was found and ``fix`` what to do about it.
    """

    code: str
    message: str
    fix: str
    locations: Tuple[str, ...] = ()
    """Locations of the first few offending values, such as ``'line 5'``."""

    count: int = 0
    """How many values are affected; 0 when the problem concerns the column as a whole."""


@dataclass(frozen=True)
class LabelReport:
    """Findings of ``check-labels`` in one label column."""

    source: str
    """The file, column and layout, as :meth:`LabelColumn.describe` gives them."""

    num_values: int
    """Number of samples, missing values included."""

    target_type: str
    """``'binary'``, ``'multiclass'``, ``'multilabel'``, ``'continuous'`` or ``'unknown'``."""

    classes: Tuple[Tuple[Any, int], ...]
    """(class, number of samples) pairs, sorted by class; for label rows, per column."""

    problems: Tuple[Problem, ...] = ()
    notes: Tuple[str, ...] = field(default=())
    """Observations that are not problems, such as one-hot rows."""

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


def format_report(report: LabelReport) -> str:
    """Return the report as the text ``check-labels`` prints."""
    lines = [
        f"labels: {report.source}",
        f"values: {report.num_values}",
        f"target type: {report.target_type}",
    ]
    lines.extend(_format_classes(report.classes))
    lines.extend(f"note: {note}" for note in report.notes)
    if report.ok:
        lines.append("no problems found")
        return "\n".join(lines)

    lines.append(f"problems ({len(report.problems)}):")
    for problem in report.problems:
        lines.append(f"  [{problem.code}] {problem.message}")
        lines.append(f"    fix: {problem.fix}")
    return "\n".join(lines)


def report_as_json(report: LabelReport) -> str:
    """Return the report as a JSON document (``check-labels --json``)."""
    document: Dict[str, Any] = {
        "source": report.source,
        "num_values": report.num_values,
        "target_type": report.target_type,
        "classes": [{"class": _json_value(c), "count": n} for c, n in report.classes],
        "notes": list(report.notes),
        "problems": [
            {
                "code": p.code,
                "message": p.message,
                "fix": p.fix,
                "locations": list(p.locations),
                "count": p.count,
            }
            for p in report.problems
        ],
        "ok": report.ok,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _format_classes(classes: Tuple[Tuple[Any, int], ...]) -> List[str]:
    if not classes:
        return []
    lines = [f"classes ({len(classes)}):"]
    width = max(len(_show(c)) for c, _ in classes[:MAX_CLASSES_SHOWN])
    for value, count in classes[:MAX_CLASSES_SHOWN]:
        lines.append(f"  {_show(value):>{width}}: {count}")
    if len(classes) > MAX_CLASSES_SHOWN:
        lines.append(f"  ... and {len(classes) - MAX_CLASSES_SHOWN} more")
    return lines


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _json_value(value: Any) -> Optional[Any]:
    if isinstance(value, (str, int, float)) or value is None:
        return value
    return str(value)
