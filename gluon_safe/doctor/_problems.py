"""Build each kind of :class:`Problem`, with its message and its fix.

Every function returns a Problem or None; the caller decides which ones apply.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from .._table import format_locations
from ..checks import check_class_indices
from ..errors import LabelError
from ._report import Problem

__all__ = [
    "ENCODER_FIX",
    "continuous_problem",
    "counted",
    "format_classes",
    "gaps_problem",
    "infinite_problem",
    "missing_problem",
    "mixed_types_problem",
    "negative_problem",
    "no_labels_problem",
    "normalized_problem",
    "one_based_problem",
    "plural",
    "rare_classes_problem",
    "single_class_problem",
    "too_few_classes_problem",
    "too_large_problem",
]

ENCODER_FIX = "encode the raw classes with gluon_safe.LabelEncoder"
MAX_LISTED = 10
"""Class values listed in one message before the rest are counted."""

MAX_SCALE = 100
SCALE_TOLERANCE = 1e-4
"""Absolute tolerance on ``value * m`` when guessing the m that labels were divided by."""


def format_classes(values: Sequence[Any], total: Optional[int] = None) -> str:
    """Join the first few class values, e.g. ``'4, 8 and 2 more'``."""
    total = len(values) if total is None else total
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:MAX_LISTED])
    if total > MAX_LISTED:
        shown += f" and {total - MAX_LISTED} more"
    return shown


def plural(count: int, noun: str) -> str:
    """Return ``'1 label'`` or ``'3 labels'`` (``'2 classes'``)."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}es" if noun.endswith("s") else f"{count} {noun}s"


def counted(count: int, noun: str, verb: str) -> str:
    """Return ``'1 label is'`` or ``'3 labels are'``; ``verb`` is ``'is'`` or ``'has'``."""
    if count != 1:
        verb = {"is": "are", "has": "have"}[verb]
    return f"{plural(count, noun)} {verb}"


def _where(locations: Sequence[str], texts: Sequence[str], count: int) -> str:
    listed = [f"{loc} ({text!r})" if text else loc for loc, text in zip(locations, texts)]
    return format_locations(listed, count)


def missing_problem(locations: Sequence[str], total: int) -> Optional[Problem]:
    if not locations:
        return None
    count = len(locations)
    return Problem(
        "missing",
        f"{count} of {plural(total, 'label')} {'is' if count == 1 else 'are'} missing (an "
        f"empty cell, NaN, NA, null, None or ?), at {format_locations(locations, count)}.",
        "Fill in or drop these rows before training: MXNet's loss and Accuracy read a NaN "
        "label as class 0, and gluon_safe.LabelEncoder rejects it.",
        tuple(locations[:MAX_LISTED]), count,
    )


def no_labels_problem(total: int) -> Problem:
    what = "holds no labels" if total == 0 else "holds only missing values"
    return Problem(
        "no-labels", f"The label column {what}.",
        "Check the file and the column: pass --column with the label column.",
    )


def mixed_types_problem(
    number_locations: Sequence[Tuple[str, str]], text_locations: Sequence[Tuple[str, str]]
) -> Problem:
    numbers, texts = len(number_locations), len(text_locations)
    # Show the minority: stray text in a number column, or stray numbers among text.
    minority = text_locations if texts <= numbers else number_locations
    kind = "text" if texts <= numbers else "number"
    locations = [loc for loc, _ in minority]
    where = _where(locations, [text for _, text in minority], len(minority))
    return Problem(
        "mixed-types",
        f"The column mixes {plural(numbers, 'number')} and {plural(texts, 'text value')}; "
        f"the {kind} values are at {where}.",
        "Make the column one type: repair or drop the rows with stray values (a typo, a "
        f"unit, a marker for unknown), then {ENCODER_FIX}.",
        tuple(locations[:MAX_LISTED]), len(minority),
    )


