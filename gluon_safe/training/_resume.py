"""Continue a ``fit`` run from a checkpoint bundle."""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from typing_extensions import Literal

from .._compat import mx
from ..encoding import LabelEncoder, MultiLabelEncoder
from ..errors import CheckpointError
from ._bundle import MANIFEST, TRAINER, Bundle, read_bundle
from ._checkpoint import decode_state
from ._history import History
from ._state import FitState
from ._trainer_state import OptimizerChoice, load_trainer_state, parameter_keys

__all__ = ["Resume", "restore_run"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
ScheduleChoice = Optional[Literal["saved", "current"]]


@dataclass(frozen=True)
class Resume:
    """A resume request: the checkpoint, and the choice for a changed learning-rate schedule.

    ``fit(resume_from=path)`` is ``fit(resume_from=Resume(path))``.

    Parameters
    ----------
    path : str or path-like
        A checkpoint directory (its ``latest`` bundle is used) or one bundle in it.
    lr_schedule : {None, 'saved', 'current'}, default None
        What to do when the optimizer, learning rate or ``lr_scheduler`` of this run
        differs from the saved one. None raises. ``'saved'`` continues with the saved
        optimizer and schedule. ``'current'`` keeps this run's optimizer and schedule
        and takes only the update count from the checkpoint, so the new schedule
        applies from that update on.

    Raises
    ------
    ValueError
        If ``lr_schedule`` is not one of the allowed values.
    """

    path: PathLike
    lr_schedule: ScheduleChoice = None

    def __post_init__(self) -> None:
        if self.lr_schedule not in (None, "saved", "current"):
            raise ValueError(f"lr_schedule={self.lr_schedule!r} is not supported; expected "
                             "None, 'saved' or 'current'")


def restore_run(resume_from: Union[PathLike, Resume], state: FitState) -> int:
    """Load a bundle into the run in ``state``; return the epoch to start at.

    Restores the parameters, the optimizer and its states, the counters, the history,
    the callback states (matched by class, in order) and the label encoder.

    Raises
    ------
    CheckpointError
        If the bundle is missing, damaged or foreign, or does not fit the network.
    ValueError
        If the learning-rate schedule differs from the saved one and no choice was
        made (see :class:`Resume`).
    """
    resume = resume_from if isinstance(resume_from, Resume) else Resume(resume_from)
    bundle = read_bundle(resume.path)
    manifest = bundle.manifest

    _load_parameters(state, bundle)
    choice = _schedule_choice(manifest.get("schedule"), state.schedule, resume, bundle)
    _load_trainer(state, bundle, choice)
    if choice == "saved":
        state.schedule = manifest.get("schedule") or state.schedule

    state.history = _load_history(manifest, bundle)
    _load_callbacks(state, manifest.get("callbacks") or [], bundle)
    _restore_counters(state, manifest)
    state.resumed = True

    optimizer = state.trainer._optimizer
    logger.info(
        "resumed from %s after epoch %d: optimizer %s, learning rate %g, lr_scheduler %s, "
        "update count %d", bundle.path, bundle.epoch, type(optimizer).__name__,
        state.trainer.learning_rate, state.schedule.get("lr_scheduler"), optimizer.num_update,
    )
    return bundle.epoch + 1


def _load_parameters(state: FitState, bundle: Bundle) -> None:
    try:
        state.net.load_parameters(bundle.params_file, ctx=state.ctx)
    except (AssertionError, RuntimeError, ValueError, KeyError, mx.base.MXNetError) as error:
        raise CheckpointError(f"checkpoint file {bundle.params_file} does not fit this network: "
                              f"{error}") from error


def _schedule_choice(saved: Any, current: Dict[str, Any], resume: Resume,
                     bundle: Bundle) -> OptimizerChoice:
    if saved == current:
        return "saved"
    if resume.lr_schedule is not None:
        logger.info("the schedule differs from the checkpoint's; continuing with the %s one "
                    "(saved: %s, this run: %s)", resume.lr_schedule, saved, current)
        return resume.lr_schedule
    raise ValueError(
        f"the optimizer or learning-rate schedule differs from the one saved in "
        f"{os.path.join(bundle.path, MANIFEST)}: saved {saved}, this run {current}. Pass "
        "resume_from=Resume(path, lr_schedule='saved') to continue the saved schedule, or "
        "lr_schedule='current' to apply this run's schedule from the saved update count."
    )


def _load_trainer(state: FitState, bundle: Bundle, choice: OptimizerChoice) -> None:
    path = os.path.join(bundle.path, TRAINER)
    try:
        load_trainer_state(state.trainer, bundle.trainer_states, optimizer=choice,
                           keys=parameter_keys(state.net, state.trainer))
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            TypeError, KeyError, IndexError, ValueError) as error:
        raise CheckpointError(f"checkpoint file {path} cannot be loaded into this trainer: "
                              f"{error}") from error
    counters = bundle.manifest.get("trainer") or {}
    for name in ("num_steps", "skipped_steps"):
        if counters.get(name) is not None and hasattr(state.trainer, name):
            setattr(state.trainer, name, int(counters[name]))


def _load_history(manifest: Dict[str, Any], bundle: Bundle) -> History:
    try:
        return History.from_dict(manifest["history"])
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint file {os.path.join(bundle.path, MANIFEST)} has no "
                              f"valid history: {error}") from error


def _load_callbacks(state: FitState, saved: list[Any], bundle: Bundle) -> None:
    used: set[int] = set()
    for callback in state.callbacks:
        name = type(callback).__name__
        match = next((i for i, entry in enumerate(saved)
                      if i not in used and entry.get("class") == name), None)
        if match is None:
            logger.info("the checkpoint contains no state for callback %s, so it starts afresh",
                        name)
            continue
        used.add(match)
        try:
            callback.load_state_dict(decode_state(saved[match]["state"], bundle.arrays))
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint file {os.path.join(bundle.path, MANIFEST)} "
                                  f"holds an invalid state for callback {name}: "
                                  f"{error!r}") from error


def _restore_counters(state: FitState, manifest: Dict[str, Any]) -> None:
    state.global_batch = int(manifest.get("global_batch", 0))
    state.skipped_batches = int(manifest.get("skipped_batches", 0))
    saved_seed = manifest.get("seed")
    if state.seed is None and saved_seed is not None:
        state.seed = int(saved_seed)
        logger.info("continuing with the seed %d stored in the checkpoint", state.seed)
    elif state.seed is not None and saved_seed is not None and state.seed != saved_seed:
        logger.warning("seed=%d differs from the seed %d of the checkpoint; the resumed run "
                       "will not match an uninterrupted one", state.seed, saved_seed)
    if state.seed is None:
        logger.warning("resuming without a seed: MXNet cannot restore its random state, so "
                       "shuffling, dropout and initialization after this point differ from "
                       "an uninterrupted run")
    encoder = manifest.get("label_encoder")
    if state.label_encoder is None and encoder is not None:
        state.label_encoder = _load_encoder(encoder)


def _load_encoder(entry: Dict[str, str]) -> Any:
    classes: Dict[str, Any] = {"LabelEncoder": LabelEncoder,
                               "MultiLabelEncoder": MultiLabelEncoder}
    cls = classes.get(entry.get("class", ""))
    if cls is None:
        logger.warning("the checkpoint stores a label encoder of class %s, which gluon_safe "
                       "cannot rebuild; it is ignored", entry.get("class"))
        return None
    return cls.from_json(entry["json"])
