"""Tabular classification from the command line: ``gluon-safe train`` and ``predict``.

:func:`train_table` trains a Dense network on a numeric CSV table and writes a model
directory. It encodes the labels with :class:`~gluon_safe.LabelEncoder`, splits the
rows by class and scales the features with statistics of the training split.
:func:`predict_table` reads that directory and predicts classes in their original
values.
"""

from __future__ import annotations

from .._table import TableError, UsageError
from ._model import ModelInfo, build_network, load_model, save_model
from ._predict import predict_table
from ._split import Standardizer, stratified_split
from ._train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_LEARNING_RATE,
    DEFAULT_SEED,
    DEFAULT_TEST_SIZE,
    TrainResult,
    train_table,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_HIDDEN",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_SEED",
    "DEFAULT_TEST_SIZE",
    "ModelInfo",
    "Standardizer",
    "TableError",
    "TrainResult",
    "UsageError",
    "build_network",
    "load_model",
    "predict_table",
    "save_model",
    "stratified_split",
    "train_table",
]
