"""A stratified train/test split and feature scaling fitted on the training split only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import numpy as np

__all__ = ["Standardizer", "stratified_split"]


def stratified_split(
    classes: np.ndarray[Any, Any], *, test_size: float, seed: int
) -> Tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """Split row numbers into training and test rows, keeping each class's share.

    Each class with ``n`` samples puts ``round(test_size * n)`` of them, at least 1 and
    at most ``n - 1``, chosen at random, into the test rows. So every class appears in
    both parts, and the test fraction of small classes can differ from ``test_size``.

    Parameters
    ----------
    classes : numpy.ndarray, shape (N,)
        Class index of every row; every class needs at least 2 rows.
    test_size : float
        Fraction of each class to hold out, in (0, 1).
    seed : int
        Seed of the random choice.

    Returns
    -------
    train_rows, test_rows : numpy.ndarray of int64
        Row numbers in ascending order.

    Raises
    ------
    ValueError
        If ``test_size`` is not in (0, 1) or a class has fewer than 2 rows.

    Examples
    --------
    >>> train, test = stratified_split(np.array([0, 0, 1, 1, 1, 1]), test_size=0.5, seed=0)
    >>> len(train), len(test)
    (3, 3)
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size={test_size!r} must lie in (0, 1)")
    rng = np.random.RandomState(seed)
    test_rows: List[int] = []
    for value in np.unique(classes):
        rows = np.flatnonzero(classes == value)
        if rows.size < 2:
            raise ValueError(f"class {value} has {rows.size} row; a stratified split needs "
                             "at least 2 per class")
        rng.shuffle(rows)
        num_test = min(max(round(test_size * rows.size), 1), rows.size - 1)
        test_rows.extend(rows[:num_test].tolist())

    is_test = np.zeros(len(classes), dtype=bool)
    is_test[test_rows] = True
    return (np.flatnonzero(~is_test).astype(np.int64),
            np.flatnonzero(is_test).astype(np.int64))


@dataclass(frozen=True)
class Standardizer:
    """Scale each feature to zero mean and unit variance with statistics of one split.

    A feature that is constant in the training split keeps a scale of 1, so it stays
    constant instead of dividing by zero.
    """

    names: Tuple[str, ...]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]

    @classmethod
    def fit(cls, names: Tuple[str, ...], features: np.ndarray[Any, Any]) -> Standardizer:
        """Compute the mean and standard deviation of each column of ``features`` (N, F)."""
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return cls(names, tuple(mean.tolist()), tuple(std.tolist()))

    def transform(self, features: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Return ``(features - mean) / std`` as float32, shape (N, F)."""
        scaled = (features - np.asarray(self.mean)) / np.asarray(self.std)
        result: np.ndarray[Any, np.dtype[np.float32]] = scaled.astype(np.float32)
        return result

    def to_dict(self) -> Dict[str, Any]:
        """Return the statistics as a JSON-ready dict."""
        return {"columns": list(self.names), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, document: Dict[str, Any]) -> Standardizer:
        """Rebuild from :meth:`to_dict`.

        Raises
        ------
        ValueError
            If a key is missing, the lists differ in length, or a value is not a
            finite number (``std`` also positive).
        """
        try:
            names = tuple(str(name) for name in document["columns"])
            mean = tuple(float(value) for value in document["mean"])
            std = tuple(float(value) for value in document["std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid feature scaling: {exc!r}") from None
        if not len(names) == len(mean) == len(std):
            raise ValueError(f"invalid feature scaling: {len(names)} columns, {len(mean)} "
                             f"means and {len(std)} standard deviations")
        if not all(np.isfinite(mean)) or not all(np.isfinite(s) and s > 0 for s in std):
            raise ValueError("invalid feature scaling: a mean or standard deviation is not a "
                             "finite number, or a standard deviation is not positive")
        return cls(names, mean, std)
