"""Save and restore a ``gluon.Trainer``'s optimizer and its states, device by device.

``Trainer.save_states`` in MXNet 1.9.1 pickles the optimizer states of the first device
as NDArrays, which remember the device they were saved from, and ``load_states`` hands
that one copy to every device. Here each state is stored as a numpy array and rebuilt
on the device of the parameter it belongs to. So a checkpoint written on GPUs loads on
another set of devices, and a run resumed on the same devices continues bit for bit.

MXNet keys optimizer states and update counts by the parameter's position in the
trainer, and ``gluon.Trainer`` orders parameters by their global names. Those names
carry instance counters (``dense9_`` in one process, ``dense10_`` in the next), so the
positions can change between runs of the same script. Here the states are stored under
each parameter's structural name in the network (``'0.weight'``, as
``net.save_parameters`` uses), and mapped back to the positions of the resumed trainer.

The optimizer object itself is pickled, as MXNet does, because it carries the update
counts and the learning-rate scheduler. Unpickling runs code named in the file, so load
only checkpoints you trust.
"""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any, Dict, List, Optional

import numpy as np
from typing_extensions import Literal

from .._compat import Context, NDArray, mx, nd

__all__ = [
    "OptimizerChoice",
    "describe_schedule",
    "dump_trainer_state",
    "load_trainer_state",
    "parameter_keys",
]

logger = logging.getLogger(__name__)

STATE_FORMAT = 2

OptimizerChoice = Literal["saved", "current"]
"""``'saved'``: continue with the pickled optimizer, schedule included. ``'current'``: keep
the trainer's optimizer and schedule, and take only the update counts from the file."""


def parameter_keys(net: Any, trainer: Any) -> List[str]:
    """Return a stable key for each parameter of ``trainer``, in the trainer's order.

    The key is the parameter's structural name in ``net`` (``'0.weight'``); a parameter
    outside ``net`` keeps its global name.
    """
    structural = {id(param): name for name, param in net._collect_params_with_prefix().items()}
    return [structural.get(id(param), param.name) for param in trainer._params]


def dump_trainer_state(trainer: Any, keys: List[str]) -> bytes:
    """Return the optimizer and every device's optimizer states as bytes.

    ``keys`` come from :func:`parameter_keys`; states and update counts are stored
    under them instead of the trainer's positions.

    Raises
    ------
    ValueError
        If the trainer updates on a distributed kvstore, whose states live on the
        servers.
    """
    _init_kvstore(trainer)
    optimizer = copy.copy(trainer._optimizer)
    optimizer._all_index_update_counts = {
        device: _rekey(counts, keys) for device, counts in
        trainer._optimizer._all_index_update_counts.items()
    }
    optimizer._index_update_count = {}
    payload = {
        "format": STATE_FORMAT,
        "contexts": [str(ctx) for ctx in trainer._contexts],
        "optimizer": optimizer,
        "states": [
            {keys[index]: _to_host(state) for index, state in updater.states.items()}
            for updater in _updaters(trainer)
        ],
    }
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def load_trainer_state(trainer: Any, blob: bytes, *, keys: List[str],
                       optimizer: OptimizerChoice) -> None:
    """Restore what :func:`dump_trainer_state` saved into ``trainer``.

    ``keys`` are the :func:`parameter_keys` of the resumed trainer. Each state is
    created on the device of its parameter's copy that the updater serves. States
    saved from another number of devices are copied from the first saved device to
    every current one.

    Raises
    ------
    ValueError
        If the saved data is not in this format, covers other parameters than the
        trainer has, the trainer updates on a distributed kvstore, or
        ``optimizer='current'`` and the saved optimizer is of another class.
    pickle.UnpicklingError, EOFError
        If ``blob`` is not a complete pickle.
    """
    payload = pickle.loads(blob)
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise ValueError("the trainer states are not in the format gluon_safe writes")
    _init_kvstore(trainer)
    positions = {key: index for index, key in enumerate(keys)}
    saved_states: List[Dict[Any, Any]] = payload["states"]
    _check_same_parameters(saved_states, positions)

    saved_optimizer = payload["optimizer"]
    saved_optimizer._all_index_update_counts = {
        device: {positions[key]: count for key, count in counts.items()}
        for device, counts in saved_optimizer._all_index_update_counts.items()
    }
    saved_optimizer._index_update_count = saved_optimizer._all_index_update_counts.setdefault(
        0, {})
    active = _choose_optimizer(trainer, saved_optimizer, optimizer)
    updaters = _updaters(trainer)
    current_contexts = [str(ctx) for ctx in trainer._contexts]
    if payload["contexts"] != current_contexts:
        _spread_update_counts(active, trainer._contexts)
        _log_layout_change(payload["contexts"], current_contexts,
                           same_count=len(saved_states) == len(updaters))

    on_kvstore = bool(trainer._kvstore and trainer._update_on_kvstore)
    for position, updater in enumerate(updaters):
        states = saved_states[position] if len(saved_states) == len(updaters) else saved_states[0]
        # The kvstore keeps its own copy of the weights on a device Python cannot see,
        # so its states start on the CPU and MXNet's updater moves them on first use.
        ctx = mx.cpu() if on_kvstore else trainer._contexts[position]
        updater.states = {positions[key]: _to_device(state, ctx) for key, state in states.items()}
        updater.states_synced = dict.fromkeys(updater.states, not on_kvstore)
        updater.optimizer = active

    trainer._optimizer = active
    active.param_dict = dict(enumerate(trainer._params))


