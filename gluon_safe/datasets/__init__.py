"""Small data sets shipped inside the package, for the demo, examples and tests.

The files and their sources and licences are listed in ``datasets/README.md`` next to
this module.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

__all__ = ["WineData", "load_wine"]

_WINE_FILE = "wine.csv"


class WineData(NamedTuple):
    """The UCI Wine data as arrays; unpacks as ``features, classes, feature_names``."""

    features: np.ndarray[Any, np.dtype[np.float32]]
    """Measurements, float32 of shape (178, 13), one row per wine."""

    classes: np.ndarray[Any, np.dtype[np.int64]]
    """Cultivar of each wine, int64 of shape (178,), stored as 1, 2 or 3 (1-based)."""

    feature_names: tuple[str, ...]
    """The 13 column names of ``features``, in order."""


def load_wine() -> WineData:
    """Load the UCI Wine recognition data shipped with gluon_safe.

    178 wines from three cultivars (59, 71 and 48 wines), 13 chemical measurements
    each. The classes keep the UCI numbering 1, 2, 3, which is not a valid set of class
    indices for a network with 3 outputs: encode them with
    :class:`gluon_safe.LabelEncoder` first. The data is licensed CC BY 4.0; see
    ``datasets/README.md`` for the source.

    Returns
    -------
    WineData
        ``features`` float32 of shape (178, 13), ``classes`` int64 of shape (178,) with
        values 1..3, ``feature_names`` the 13 column names.

    Raises
    ------
    FileNotFoundError
        If the package was installed without its data files.

    Examples
    --------
    >>> features, classes, feature_names = load_wine()
    >>> features.shape, sorted(set(classes.tolist())), feature_names[0]
    ((178, 13), [1, 2, 3], 'alcohol')
    """
    text = resources.files(__name__).joinpath(_WINE_FILE).read_text(encoding="utf-8")
    header = next(csv.reader(io.StringIO(text)))
    table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, dtype=np.float64)

    classes = table[:, 0].astype(np.int64)
    features = table[:, 1:].astype(np.float32)
    return WineData(features, classes, tuple(header[1:]))
