"""Tests for the exception tree in gluon_safe.errors."""

from __future__ import annotations

import pickle

import pytest

from gluon_safe import errors
from gluon_safe.errors import (
    CheckpointError,
    DeviceError,
    GluonSafeError,
    LabelError,
    LabelTypeError,
    LaunchError,
    NonIntegerLabelError,
    UnseenLabelError,
)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [(LabelError, ValueError), (LabelTypeError, TypeError), (DeviceError, ValueError),
     (CheckpointError, ValueError), (LaunchError, RuntimeError)],
)
def test_error_subclasses_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, GluonSafeError)
    assert issubclass(cls, builtin)


def test_every_label_error_in_tree() -> None:
    label_errors = [
        obj for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, LabelError)
    ]

    assert len(label_errors) == 9
    assert set(errors.__all__) >= {cls.__name__ for cls in label_errors}


def test_label_error_message_parts() -> None:
    error = NonIntegerLabelError(
        "labels contain non-integer values",
        values=[0.2, 0.4], positions=[(0,), (3,)], count=7, total=10,
        expected="class indices 0..5", hint="Use LabelEncoder.", batch=2,
    )

    assert str(error) == (
        "batch 2: labels contain non-integer values. Received: 0.2 at labels[0], "
        "0.4 at labels[3] and 5 more (7 of 10 values). Expected: class indices 0..5. "
        "Use LabelEncoder."
    )
    assert error.values == (0.2, 0.4)
    assert error.positions == ((0,), (3,))


def test_label_error_keeps_first_five() -> None:
    error = LabelError("bad", values=list(range(9)), positions=[(i,) for i in range(9)])

    assert error.values == (0, 1, 2, 3, 4)
    assert error.count == 9
    assert "and 4 more" in str(error)


def test_label_error_string_values_quoted() -> None:
    error = UnseenLabelError("unseen values", values=["cat"], positions=[(1,)])

    assert "'cat' at labels[1]" in str(error)


def test_label_error_pickles_with_attributes() -> None:
    error = NonIntegerLabelError("x", values=[0.5], positions=[(1,)], hint="h", batch=4)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is NonIntegerLabelError
    assert str(copy) == str(error)
    assert copy.batch == 4


def test_label_error_with_batch() -> None:
    error = NonIntegerLabelError("x", values=[0.5], positions=[(1,)], hint="h")

    tagged = error.with_batch(9)

    assert tagged.batch == 9
    assert str(tagged).startswith("batch 9: x.")
    assert error.batch is None
