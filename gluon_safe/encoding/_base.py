"""Shared part of both encoders: options, the fitted classes, lookup, JSON and equality."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Generic, Optional, Sequence, Union, cast

import numpy as np
from typing_extensions import Literal, Self, TypeAlias, TypeVar

from ..errors import CheckpointError, LabelError, LabelTypeError, UnseenLabelError, format_value
from ._file import dump_encoder, parse_encoder
from ._values import ClassKind, evidence, read_raw_labels

logger = logging.getLogger(__name__)

T = TypeVar("T", default=Any)
"""Python type of the raw classes: int, str, bool, or float with ``allow_float=True``."""

UnseenPolicy: TypeAlias = Literal["raise", "ignore"]
"""Policy of ``transform`` for raw values not seen at fit."""

UNSEEN_POLICIES: tuple[str, ...] = ("raise", "ignore")

PathLike: TypeAlias = Union[str, "os.PathLike[str]"]

_TABLE_DTYPES: dict[str, Any] = {"bool": np.bool_, "int": np.int64, "float": np.float64, "str": str}


class _ClassEncoder(Generic[T]):
    """Shared part of both encoders: options, the fitted classes, lookup, JSON, equality."""

    _NAME: ClassVar[str]
    _OPTION_NAMES: ClassVar[tuple[str, ...]]

    def __init__(self, *, allow_float: bool, unseen: UnseenPolicy) -> None:
        if not isinstance(allow_float, (bool, np.bool_)):
            raise TypeError(f"allow_float={allow_float!r} must be a bool")
        if not isinstance(unseen, str) or unseen not in UNSEEN_POLICIES:
            allowed = ", ".join(repr(p) for p in UNSEEN_POLICIES)
            raise ValueError(f"unseen={unseen!r} is not a policy; expected one of {allowed}")
        self._allow_float = bool(allow_float)
        self._unseen: UnseenPolicy = unseen
        self._classes: Optional[tuple[T, ...]] = None
        self._kind: Optional[ClassKind] = None
        self._table: np.ndarray[Any, Any] = np.empty(0)
        self._class_objects: np.ndarray[Any, Any] = np.empty(0, dtype=object)
        self._unseen_reports = 0

    @property
    def allow_float(self) -> bool:
        """Whether floats with a fractional part are accepted as classes."""
        return self._allow_float

    @property
    def unseen(self) -> UnseenPolicy:
        """What ``transform`` does with raw values not seen at fit: ``'raise'`` or ``'ignore'``."""
        return self._unseen

    @property
    def is_fitted(self) -> bool:
        """Whether the encoder has classes, from ``fit`` or ``load``."""
        return self._classes is not None

    @property
    def classes(self) -> tuple[T, ...]:
        """Sorted raw classes; class index ``i`` stands for ``classes[i]``.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        """
        return self._fitted_classes()

    @property
    def num_classes(self) -> int:
        """Number of classes K.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        """
        return len(self._fitted_classes())

    def _options(self) -> dict[str, Any]:
        return {"allow_float": self._allow_float, "unseen": self._unseen}

    def _unseen_outcome(self) -> str:
        """Say what ``unseen='ignore'`` does with a value, e.g. ``'dropped'``."""
        raise NotImplementedError

    def _fitted_classes(self) -> tuple[T, ...]:
        if self._classes is None:
            raise RuntimeError(
                f"This {self._NAME} is not fitted yet: call fit() first, or load a saved "
                f"encoder with {self._NAME}.load(path)."
            )
        return self._classes

    def _check_classes(self, num_classes: int) -> None:
        """Raise ValueError if the options do not fit ``num_classes`` classes."""

    def _set_classes(self, classes: tuple[Any, ...], kind: ClassKind) -> None:
        self._check_classes(len(classes))
        self._classes = cast("tuple[T, ...]", classes)
        self._kind = kind
        self._table = _class_table(classes, kind)
        self._class_objects = _object_array(classes)
        self._unseen_reports = 0

    def _read(
        self, array: np.ndarray[Any, Any], name: str, origin: Optional[np.ndarray[Any, Any]] = None
    ) -> tuple[np.ndarray[Any, Any], ClassKind]:
        return read_raw_labels(array, allow_float=self._allow_float, name=name, origin=origin)

    def _fit_unique(self, array: np.ndarray[Any, Any], kind: ClassKind, name: str) -> None:
        if array.size == 0:
            raise LabelError(
                f"{name} is empty, so there are no classes to fit",
                expected="at least one label",
                hint="Check that the training data was loaded.",
                name=name,
            )
        self._set_classes(tuple(np.unique(array).tolist()), kind)
        logger.info(
            "%s fitted %d %s classes on %d labels: %s",
            self._NAME, self.num_classes, kind, array.size, _format_classes(self.classes),
        )

    def _lookup(
        self,
        array: np.ndarray[Any, Any],
        kind: ClassKind,
        name: str,
        origin: Optional[np.ndarray[Any, Any]] = None,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Return the class index of each value and the mask of unseen values.

        Raises UnseenLabelError for unseen values when ``unseen='raise'``, else logs them.
        """
        if array.size == 0:
            return np.zeros(array.shape, dtype=np.int64), np.zeros(array.shape, dtype=bool)
        self._check_kind(array, kind, name)

        index, unseen = _search_classes(self._table, array.reshape(-1))
        index = index.reshape(array.shape)
        unseen = unseen.reshape(array.shape)
        if unseen.any():
            self._handle_unseen(array, unseen, name, origin)
        return index, unseen

    def _check_kind(self, array: np.ndarray[Any, Any], kind: ClassKind, name: str) -> None:
        fitted = self._kind
        if kind == fitted or {kind, fitted} <= {"int", "float"}:
            return
        raise LabelTypeError(
            f"{name} are {kind} values but the encoder was fitted on {fitted} classes",
            values=array.ravel()[:3].tolist(),
            expected=f"{fitted} values such as {format_value(self.classes[0])}",
            hint="Transform the same kind of raw values that the encoder was fitted on.",
            name=name,
        )

    def _handle_unseen(
        self,
        array: np.ndarray[Any, Any],
        unseen: np.ndarray[Any, Any],
        name: str,
        origin: Optional[np.ndarray[Any, Any]],
    ) -> None:
        distinct = np.unique(array[unseen])
        if self._unseen == "raise":
            raise UnseenLabelError(
                f"{name} contain values that the {self._NAME} was not fitted on "
                f"({distinct.size} distinct)",
                **evidence(array, unseen, origin),
                expected=f"one of the {self.num_classes} classes seen at fit: "
                         f"{_format_classes(self.classes)}",
                hint="Refit the encoder on data that covers every class, or pass "
                     f"unseen='ignore' to have such values {self._unseen_outcome()}.",
                name=name,
            )

        # Transform often runs once per batch, so only the first report is at INFO.
        level = logging.INFO if self._unseen_reports == 0 else logging.DEBUG
        self._unseen_reports += 1
        logger.log(
            level,
            "%s: %d of %d %s were not seen at fit (%d distinct: %s) and were %s",
            self._NAME, int(unseen.sum()), array.size, name, distinct.size,
            _format_classes(distinct.tolist(), limit=5), self._unseen_outcome(),
        )

    def to_json(self) -> str:
        """Return the fitted encoder as a JSON document: classes, their Python type, options.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        """
        classes = self._fitted_classes()
        kind = cast(ClassKind, self._kind)
        return dump_encoder(self._NAME, kind, classes, self._options())

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Build a fitted encoder from a document written by :meth:`to_json`.

        Raises
        ------
        CheckpointError
            If ``text`` is not such a document, belongs to the other encoder class,
            has a newer format version, or contains invalid classes or options.
        """
        return cls._from_text(text, source="the JSON text")

    def save(self, path: PathLike) -> None:
        """Write :meth:`to_json` to ``path`` as UTF-8.

        Raises
        ------
        RuntimeError
            If the encoder is not fitted.
        OSError
            If the file cannot be written.
        """
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> Self:
        """Read an encoder written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        CheckpointError
            If the file is not UTF-8 text, or not a valid file of this encoder class
            (see :meth:`from_json`); the message names the file.
        """
        source = f"file '{os.fspath(path)}'"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(
                f"{source} is not a valid {cls._NAME} file: it is not UTF-8 text ({exc.reason} "
                f"at byte {exc.start}). Expected the JSON that {cls._NAME}.save() writes."
            ) from None
        return cls._from_text(text, source=source)

    @classmethod
    def _from_text(cls, text: str, *, source: str) -> Self:
        kind, classes, options = parse_encoder(
            text, encoder_name=cls._NAME, option_names=cls._OPTION_NAMES, source=source
        )
        try:
            encoder = cls(**options)
            encoder._set_classes(classes, kind)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{source} is not a valid {cls._NAME} file: invalid options ({exc})."
            ) from None
        return encoder

    def _state(self) -> tuple[Any, ...]:
        return (self._kind, self._classes, sorted(self._options().items()))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._state() == cast(_ClassEncoder[Any], other)._state()

    # Encoders are mutable (fit replaces the classes), so they are not hashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self._options().items())
        if self._classes is None:
            return f"{self._NAME}({options}) <not fitted>"
        return f"{self._NAME}(classes=[{_format_classes(self._classes)}], {options})"


def _search_classes(
    table: np.ndarray[Any, Any], values: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Find each value in the sorted ``table``.

    Returns the int64 index of each value (meaningless where unseen) and a mask of
    the values that are not in the table. Ints are compared with float classes by value.
    """
    if table.dtype != values.dtype and table.dtype.kind in "if" and values.dtype.kind in "if":
        table = table.astype(np.float64)
        values = values.astype(np.float64)
    index = np.searchsorted(table, values)
    np.minimum(index, table.size - 1, out=index)
    unseen = table[index] != values
    return index.astype(np.int64, copy=False), unseen


def _class_table(classes: Sequence[Any], kind: str) -> np.ndarray[Any, Any]:
    """Return sorted classes as a typed array for :func:`_search_classes`."""
    return np.array(list(classes), dtype=_TABLE_DTYPES[kind])


def _object_array(classes: Sequence[Any]) -> np.ndarray[Any, Any]:
    """Return the classes in an object array, so that indexing it yields the Python values."""
    objects = np.empty(len(classes), dtype=object)
    objects[:] = list(classes)
    return objects


def _format_classes(classes: Sequence[Any], limit: int = 10) -> str:
    """Format classes for messages: ``1, 2, 3``, or ``0, 1, 2, ..., 99 (100 classes)``."""
    if len(classes) <= limit:
        return ", ".join(format_value(c) for c in classes)
    head = ", ".join(format_value(c) for c in classes[: limit - 1])
    return f"{head}, ..., {format_value(classes[-1])} ({len(classes)} classes)"