def infinite_problem(locations: Sequence[str], texts: Sequence[str]) -> Optional[Problem]:
    if not locations:
        return None
    count = len(locations)
    return Problem(
        "non-finite",
        f"{counted(count, 'label', 'is')} infinite, at {_where(locations, texts, count)}.",
        "Repair or drop these rows: infinity is not a class, and MXNet would clip it onto "
        "the last output.",
        tuple(locations[:MAX_LISTED]), count,
    )


def negative_problem(
    values: Sequence[int], locations: Sequence[str], texts: Sequence[str], classes: Sequence[int]
) -> Optional[Problem]:
    if not locations:
        return None
    count = len(locations)
    negatives = sorted(set(values))
    if set(classes) == {-1, 1}:
        fix = ("The labels look like {-1, 1} binary targets: map -1 to 0 "
               "(labels = (labels + 1) / 2).")
    elif negatives == [-1]:
        fix = ("If -1 marks padding or unknown samples, pass ignore_label=-1 to the gluon_safe "
               f"loss and metric; otherwise {ENCODER_FIX}.")
    else:
        fix = f"Class indices start at 0; {ENCODER_FIX}."
    return Problem(
        "negative",
        f"{counted(count, 'label', 'is')} negative ({format_classes(negatives)}), at "
        f"{_where(locations, texts, count)}. MXNet's softmax cross-entropy clips them onto "
        "class 0.",
        fix, tuple(locations[:MAX_LISTED]), count,
    )


def one_based_problem(classes: Sequence[int]) -> Optional[Problem]:
    """Classes that start at 1: output 0 never trains and the top class gets clipped."""
    if not classes or classes[0] != 1:
        return None
    top = classes[-1]
    return Problem(
        "one-based",
        f"The smallest class is 1, not 0, so the labels look 1-based (classes 1..{top}): "
        f"output 0 never trains, and with {top} outputs MXNet's SoftmaxCrossEntropyLoss "
        f"clips label {top} onto output {top - 1}.",
        f"Subtract 1 from every label, or {ENCODER_FIX} (classes 1..{top} become "
        f"0..{top - 1}).",
    )


def gaps_problem(classes: Sequence[int]) -> Optional[Problem]:
    """Integers between the first index (0, or 1 for 1-based labels) and the top class."""
    if not classes:
        return None
    start = 1 if classes[0] == 1 else 0
    top = classes[-1]
    missing_count = (top - start + 1) - len(classes)
    if missing_count <= 0:
        return None
    missing = _first_missing(classes, start, MAX_LISTED)
    return Problem(
        "gaps",
        f"{'Class' if missing_count == 1 else 'Classes'} "
        f"{format_classes(missing, missing_count)} {'has' if missing_count == 1 else 'have'} "
        f"no sample, although the classes run from {start} to {top}: a network would need "
        f"{top + 1} outputs for {len(classes)} classes, and the missing ones never train.",
        f"{ENCODER_FIX[0].upper()}{ENCODER_FIX[1:]}, which maps the {len(classes)} classes "
        f"present to 0..{len(classes) - 1}. If the missing classes exist but have no sample "
        f"in this file, keep the labels and give the network {top + 1} outputs.",
    )


def _first_missing(classes: Sequence[int], start: int, limit: int) -> List[int]:
    present = set(classes)
    missing: List[int] = []
    value = start
    while len(missing) < limit and value <= classes[-1]:
        if value not in present:
            missing.append(value)
        value += 1
    return missing


def too_large_problem(
    labels: Sequence[int],
    values: Sequence[int],
    locations: Sequence[str],
    texts: Sequence[str],
    num_classes: int,
) -> Optional[Problem]:
    """Labels at or above ``--num-classes``; the fix is the one the label checks give.

    ``labels`` are all non-negative labels, which the diagnosis (1-based or not) needs;
    ``values``, ``locations`` and ``texts`` describe the ones out of range.
    """
    if not locations:
        return None
    count = len(locations)
    try:
        check_class_indices(list(labels), num_classes)
    except LabelError as error:
        fix = error.hint
    else:  # pragma: no cover - the caller passes only labels >= num_classes
        fix = ""
    return Problem(
        "num-classes",
        f"{counted(count, 'label', 'is')} >= --num-classes {num_classes} (the largest is "
        f"{max(values)}), "
        f"at {_where(locations, texts, count)}; valid class indices are "
        f"0..{num_classes - 1}.",
        fix, tuple(locations[:MAX_LISTED]), count,
    )


