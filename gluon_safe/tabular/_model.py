"""The Dense network of ``gluon-safe train`` and the model directory it writes.

A model directory contains:

- ``model.json``: format version, label column, feature columns, hidden layer sizes,
  number of classes, and the test accuracy of the run;
- ``model.params``: the network parameters (``Block.save_parameters``);
- ``label_encoder.json``: the fitted :class:`~gluon_safe.LabelEncoder`;
- ``scaling.json``: mean and standard deviation of each feature, from the training split;
- ``checkpoints/``: the resumable bundles of :class:`~gluon_safe.Checkpoint`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from .._compat import gluon, mx
from .._table import UsageError
from ..encoding import LabelEncoder
from ..errors import CheckpointError
from ._split import Standardizer

__all__ = [
    "ENCODER_FILE",
    "MODEL_FILE",
    "PARAMS_FILE",
    "SCALING_FILE",
    "ModelInfo",
    "build_network",
    "load_model",
    "save_model",
]

MODEL_FILE = "model.json"
PARAMS_FILE = "model.params"
ENCODER_FILE = "label_encoder.json"
SCALING_FILE = "scaling.json"
CHECKPOINT_DIR = "checkpoints"

_FORMAT = "gluon_safe.tabular"
_VERSION = 1


@dataclass(frozen=True)
class ModelInfo:
    """Description of a trained model, as ``model.json`` stores it."""

    label_column: str
    feature_columns: Tuple[str, ...]
    hidden: Tuple[int, ...]
    num_classes: int
    test_accuracy: Optional[float] = None
    seed: Optional[int] = None


def build_network(hidden: Sequence[int], num_classes: int) -> Any:
    """Build ``Dense(h, relu)`` for each size in ``hidden``, then ``Dense(num_classes)``.

    The network is not initialized; the input size is inferred from the first batch.
    """
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        for units in hidden:
            net.add(gluon.nn.Dense(units, activation="relu"))
        net.add(gluon.nn.Dense(num_classes))
    return net


def save_model(
    directory: str,
    net: Any,
    encoder: LabelEncoder[Any],
    scaling: Standardizer,
    info: ModelInfo,
) -> None:
    """Write the parameters, encoder, scaling and ``model.json`` into ``directory``."""
    os.makedirs(directory, exist_ok=True)
    net.save_parameters(os.path.join(directory, PARAMS_FILE))
    encoder.save(os.path.join(directory, ENCODER_FILE))
    _write_json(os.path.join(directory, SCALING_FILE), scaling.to_dict())
    document: Dict[str, Any] = {"format": _FORMAT, "version": _VERSION, **asdict(info)}
    document["feature_columns"] = list(info.feature_columns)
    document["hidden"] = list(info.hidden)
    _write_json(os.path.join(directory, MODEL_FILE), document)


def load_model(directory: str) -> Tuple[Any, LabelEncoder[Any], Standardizer, ModelInfo]:
    """Read a model directory written by :func:`save_model`; the network is on the CPU.

    Raises
    ------
    UsageError
        If the directory or one of its files does not exist.
    CheckpointError
        If a file is damaged, of another format, or does not fit the network.
    """
    if not os.path.isdir(directory):
        raise UsageError(f"model directory not found: {directory}; pass the --out directory "
                         "of gluon-safe train")
    for name in (MODEL_FILE, PARAMS_FILE, ENCODER_FILE, SCALING_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            raise UsageError(f"{directory} is not a model directory of gluon-safe train: "
                             f"{name} is missing")

    info = _read_info(os.path.join(directory, MODEL_FILE))
    encoder: LabelEncoder[Any] = LabelEncoder.load(os.path.join(directory, ENCODER_FILE))
    scaling = _read_scaling(os.path.join(directory, SCALING_FILE))
    if encoder.num_classes != info.num_classes or scaling.names != info.feature_columns:
        raise CheckpointError(f"the files in {directory} do not belong together: the encoder "
                              "or the scaling disagrees with model.json")

    net = build_network(info.hidden, info.num_classes)
    params = os.path.join(directory, PARAMS_FILE)
    try:
        net.load_parameters(params, ctx=mx.cpu())
    except (AssertionError, mx.base.MXNetError, ValueError) as exc:
        # MXNet reports missing or mismatched parameters with an AssertionError.
        raise CheckpointError(f"{params} does not fit the network described in "
                              f"{MODEL_FILE}: {str(exc).splitlines()[0]}") from None
    return net, encoder, scaling, info


def _read_info(path: str) -> ModelInfo:
    document = _read_json(path)
    if document.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a model.json of gluon-safe train")
    if document.get("version") != _VERSION:
        raise CheckpointError(f"{path} has format version {document.get('version')!r}; this "
                              f"gluon_safe reads version {_VERSION}")
    try:
        info = ModelInfo(
            label_column=str(document["label_column"]),
            feature_columns=tuple(str(name) for name in document["feature_columns"]),
            hidden=tuple(int(units) for units in document["hidden"]),
            num_classes=int(document["num_classes"]),
            test_accuracy=document.get("test_accuracy"),
            seed=document.get("seed"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is damaged: {exc!r}") from None
    if info.num_classes < 2 or any(units < 1 for units in info.hidden):
        raise CheckpointError(f"{path} is damaged: invalid num_classes or hidden sizes")
    return info


def _read_scaling(path: str) -> Standardizer:
    try:
        return Standardizer.from_dict(_read_json(path))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return document


def _write_json(path: str, document: Dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
