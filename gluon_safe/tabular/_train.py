"""``gluon-safe train``: a Dense classifier on any numeric CSV table, with the labels done right."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from .._compat import gluon, mx, nd
from ..encoding import LabelEncoder
from ..losses import SafeSoftmaxCrossEntropyLoss
from ..training import Checkpoint, fit
from ._data import labelled_table, read_csv
from ._labels import encode_labels
from ._model import CHECKPOINT_DIR, ModelInfo, build_network, save_model
from ._split import Standardizer, stratified_split

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_HIDDEN",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_SEED",
    "DEFAULT_TEST_SIZE",
    "TrainResult",
    "train_table",
]


DEFAULT_EPOCHS = 20
DEFAULT_HIDDEN = (64, 64)
DEFAULT_TEST_SIZE = 0.2
DEFAULT_SEED = 0
DEFAULT_BATCH_SIZE = 16
DEFAULT_LEARNING_RATE = 0.005


@dataclass(frozen=True)
class TrainResult:
    """Result of :func:`train_table`."""

    directory: str
    info: ModelInfo
    num_train: int
    num_test: int
    classes: tuple[Any, ...]


def train_table(
    path: str,
    *,
    label_column: str,
    out: str,
    epochs: int = DEFAULT_EPOCHS,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    test_size: float = DEFAULT_TEST_SIZE,
    seed: int = DEFAULT_SEED,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    write: Optional[Callable[[str], None]] = None,
) -> TrainResult:
    """Train a Dense classifier on the CSV file ``path`` and save it into ``out``.

    The steps: read the table, check the label column and encode it with
    :class:`~gluon_safe.LabelEncoder`, and split the rows by class. Then standardize
    the features with the mean and standard deviation of the training split only.
    Train ``Dense(h, relu)`` layers and a ``Dense(K)`` output with
    :func:`~gluon_safe.fit`, the safe softmax cross-entropy loss and a
    :class:`~gluon_safe.Checkpoint` in ``out/checkpoints``. ``fit`` prints one line per
    epoch. Last, save the model directory: ``model.json``, ``model.params``,
    ``label_encoder.json`` and ``scaling.json``.

    Parameters
    ----------
    path : str
        A CSV file with a header row (TSV when the name ends in ``.tsv``).
    label_column : str
        Header name of the label column; every other column is a numeric feature.
    out : str
        The model directory; created if missing, its model files replaced.
    epochs, hidden, test_size, seed, batch_size, learning_rate
        Training settings; ``seed`` fixes the split, the initial weights and the batch
        order, so the same arguments train the same model on the CPU.
    write : callable, optional
        Receives each line of the data summary (before training) and of the result
        (after); the command line prints them.

    Returns
    -------
    TrainResult

    Raises
    ------
    UsageError
        If the file cannot be read or the label column is not in its header.
    TableError
        If a cell is bad (the message names its line and column), or a class has a
        single sample.
    """
    table = labelled_table(read_csv(path), label_column)
    encoder, classes = encode_labels(table)
    train_rows, test_rows = stratified_split(classes, test_size=test_size, seed=seed)

    scaling = Standardizer.fit(table.feature_names, table.features[train_rows])
    features = scaling.transform(table.features)
    labels = classes.astype(np.float32)
    train_data = _loader(features[train_rows], labels[train_rows], batch_size, shuffle=True)
    test_data = _loader(features[test_rows], labels[test_rows], batch_size, shuffle=False)

    if write is not None:
        for line in _data_summary(table.path, encoder, len(train_rows), len(test_rows)):
            write(line)

    net = build_network(hidden, encoder.num_classes)
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    history = fit(
        net, train_data,
        loss=SafeSoftmaxCrossEntropyLoss(num_classes=encoder.num_classes),
        optimizer="adam", optimizer_params={"learning_rate": learning_rate},
        epochs=epochs, val_data=test_data, ctx=mx.cpu(), seed=seed,
        callbacks=[Checkpoint(os.path.join(out, CHECKPOINT_DIR), label_encoder=encoder)],
    )

    test_accuracy = history.last().get("val_accuracy")
    info = ModelInfo(
        label_column=str(table.label_column), feature_columns=table.feature_names,
        hidden=tuple(hidden), num_classes=encoder.num_classes,
        test_accuracy=test_accuracy, seed=seed,
    )
    save_model(out, net, encoder, scaling, info)
    if write is not None:
        accuracy = "n/a" if test_accuracy is None else f"{test_accuracy:.4f}"
        write(f"test accuracy: {accuracy}")
        write(f"model saved to {out}")
    return TrainResult(out, info, len(train_rows), len(test_rows), encoder.classes)


def _loader(features: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], batch_size: int,
            *, shuffle: bool) -> Any:
    dataset = gluon.data.ArrayDataset(nd.array(features), nd.array(labels))
    return gluon.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                 last_batch="keep")


def _data_summary(
    path: str, encoder: LabelEncoder[Any], num_train: int, num_test: int
) -> List[str]:
    classes = ", ".join(str(value) for value in encoder.classes)
    return [
        f"data: {path}, {num_train + num_test} rows",
        f"classes: {classes} (encoded as 0..{encoder.num_classes - 1})",
        f"split: {num_train} rows for training, {num_test} for testing",
    ]
