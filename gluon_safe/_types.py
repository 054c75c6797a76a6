"""Type aliases shared by the package."""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np
from typing_extensions import Literal, TypeAlias

CheckMode: TypeAlias = Literal["auto", "eager", "lazy", "off"]
"""When label checks run: see :mod:`gluon_safe.checks`."""

CHECK_MODES: tuple[str, ...] = ("auto", "eager", "lazy", "off")

ArrayLike: TypeAlias = Union["np.ndarray[Any, Any]", Sequence[Any], Any]
"""A numpy array, an MXNet NDArray, or a (nested) sequence of numbers."""

FloatArray: TypeAlias = "np.ndarray[Any, np.dtype[np.floating[Any]]]"
IntArray: TypeAlias = "np.ndarray[Any, np.dtype[np.integer[Any]]]"
