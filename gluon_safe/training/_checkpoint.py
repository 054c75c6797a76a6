"""The :class:`Checkpoint` callback and what goes into a bundle.

Which epochs to save and which bundles to delete are pure functions
(:func:`should_save`, :func:`bundles_to_delete`); the callback writes and deletes.
See :mod:`gluon_safe.training._bundle` for the layout on disk.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from .._compat import NDArray, mx
from ..distributed import is_horovod_trainer, is_parameter_server, is_primary
from ..distributed._kinds import HOROVOD, kvstore_name
from ._bundle import (
    BEST,
    LATEST,
    list_bundles,
    read_pointer,
    remove_leftovers,
    write_bundle,
    write_pointer,
)
from ._callbacks import Callback
from ._direction import Direction, Mode, check_mode, is_improvement, resolve_mode
from ._state import Directive, FitState
from ._trainer_state import dump_trainer_state, parameter_keys

__all__ = ["Checkpoint", "bundles_to_delete", "save_checkpoint", "should_save"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

_ARRAY_REF = "__array__"
_FLOAT_REF = "__float__"


def should_save(epoch: int, *, epochs: int, every: int, is_best: bool) -> bool:
    """Tell whether to write a bundle after ``epoch`` (counted from 0).

    Every ``every``-th epoch, the last epoch of the run and every new best are saved.

    Examples
    --------
    >>> [e for e in range(7) if should_save(e, epochs=7, every=3, is_best=False)]
    [2, 5, 6]
    """
    return is_best or (epoch + 1) % every == 0 or epoch == epochs - 1


def bundles_to_delete(
    bundles: Sequence[Tuple[int, str]], *, keep_last: Optional[int], protected: Set[str]
) -> List[str]:
    """Return the bundle names that fall outside the newest ``keep_last``.

    ``bundles`` are ``(epoch, name)`` pairs, oldest first. Names in ``protected`` (the
    bundles that ``latest`` and ``best`` point to) are never returned; None keeps all.

    Examples
    --------
    >>> bundles_to_delete([(0, "a"), (1, "b"), (2, "c")], keep_last=1, protected={"a"})
    ['b']
    """
    if keep_last is None:
        return []
    older = bundles[: max(len(bundles) - keep_last, 0)]
    return [name for _, name in older if name not in protected]


class Checkpoint(Callback):
    """Save a resumable bundle at the end of epochs.

    A bundle contains the parameters, the optimizer and its states (each stored per
    device and restored on its parameter's device), the label encoder, the epoch and
    batch counters, the seed, the state of every callback and the history. Writes
    are atomic: a crash never leaves ``latest`` pointing to a partial bundle. Resume
    with ``fit(..., resume_from=directory)``. In distributed training only worker 0
    writes; to resume, every worker must be able to read ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Where bundles and the ``latest`` and ``best`` pointers go; created if missing.
    save_best : str, optional
        An epoch-log key, such as ``'val_accuracy'``. Every epoch that improves it is
        saved and ``best`` points to the best bundle, which is never deleted.
    mode : {'auto', 'min', 'max'}, default 'auto'
        Direction of ``save_best``; 'auto' takes the metric's declared direction and
        raises when it has none (see :class:`EarlyStopping`).
    keep_last : int or None, default 1
        How many of the newest bundles to keep; None keeps all.
    every : int, default 1
        Save after every ``every``-th epoch. The last epoch of the run is always saved.
    label_encoder : object, optional
        A fitted :class:`~gluon_safe.LabelEncoder` (anything with ``to_json``) to store.
        Defaults to the ``label_encoder`` attribute of the training data, if any.

    Raises
    ------
    ValueError
        At construction, if ``keep_last`` or ``every`` is not a positive int or
        ``mode`` is unknown. At the start of training, if the run does not log
        ``save_best`` or that value has no direction.

    Notes
    -----
    The optimizer is pickled, as ``gluon.Trainer.save_states`` does. Unpickling can
    run code named in the file: load only checkpoints you trust.
    """

    def __init__(
        self,
        directory: PathLike,
        *,
        save_best: Optional[str] = None,
        mode: Mode = "auto",
        keep_last: Optional[int] = 1,
        every: int = 1,
        label_encoder: Any = None,
    ) -> None:
        self.directory = os.fspath(directory)
        self.save_best = save_best
        self.mode = check_mode(mode, owner="Checkpoint")
        self.keep_last = None if keep_last is None else _positive_int("keep_last", keep_last)
        self.every = _positive_int("every", every)
        self.label_encoder = label_encoder
        self.direction: Optional[Direction] = None
        self.best: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.last_saved_epoch: Optional[int] = None

    def on_train_begin(self, state: FitState) -> Directive:
        if self.save_best is not None:
            self.direction = resolve_mode(self.mode, self.save_best, state.sources,
                                          owner="Checkpoint")
        if is_primary(state.trainer):
            remove_leftovers(self.directory)
            _explain_distributed(state.trainer, self.directory)
        return None

    def on_epoch_end(self, state: FitState) -> Directive:
        is_best = self._is_new_best(state.logs)
        if not should_save(state.epoch, epochs=state.epochs, every=self.every, is_best=is_best):
            return None
        if is_best:
            self.best = state.logs[self.save_best]  # type: ignore[index]
            self.best_epoch = state.epoch
        if not is_primary(state.trainer):
            # In distributed training only worker 0 writes; the others keep its counters.
            self.last_saved_epoch = state.epoch
            return None
        name = self._save(state)
        if is_best:
            write_pointer(self.directory, BEST, name)
        self._prune()
        return None

    def on_train_end(self, state: FitState) -> Directive:
        # A run stopped early by a callback ends on an epoch that every= may have
        # skipped; saving it lets a resume continue from where the run ended.
        if not state.history.epochs or self.last_saved_epoch == state.epoch:
            return None
        if not is_primary(state.trainer):
            self.last_saved_epoch = state.epoch
            return None
        self._save(state)
        self._prune()
        return None

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch,
                "last_saved_epoch": self.last_saved_epoch}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.last_saved_epoch = state.get("last_saved_epoch")

    def _is_new_best(self, logs: Dict[str, float]) -> bool:
        if self.save_best is None or self.save_best not in logs or self.direction is None:
            return False
        return is_improvement(logs[self.save_best], self.best, self.direction, 0.0)

    def _save(self, state: FitState) -> str:
        self.last_saved_epoch = state.epoch
        encoder = self.label_encoder
        if encoder is None:
            encoder = state.label_encoder
        name = save_checkpoint(self.directory, state, label_encoder=encoder)
        logger.info("saved checkpoint %s after epoch %d", os.path.join(self.directory, name),
                    state.epoch)
        return name

    def _prune(self) -> None:
        protected = {read_pointer(self.directory, LATEST), read_pointer(self.directory, BEST)}
        doomed = bundles_to_delete(list_bundles(self.directory), keep_last=self.keep_last,
                                   protected={name for name in protected if name})
        for name in doomed:
            shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
            logger.debug("deleted checkpoint %s", name)


def _explain_distributed(trainer: Any, directory: str) -> None:
    """Log what the bundles of a distributed run contain; called on worker 0 only.

    ``fit`` accepts a Checkpoint in a distributed run only when the workers update the
    parameters (``update_on_kvstore=False``, or Horovod). Every worker then has the same
    parameters and optimizer states, so the bundle of worker 0 is valid for all of them.
    """
    if is_horovod_trainer(trainer):
        name = HOROVOD
    else:
        kvstore = getattr(trainer, "_kvstore", None)
        if kvstore is None:
            kvstore = getattr(trainer, "_kvstore_params", {}).get("kvstore")
        if not is_parameter_server(kvstore):
            return
        name = kvstore_name(kvstore)
    logger.info("distributed run (%s): only worker 0 writes checkpoints, to %s. Each bundle "
                "contains the parameters and the optimizer states. The workers run the "
                "updates, so both are the same on every worker.", name, directory)


def save_checkpoint(directory: PathLike, state: FitState, *, label_encoder: Any = None) -> str:
    """Write a bundle of the run in ``state``; return the bundle's name.

    Raises
    ------
    TypeError
        If a callback's ``state_dict`` contains a value that is neither JSON nor a
        numpy array or NDArray.
    ValueError
        If the trainer updates on a distributed kvstore.
    """
    arrays: Dict[str, np.ndarray[Any, Any]] = {}
    callbacks = [
        {"class": type(callback).__name__,
         "state": encode_state(callback.state_dict(), f"callback{i}", arrays)}
        for i, callback in enumerate(state.callbacks)
    ]
    trainer = state.trainer
    manifest = {
        "epoch": state.epoch,
        "epochs": state.epochs,
        "global_batch": state.global_batch,
        "skipped_batches": state.skipped_batches,
        "seed": state.seed,
        "history": state.history.to_dict(),
        "callbacks": callbacks,
        "schedule": state.schedule,
        "trainer": {
            "num_steps": getattr(trainer, "num_steps", None),
            "skipped_steps": getattr(trainer, "skipped_steps", None),
        },
        "label_encoder": _encoder_entry(label_encoder),
        "mxnet_version": mx.__version__,
    }
    return write_bundle(
        directory, state.epoch,
        save_params=state.net.save_parameters,
        trainer_states=dump_trainer_state(trainer, parameter_keys(state.net, trainer)),
        manifest=manifest, arrays=arrays,
    )


def encode_state(value: Any, key: str, arrays: Dict[str, np.ndarray[Any, Any]]) -> Any:
    """Return ``value`` as JSON, moving each array into ``arrays`` under a key it names.

    Raises
    ------
    TypeError
        If ``value`` contains something that is neither JSON nor an array.
    """
    if isinstance(value, NDArray):
        value = value.asnumpy()
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {_ARRAY_REF: key}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_FLOAT_REF: repr(value)}
    if isinstance(value, dict):
        return {str(k): encode_state(v, f"{key}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_state(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    raise TypeError(f"a callback state contains a value of type {type(value).__name__} at "
                    f"{key!r}, which a checkpoint cannot store; state_dict() may return "
                    "JSON values, numpy arrays and NDArrays only")


def decode_state(value: Any, arrays: Dict[str, np.ndarray[Any, Any]]) -> Any:
    """Invert :func:`encode_state`.

    Raises
    ------
    KeyError
        If an array reference has no array in ``arrays``.
    """
    if isinstance(value, dict):
        if set(value) == {_ARRAY_REF}:
            return arrays[value[_ARRAY_REF]]
        if set(value) == {_FLOAT_REF}:
            return float(value[_FLOAT_REF])
        return {k: decode_state(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_state(v, arrays) for v in value]
    return value


def _encoder_entry(encoder: Any) -> Optional[Dict[str, str]]:
    if encoder is None:
        return None
    to_json = getattr(encoder, "to_json", None)
    if to_json is None:
        logger.warning("the label encoder %s has no to_json() method, so the checkpoint "
                       "does not store it", type(encoder).__name__)
        return None
    return {"class": type(encoder).__name__, "json": to_json()}


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} is not a positive int")
    return int(value)
