"""Tests for gluon_safe.datasets: the Wine data shipped as package data."""

from __future__ import annotations

import csv
import io
from importlib import resources

import numpy as np

from gluon_safe.datasets import WineData, load_wine

# Class sizes of the UCI Wine data, as the UCI description documents them.
UCI_CLASS_COUNTS = {1: 59, 2: 71, 3: 48}


def _read_packaged(name: str) -> str:
    return resources.files("gluon_safe.datasets").joinpath(name).read_text(encoding="utf-8")


def test_load_wine_shapes_and_dtypes() -> None:
    data = load_wine()

    assert isinstance(data, WineData)
    assert data.features.shape == (178, 13)
    assert data.features.dtype == np.float32
    assert data.classes.shape == (178,)
    assert data.classes.dtype == np.int64
    assert len(data.feature_names) == 13


def test_load_wine_class_counts() -> None:
    classes = load_wine().classes

    values, counts = np.unique(classes, return_counts=True)

    assert dict(zip(values.tolist(), counts.tolist())) == UCI_CLASS_COUNTS


def test_load_wine_unpacks_as_three_values() -> None:
    features, classes, feature_names = load_wine()

    assert features.shape[0] == classes.shape[0]
    assert feature_names[0] == "alcohol"
    assert feature_names[-1] == "proline"


def test_load_wine_matches_csv_module() -> None:
    rows = list(csv.reader(io.StringIO(_read_packaged("wine.csv"))))
    header, body = rows[0], rows[1:]
    expected_classes = np.array([int(row[0]) for row in body], dtype=np.int64)
    expected_features = np.array([[float(v) for v in row[1:]] for row in body], dtype=np.float32)

    data = load_wine()

    assert header[0] == "class"
    assert data.feature_names == tuple(header[1:])
    np.testing.assert_array_equal(data.classes, expected_classes)
    np.testing.assert_array_equal(data.features, expected_features)


def test_load_wine_features_are_finite_measurements() -> None:
    features = load_wine().features

    assert np.isfinite(features).all()
    assert (features >= 0).all()


def test_load_wine_returns_fresh_arrays() -> None:
    first = load_wine()
    first.features[:] = -1.0
    first.classes[:] = 0

    second = load_wine()

    assert (second.features >= 0).all()
    assert set(second.classes.tolist()) == set(UCI_CLASS_COUNTS)


def test_wine_readme_states_source_and_licence() -> None:
    readme = _read_packaged("README.md")

    assert "CC BY 4.0" in readme
    assert "https://archive.ics.uci.edu/dataset/109/wine" in readme
