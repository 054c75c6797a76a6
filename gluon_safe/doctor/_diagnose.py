"""Survey a label column: its target type, class counts and every problem found."""

from __future__ import annotations

from collections import Counter
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from .._table import Cell
from ..checks import infer_target_type
from ..checks._target import integral_mask
from . import _problems as problems_
from ._read import LabelColumn
from ._report import LabelReport, Problem
from ._rows import diagnose_rows

__all__ = ["DEFAULT_MIN_SAMPLES", "diagnose"]

DEFAULT_MIN_SAMPLES = 5
"""Classes with fewer samples than this are reported as rare."""


def diagnose(
    column: LabelColumn,
    *,
    num_classes: Optional[int] = None,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> LabelReport:
    """Find every problem in a label column.

    Parameters
    ----------
    column : LabelColumn
        What :func:`read_label_column` returned.
    num_classes : int, optional
        The number of classes the model is built for; reported when the labels disagree.
    min_samples : int, default 5
        Classes with fewer samples are reported as rare.

    Returns
    -------
    LabelReport
        The target type, the class counts, and the problems with their fixes.

    Raises
    ------
    ValueError
        If ``num_classes`` or ``min_samples`` is not a positive int.
    """
    for name, value in (("num_classes", num_classes), ("min_samples", min_samples)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"{name}={value!r} must be a positive int")
    if column.rows is not None:
        return diagnose_rows(column, column.rows, num_classes=num_classes,
                             min_samples=min_samples)

    survey = _Survey(column, num_classes, min_samples)
    return survey.run()


class _Survey:
    """The steps of :func:`diagnose` for one column of labels, one label per sample."""

    def __init__(self, column: LabelColumn, num_classes: Optional[int], min_samples: int) -> None:
        self.column = column
        self.num_classes = num_classes
        self.min_samples = min_samples
        self.problems: List[Optional[Problem]] = []

    def run(self) -> LabelReport:
        cells = self.column.cells
        locations = self.column.locations
        missing = [loc for cell, loc in zip(cells, locations) if cell.kind == "missing"]
        self.problems.append(problems_.missing_problem(missing, len(cells)))

        present = [(cell, loc) for cell, loc in zip(cells, locations) if cell.kind != "missing"]
        text = [(cell, loc) for cell, loc in present if cell.kind == "str"]
        numbers = [(cell, loc) for cell, loc in present if cell.kind != "str"]
        if not present:
            self.problems.append(problems_.no_labels_problem(len(cells)))
            return self._report("unknown", ())
        if text and numbers:
            return self._survey_mixed(text, numbers)
        if text:
            return self._survey_text(text)
        return self._survey_numbers(numbers)

    def _survey_mixed(
        self, text: Sequence[Tuple[Cell, str]], numbers: Sequence[Tuple[Cell, str]]
    ) -> LabelReport:
        self.problems.append(problems_.mixed_types_problem(
            [(loc, cell.text) for cell, loc in numbers], [(loc, cell.text) for cell, loc in text]
        ))
        # Survey the majority as well, so that its own problems (1-based, gaps, ...) are
        # listed too; the minority is what the mixed-types problem points at.
        if len(numbers) >= len(text):
            majority = self._survey_numbers(numbers)
            minority = Counter(cell.text for cell, _ in text)
        else:
            majority = self._survey_text(text)
            minority = Counter(cell.text for cell, _ in numbers)
        counts = (*majority.classes, *_sorted_counts(minority))
        return self._report("unknown", counts)

    def _survey_text(self, text: Sequence[Tuple[Cell, str]]) -> LabelReport:
        values = [cell.value for cell, _ in text]
        counts = _sorted_counts(Counter(values))
        if self.num_classes is not None:
            self.problems.append(problems_.too_few_classes_problem(
                len(counts), self.num_classes, ""
            ))
        self.problems.append(problems_.single_class_problem([value for value, _ in counts]))
        self._check_rare(counts, first=text[0])
        return self._report(infer_target_type(values), counts)

    def _survey_numbers(self, numbers: Sequence[Tuple[Cell, str]]) -> LabelReport:
        values = np.array([float(cell.value) for cell, _ in numbers], dtype=np.float64)
        finite = np.isfinite(values)
        self.problems.append(problems_.infinite_problem(
            [loc for (_, loc), ok in zip(numbers, finite) if not ok],
            [cell.text for (cell, _), ok in zip(numbers, finite) if not ok],
        ))
        kept = [pair for pair, ok in zip(numbers, finite) if ok]
        values = values[finite]
        if values.size == 0:
            return self._report("unknown", ())
        whole = integral_mask(values)
        if not whole.all():
            return self._survey_fractions(kept, values, whole)
        return self._survey_indices(kept, values.astype(np.int64))

    def _survey_fractions(
        self,
        kept: Sequence[Tuple[Cell, str]],
        values: np.ndarray[Any, Any],
        whole: np.ndarray[Any, Any],
    ) -> LabelReport:
        fractional = [pair for pair, ok in zip(kept, whole) if not ok]
        locations = [loc for _, loc in fractional]
        texts = [cell.text for cell, _ in fractional]
        low, high = float(values.min()), float(values.max())
        counts = _sorted_counts(Counter(values.tolist()))
        if low >= 0.0 and high <= 1.0:
            distinct = [value for value, _ in counts]
            self.problems.append(problems_.normalized_problem(distinct, locations, texts))
            self._check_rare(counts)
        else:
            self.problems.append(problems_.continuous_problem(low, high, locations, texts))
        return self._report("continuous", counts)

    def _survey_indices(
        self, kept: Sequence[Tuple[Cell, str]], labels: np.ndarray[Any, Any]
    ) -> LabelReport:
        counts = _sorted_counts(Counter(labels.tolist()))
        classes = [value for value, _ in counts]
        negative = labels < 0
        self.problems.append(problems_.negative_problem(
            labels[negative].tolist(),
            [loc for (_, loc), bad in zip(kept, negative) if bad],
            [cell.text for (cell, _), bad in zip(kept, negative) if bad],
            classes,
        ))
        indices = [value for value in classes if value >= 0]
        if set(classes) != {-1, 1}:
            self.problems.append(problems_.one_based_problem(indices))
            self.problems.append(problems_.gaps_problem(indices))
        if self.num_classes is not None:
            self._check_num_classes(kept, labels, indices)
        self.problems.append(problems_.single_class_problem(classes))
        self._check_rare(counts)
        return self._report(infer_target_type(labels), counts)

    def _check_num_classes(
        self, kept: Sequence[Tuple[Cell, str]], labels: np.ndarray[Any, Any], indices: List[int]
    ) -> None:
        num_classes = self.num_classes
        if num_classes is None or not indices:
            return
        too_large = labels >= num_classes
        self.problems.append(problems_.too_large_problem(
            labels[labels >= 0].tolist(),
            labels[too_large].tolist(),
            [loc for (_, loc), bad in zip(kept, too_large) if bad],
            [cell.text for (cell, _), bad in zip(kept, too_large) if bad],
            num_classes,
        ))
        if indices[-1] < num_classes - 1:
            self.problems.append(problems_.too_few_classes_problem(
                len(indices), num_classes,
                f" and the largest is {indices[-1]}, so classes {indices[-1] + 1}.."
                f"{num_classes - 1} have no sample",
            ))

    def _check_rare(
        self, counts: Sequence[Tuple[Any, int]], first: Optional[Tuple[Cell, str]] = None
    ) -> None:
        first_location = first[1] if first is not None else None
        first_value = first[0].value if first is not None else None
        self.problems.append(problems_.rare_classes_problem(
            counts, self.min_samples, first_location, first_value
        ))

    def _report(self, target_type: str, counts: Sequence[Tuple[Any, int]]) -> LabelReport:
        found = tuple(problem for problem in self.problems if problem is not None)
        return LabelReport(
            source=self.column.describe(),
            num_values=len(self.column.cells),
            target_type=target_type,
            classes=tuple(counts),
            problems=found,
        )


def _sorted_counts(counter: Counter[Any]) -> Tuple[Tuple[Any, int], ...]:
    return tuple(sorted(counter.items(), key=lambda item: item[0]))