def _log_layout_change(saved: List[str], current: List[str], *, same_count: bool) -> None:
    if same_count:
        placement = "each saved device's states go to the device in the same position"
    else:
        placement = ("the states of the first saved device are copied to every current "
                     "device")
    logger.warning("the optimizer states were saved on %s but this trainer runs on %s; %s, "
                   "on the device of each parameter", ", ".join(saved), ", ".join(current),
                   placement)


def _rekey(counts: Dict[int, int], keys: List[str]) -> Dict[str, int]:
    return {keys[index]: count for index, count in counts.items()}


def _check_same_parameters(saved_states: List[Dict[Any, Any]],
                           positions: Dict[str, int]) -> None:
    saved = set().union(*(states.keys() for states in saved_states)) if saved_states else set()
    unknown = sorted(str(key) for key in saved - positions.keys())
    if unknown:
        raise ValueError(f"the optimizer states cover parameters this trainer does not "
                         f"have: {', '.join(unknown[:5])}")


def describe_schedule(optimizer: Any) -> Dict[str, Any]:
    """Describe an optimizer's class, base learning rate and scheduler settings.

    Call it before the first update: MXNet's schedulers change their own attributes
    as they run.
    """
    scheduler = optimizer.lr_scheduler
    description: Dict[str, Any] = {
        "optimizer": type(optimizer).__name__,
        "learning_rate": float(optimizer.lr),
        "lr_scheduler": None,
    }
    if scheduler is not None:
        settings = {
            key: _plain(value) for key, value in sorted(vars(scheduler).items())
            if not key.startswith("_")
        }
        description["lr_scheduler"] = {"class": type(scheduler).__name__, **settings}
    return description


def _choose_optimizer(trainer: Any, saved: Any, choice: OptimizerChoice) -> Any:
    if choice == "saved":
        return saved
    current = trainer._optimizer
    if type(current) is not type(saved):
        raise ValueError(f"the checkpoint was written with the optimizer "
                         f"{type(saved).__name__}, but the trainer uses "
                         f"{type(current).__name__}; their states do not fit each other")
    current.num_update = saved.num_update
    current.begin_num_update = saved.begin_num_update
    current._all_index_update_counts = copy.deepcopy(saved._all_index_update_counts)
    current._index_update_count = current._all_index_update_counts.setdefault(0, {})
    return current


def _spread_update_counts(optimizer: Any, contexts: List[Context]) -> None:
    """Give every current device the largest update count saved for each parameter.

    MXNet counts updates per device id; a device id missing from the counts would
    restart at 0, which changes Adam's bias correction and any schedule.
    """
    merged: Dict[Any, int] = {}
    for counts in optimizer._all_index_update_counts.values():
        for index, count in counts.items():
            merged[index] = max(count, merged.get(index, count))
    device_ids = {0} | {ctx.device_id for ctx in contexts}
    optimizer._all_index_update_counts = {device: dict(merged) for device in device_ids}
    optimizer._index_update_count = optimizer._all_index_update_counts[0]


def _init_kvstore(trainer: Any) -> None:
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    if trainer._kvstore is not None and trainer._update_on_kvstore and trainer._distributed:
        raise ValueError("the trainer updates on the distributed kvstore "
                         f"{trainer._kvstore.type!r}, whose optimizer states live on the "
                         "servers; checkpoints of such trainers are not supported")


def _updaters(trainer: Any) -> List[Any]:
    if trainer._kvstore is not None and trainer._update_on_kvstore:
        return [trainer._kvstore._updater]
    return list(trainer._updaters)


def _to_host(state: Any) -> Any:
    if isinstance(state, NDArray):
        dense = state if state.stype == "default" else state.tostype("default")
        return {"ndarray": dense.asnumpy(), "stype": state.stype}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_host(item) for item in state)
    return state


def _to_device(state: Any, ctx: Context) -> Any:
    if isinstance(state, dict) and "ndarray" in state:
        host: np.ndarray[Any, Any] = state["ndarray"]
        array = nd.array(host, ctx=ctx, dtype=host.dtype)
        return array if state["stype"] == "default" else array.tostype(state["stype"])
    if isinstance(state, (list, tuple)):
        return type(state)(_to_device(item, ctx) for item in state)
    return state


def _plain(value: Any) -> Optional[Any]:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return type(value).__name__
