"""``gluon-safe predict``: class predictions of a trained model, in the original class values."""

from __future__ import annotations

from typing import Any, List

import numpy as np

from .._compat import nd
from ._data import read_csv, read_features
from ._model import load_model

__all__ = ["PREDICT_BATCH_SIZE", "predict_table"]

PREDICT_BATCH_SIZE = 1024
"""Rows sent through the network at a time."""


def predict_table(model_dir: str, path: str) -> List[Any]:
    """Predict the class of every row of the CSV file ``path`` with a saved model.

    The file needs a header row with every feature column the model was trained on,
    in any order; other columns, such as the label column, are ignored. The features
    are scaled with the statistics saved at training.

    Parameters
    ----------
    model_dir : str
        A model directory written by ``gluon-safe train``.
    path : str
        A CSV file (TSV when the name ends in ``.tsv``).

    Returns
    -------
    list
        One predicted class per data row, in file order, as the raw class values the
        model was trained on (``LabelEncoder.inverse_transform``).

    Raises
    ------
    UsageError
        If the model directory or the file cannot be read, or a feature column is
        missing.
    CheckpointError
        If a file of the model directory is damaged.
    TableError
        If a feature cell is missing, not a number or infinite (the message names its
        line and column), or a row has the wrong number of cells.
    """
    net, encoder, scaling, info = load_model(model_dir)
    table = read_features(read_csv(path), info.feature_columns)
    features = scaling.transform(table.features)

    indices: List[np.ndarray[Any, Any]] = []
    for begin in range(0, len(features), PREDICT_BATCH_SIZE):
        scores = net(nd.array(features[begin:begin + PREDICT_BATCH_SIZE]))
        indices.append(scores.argmax(axis=1).asnumpy().astype(np.int64))
    if not indices:
        return []
    predictions: List[Any] = encoder.inverse_transform(np.concatenate(indices))
    return predictions
