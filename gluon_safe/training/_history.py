"""Per-epoch values of a ``fit`` run."""

from __future__ import annotations

import csv
import math
import os
from typing import Any, Dict, Iterator, List, Mapping, Union

__all__ = ["History"]

PathLike = Union[str, "os.PathLike[str]"]

PLOT_EXTRA = "plot"
"""Name of the optional dependency group that installs matplotlib."""


class History:
    """The values of each finished epoch: training loss, metrics and validation values.

    Keys follow the epoch logs of ``fit``: ``'loss'``, each training metric's name
    (``'accuracy'``), and the same with a ``'val_'`` prefix for validation. An epoch
    that has no value for a key (a validation run skipped) has NaN there.

    Examples
    --------
    >>> history = History()
    >>> history.append(0, {"loss": 0.9, "accuracy": 0.6})
    >>> history.append(1, {"loss": 0.5, "accuracy": 0.8})
    >>> history["accuracy"]
    [0.6, 0.8]
    >>> history.epochs
    [0, 1]
    """

    def __init__(self) -> None:
        self.epochs: List[int] = []
        self._values: Dict[str, List[float]] = {}

    def __len__(self) -> int:
        return len(self.epochs)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __getitem__(self, key: str) -> List[float]:
        """Return the value of ``key`` for each epoch.

        Raises
        ------
        KeyError
            If no epoch logged ``key``; the message lists the known keys.
        """
        if key not in self._values:
            known = ", ".join(repr(k) for k in self._values) or "none yet"
            raise KeyError(f"history has no values for {key!r}; the keys are {known}")
        return list(self._values[key])

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self._values)})"

    def keys(self) -> List[str]:
        """Return the logged keys in the order they first appeared."""
        return list(self._values)

    def append(self, epoch: int, values: Mapping[str, float]) -> None:
        """Record the values of one finished epoch.

        Keys never seen before get NaN for the earlier epochs; known keys missing
        from ``values`` get NaN for this one.
        """
        for key in values:
            if key not in self._values:
                self._values[key] = [math.nan] * len(self.epochs)
        self.epochs.append(int(epoch))
        for key, column in self._values.items():
            column.append(float(values.get(key, math.nan)))

    def last(self) -> Dict[str, float]:
        """Return the values of the latest epoch (empty before the first)."""
        if not self.epochs:
            return {}
        return {key: column[-1] for key, column in self._values.items()}

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-serializable copy (NaN becomes None)."""
        return {
            "epochs": list(self.epochs),
            "values": {
                key: [None if math.isnan(v) else v for v in column]
                for key, column in self._values.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If ``data`` lacks ``'epochs'`` or ``'values'``, or a column's length
            differs from the number of epochs.
        """
        if not isinstance(data, Mapping) or "epochs" not in data or "values" not in data:
            raise ValueError("history data needs the keys 'epochs' and 'values', as "
                             "History.to_dict() writes them")
        history = cls()
        history.epochs = [int(e) for e in data["epochs"]]
        for key, column in data["values"].items():
            if len(column) != len(history.epochs):
                raise ValueError(f"history column {key!r} has {len(column)} values for "
                                 f"{len(history.epochs)} epochs")
            history._values[str(key)] = [math.nan if v is None else float(v) for v in column]
        return history

    def to_csv(self, path: PathLike) -> None:
        """Write one row per epoch: ``epoch`` and then every key; NaN as an empty cell."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["epoch", *self._values])
            for row, epoch in enumerate(self.epochs):
                cells = [_format_cell(column[row]) for column in self._values.values()]
                writer.writerow([epoch, *cells])

    def plot(self, path: PathLike) -> None:
        """Write a PNG with the losses in one panel and the other metrics in another.

        Needs matplotlib, the optional ``plot`` extra (``pip install 'gluon-safe[plot]'``).
        The figure is drawn with matplotlib's object interface and the Agg canvas, so
        pyplot's global state and the configured backend stay untouched.

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        ValueError
            If the history has no epochs yet.
        """
        try:
            from matplotlib.backends.backend_agg import (  # type: ignore[import-not-found, unused-ignore]
                FigureCanvasAgg,
            )
            from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]
        except ImportError as error:
            raise ImportError(
                "History.plot needs matplotlib, which is not installed; install the "
                f"optional extra with: pip install 'gluon-safe[{PLOT_EXTRA}]'"
            ) from error
        if not self.epochs:
            raise ValueError("history has no epochs to plot; call plot() after fit()")

        loss_keys = [key for key in self._values if key.endswith("loss")]
        metric_keys = [key for key in self._values if key not in loss_keys]
        panels = [keys for keys in (loss_keys, metric_keys) if keys]
        figure = Figure(figsize=(6.0, 3.0 * len(panels)))
        FigureCanvasAgg(figure)
        for index, keys in enumerate(panels, start=1):
            axes = figure.add_subplot(len(panels), 1, index)
            for key in keys:
                axes.plot(self.epochs, self._values[key], marker="o", label=key)
            axes.set_xlabel("epoch")
            axes.legend()
        figure.tight_layout()
        figure.savefig(os.fspath(path), format="png")


def _format_cell(value: float) -> str:
    return "" if math.isnan(value) else repr(value)
