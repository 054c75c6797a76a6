"""The state of a running ``fit`` that callbacks read, and the directives they return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from .._compat import Context, NDArray, nd
from ._history import History

__all__ = ["FitState", "RestoreParameters", "StopTraining"]


@dataclass(frozen=True)
class StopTraining:
    """A callback's request to stop ``fit`` after the current batch or epoch.

    Attributes
    ----------
    reason : str
        Why, in a sentence; ``fit`` logs it.
    """

    reason: str


@dataclass(frozen=True)
class RestoreParameters:
    """A callback's request to load saved parameter values into the network.

    Attributes
    ----------
    values : dict of str to numpy.ndarray
        Parameter values by parameter name, as :meth:`FitState.snapshot_parameters`
        returns them.
    reason : str
        Why, in a sentence; ``fit`` logs it.
    """

    values: Dict[str, np.ndarray[Any, Any]]
    reason: str


Directive = Optional[Any]
"""The return value of a hook: None, a :class:`StopTraining` or a :class:`RestoreParameters`."""


@dataclass
class FitState:
    """The state of a running ``fit``, passed to every callback hook.

    Callbacks read it; ``fit`` alone changes it.

    Attributes
    ----------
    net : Block
        The network being trained.
    trainer : gluon.Trainer
        Its trainer.
    loss : Block
        The loss block in use (the safe replacement when ``fit`` swapped it).
    metrics : list of EvalMetric
        The training metrics.
    ctx : list of Context
        The devices in use.
    epochs : int
        Total number of epochs of the run.
    epoch : int
        Current epoch, from 0; after the last epoch, the last one.
    batch : int
        Index of the current batch in its epoch, from 0.
    global_batch : int
        Number of batches started since the run began, resumed epochs included.
    history : History
        The values of every finished epoch.
    sources : dict of str to object
        What produces each key of the epoch logs: a metric, or ``'loss'``.
    callbacks : list of Callback
        The callbacks of the run, in order.
    seed : int or None
        The seed of the run.
    label_encoder : object, optional
        The label encoder that checkpoints store, when one is known.
    resumed : bool
        Whether the run continued from a checkpoint.
    skipped_batches : int
        Batches skipped because a callback's ``on_bad_labels`` returned ``'skip'``.
    batch_losses : list of NDArray
        Per-sample losses of the latest batch, one array per device in use.
    batch_samples : int
        Number of samples that count in the latest batch (ignored labels left out).
    logs : dict of str to float
        The values of the epoch that just ended, as ``on_epoch_end`` reads them. Keys
        without a value this epoch (no validation run) are absent.
    schedule : dict
        Description of the optimizer and learning-rate schedule the run started with,
        which checkpoints store to detect a changed schedule on resume.
    """

    net: Any
    trainer: Any
    loss: Any
    metrics: List[Any]
    ctx: List[Context]
    epochs: int
    history: History
    sources: Dict[str, Any]
    callbacks: List[Any] = field(default_factory=list)
    seed: Optional[int] = None
    label_encoder: Any = None
    epoch: int = 0
    batch: int = 0
    global_batch: int = 0
    resumed: bool = False
    skipped_batches: int = 0
    batch_losses: List[NDArray] = field(default_factory=list)
    batch_samples: int = 0
    logs: Dict[str, float] = field(default_factory=dict)
    schedule: Dict[str, Any] = field(default_factory=dict)

    def batch_loss(self) -> float:
        """Return the mean loss per counted sample of the latest batch.

        Reads the losses back to the host, which waits for the batch to finish.
        """
        if not self.batch_losses or self.batch_samples == 0:
            return float("nan")
        total = sum(float(loss.sum().asscalar()) for loss in self.batch_losses)
        return total / self.batch_samples

    def snapshot_parameters(self) -> Dict[str, np.ndarray[Any, Any]]:
        """Copy every parameter of the network to the host (one read per parameter).

        Keys are structural names such as ``'0.weight'``, which stay the same when the
        network is rebuilt in another process, unlike the global parameter names.
        """
        return {
            name: param.data(self.ctx[0]).asnumpy()
            for name, param in self.net._collect_params_with_prefix().items()
            if param._data is not None
        }

    def restore_parameters(self, values: Dict[str, np.ndarray[Any, Any]]) -> None:
        """Write ``values`` from :meth:`snapshot_parameters` into the network on every device.

        Raises
        ------
        KeyError
            If a name in ``values`` is not a parameter of the network.
        """
        params = self.net._collect_params_with_prefix()
        for name, value in values.items():
            params[name].set_data(nd.array(value, dtype=value.dtype))
