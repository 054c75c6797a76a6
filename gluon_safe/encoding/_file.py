"""The JSON document that stores a fitted encoder, and its validation on load.

A document looks like this::

    {
      "format": "gluon_safe.LabelEncoder",
      "version": 1,
      "class_type": "int",
      "classes": [1, 2, 3],
      "options": {"allow_float": false, "unseen": "raise", "ignore_label": -1}
    }

``class_type`` makes the round trip exact: JSON alone cannot tell the class 2 from
2.0 once a file has been edited by hand, and an int encoder must not come back as a
str encoder. Every problem raises :class:`~gluon_safe.errors.CheckpointError` naming
the source and the field.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

from ..errors import CheckpointError
from ._values import CLASS_TYPES, ClassKind

FORMAT_VERSION = 1
"""Version written by this gluon_safe; loading rejects newer versions."""

_FORMAT_PREFIX = "gluon_safe."

_Invalid = Callable[[str], CheckpointError]


def dump_encoder(
    encoder_name: str, kind: ClassKind, classes: Sequence[Any], options: dict[str, Any]
) -> str:
    """Return the JSON document of a fitted encoder."""
    document = {
        "format": _FORMAT_PREFIX + encoder_name,
        "version": FORMAT_VERSION,
        "class_type": kind,
        "classes": list(classes),
        "options": options,
    }
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)


def parse_encoder(
    text: str, *, encoder_name: str, option_names: Sequence[str], source: str
) -> tuple[ClassKind, tuple[Any, ...], dict[str, Any]]:
    """Parse and validate a document written by :func:`dump_encoder`.

    Returns the class kind, the classes and the constructor options. The options are
    only checked for their names; the encoder's constructor checks their values.

    Raises
    ------
    CheckpointError
        If ``text`` is not JSON, belongs to another encoder or format version, or has
        a missing or invalid field.
    """
    def invalid(problem: str) -> CheckpointError:
        return CheckpointError(
            f"{source} is not a valid {encoder_name} file: {problem}. Expected the JSON "
            f"that {encoder_name}.save() writes."
        )

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        position = f"line {exc.lineno}, column {exc.colno}"
        raise invalid(f"invalid JSON ({exc.msg} at {position})") from None
    if not isinstance(document, dict):
        raise invalid(f"the top level is a JSON {type(document).__name__}, not an object")

    _check_format(document.get("format"), encoder_name, source, invalid)
    _check_version(document.get("version"), source, invalid)
    kind = _check_class_type(document.get("class_type"), invalid)
    classes = _check_classes(document.get("classes"), kind, invalid)
    options = _check_options(document.get("options"), option_names, invalid)
    return kind, classes, options


def _check_format(found: Any, encoder_name: str, source: str, invalid: _Invalid) -> None:
    expected = _FORMAT_PREFIX + encoder_name
    if found == expected:
        return
    if isinstance(found, str) and found.startswith(_FORMAT_PREFIX):
        other = found[len(_FORMAT_PREFIX):]
        raise CheckpointError(
            f"{source} was written by {other}.save(), not by {encoder_name}.save(): "
            f"load it with {other}.load()."
        )
    raise invalid(f"format={found!r}, expected {expected!r}")


def _check_version(found: Any, source: str, invalid: _Invalid) -> None:
    if type(found) is not int or found < 1:
        raise invalid(f"version={found!r}, expected a positive int")
    if found > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} has format version {found} but this gluon_safe reads version "
            f"{FORMAT_VERSION} or older: upgrade gluon_safe to load it."
        )


def _check_class_type(found: Any, invalid: _Invalid) -> ClassKind:
    if found not in CLASS_TYPES:
        allowed = ", ".join(repr(k) for k in CLASS_TYPES)
        raise invalid(f"class_type={found!r}, expected one of {allowed}")
    kind: ClassKind = found
    return kind


def _check_classes(found: Any, kind: ClassKind, invalid: _Invalid) -> tuple[Any, ...]:
    if not isinstance(found, list) or not found:
        raise invalid(f"classes={found!r}, expected a non-empty list")

    expected_type = CLASS_TYPES[kind]
    for i, value in enumerate(found):
        # type() rather than isinstance(): True must not pass as an int class.
        if type(value) is not expected_type:
            raise invalid(
                f"classes[{i}]={value!r} is a {type(value).__name__}, but class_type={kind!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid(f"classes[{i}]={value!r} is not finite")
        if isinstance(value, str) and not value.strip():
            raise invalid(f"classes[{i}]={value!r} is an empty class name")

    if found != sorted(set(found)):
        raise invalid("classes are not sorted or hold duplicates")
    return tuple(found)


def _check_options(found: Any, option_names: Sequence[str], invalid: _Invalid) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise invalid(f"options={found!r}, expected an object")
    if sorted(found) != sorted(option_names):
        raise invalid(f"options hold {sorted(found)}, expected {sorted(option_names)}")
    return dict(found)