def too_few_classes_problem(num_found: int, num_classes: int, detail: str) -> Optional[Problem]:
    """``--num-classes`` larger than the number of classes with samples."""
    if num_found == num_classes:
        return None
    return Problem(
        "num-classes",
        f"--num-classes is {num_classes}, but the labels hold "
        f"{plural(num_found, 'class')}{detail}.",
        f"Pass --num-classes {num_found} if the data has {num_found} classes, or check that "
        "the file holds samples of every class.",
    )


def normalized_problem(
    values: Sequence[float], locations: Sequence[str], texts: Sequence[str]
) -> Problem:
    """Fractional labels inside [0, 1]: most likely class / max class."""
    count = len(locations)
    scale = _normalization_scale(values)
    guess = (f" They equal k/{scale} for whole numbers k, as classes divided by {scale} "
             "would." if scale is not None else "")
    return Problem(
        "normalized",
        f"{counted(count, 'label', 'has')} a fractional part and every label lies in "
        "[0, 1], so the labels look normalized (class / max class), e.g. at "
        f"{_where(locations, texts, count)}.{guess} MXNet casts labels to int, so every "
        "value below 1 becomes class 0 and the accuracy looks near-perfect.",
        "Keep the original class values and encode them with gluon_safe.LabelEncoder; "
        "normalize features, never class labels.",
        tuple(locations[:MAX_LISTED]), count,
    )


def continuous_problem(
    low: float, high: float, locations: Sequence[str], texts: Sequence[str]
) -> Problem:
    count = len(locations)
    return Problem(
        "continuous",
        f"{counted(count, 'label', 'has')} a fractional part and the labels range over "
        f"[{low:g}, {high:g}], so they look like continuous (regression) targets, e.g. at "
        f"{_where(locations, texts, count)}.",
        "For regression, train with gluon.loss.L2Loss or L1Loss and leave the labels as "
        f"they are. For classification, bin the values into classes, then {ENCODER_FIX}.",
        tuple(locations[:MAX_LISTED]), count,
    )


def _normalization_scale(values: Sequence[float]) -> Optional[int]:
    """Return the smallest m <= 100 such that every value times m is a whole number."""
    distinct = sorted(set(values))
    for scale in range(2, MAX_SCALE + 1):
        if all(abs(v * scale - round(v * scale)) <= SCALE_TOLERANCE for v in distinct):
            return scale
    return None


def single_class_problem(classes: Sequence[Any]) -> Optional[Problem]:
    if len(classes) != 1:
        return None
    return Problem(
        "single-class",
        f"Every label is the same class ({format_classes(classes)}), so there is nothing to "
        "learn and any accuracy is 1.0.",
        "Check that the column is the label column and that the file holds every class.",
    )


def rare_classes_problem(
    counts: Sequence[Tuple[Any, int]], min_samples: int, first_location: Optional[str] = None,
    first_value: Any = None,
) -> Optional[Problem]:
    rare = [(value, count) for value, count in counts if count < min_samples]
    if not rare:
        return None
    listed = ", ".join(
        f"{value!r} ({count})" if isinstance(value, str) else f"{value} ({count})"
        for value, count in rare[:MAX_LISTED]
    )
    if len(rare) > MAX_LISTED:
        listed += f" and {len(rare) - MAX_LISTED} more"
    fix = ("Collect more samples of these classes, or merge or drop them: a stratified split "
           "needs at least 2 samples per class, and an accuracy over a few samples says "
           "little.")
    if first_location == "line 1" and any(value == first_value for value, _ in rare):
        fix += (f" If line 1 is a header, pass --column {first_value} so that it is read as "
                "one.")
    return Problem(
        "rare-classes",
        f"{counted(len(rare), 'class', 'has')} fewer than "
        f"{plural(min_samples, 'sample')}: {listed}.",
        fix, count=sum(count for _, count in rare),
    )
