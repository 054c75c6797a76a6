"""Gradient bookkeeping shared by :class:`Trainer` and ``fit``.

MXNet marks a parameter's data array as having a fresh gradient when ``backward()``
writes its gradient, and ``Trainer.step`` refuses to update while any flag is unset.
This module reads and sets those flags, names the blocks that own stale parameters,
zeroes the gradients of devices that got no data, and computes gradient norms on the
devices without reading them back.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .._compat import Context, NDArray, nd

_NUMBERED_PREFIX = re.compile(r"^(.*\d)_[^\d]+$")
"""Gluon 1.x names a parameter ``<block prefix><own name>``, as in
``hybridsequential0_dense1_weight``; the block prefix ends with the block's counter."""

StaleEntry = Tuple[Any, List[Context]]
"""A parameter and the devices on which its gradient is stale."""


def trainable(params: Sequence[Any]) -> List[Any]:
    """Return the parameters that receive gradients (``grad_req`` other than ``'null'``)."""
    return [param for param in params if param.grad_req != "null"]


def stale_parameters(params: Sequence[Any]) -> List[StaleEntry]:
    """List each trainable parameter whose gradient is not fresh on some device.

    A parameter that was never initialized (deferred initialization that no forward
    pass completed) is stale everywhere and is listed with an empty device list.
    """
    stale: List[StaleEntry] = []
    for param in trainable(params):
        arrays = param._data
        if arrays is None:
            stale.append((param, []))
            continue
        contexts = [array.context for array in arrays if not array._fresh_grad]
        if contexts:
            stale.append((param, contexts))
    return stale


def mark_consumed(params: Sequence[Any]) -> None:
    """Clear the fresh-gradient flag of every trainable parameter on every device.

    ``gluon.Trainer`` in MXNet 1.9.1 leaves the flags set when the update runs inside
    the kvstore, so a second ``step`` without ``backward()`` would go unnoticed.
    """
    for param in trainable(params):
        for array in param._data or ():
            array._fresh_grad = False


def zero_idle_gradients(params: Sequence[Any], idle: Sequence[Context]) -> None:
    """Zero the gradients on ``idle`` devices and mark them fresh.

    A batch with fewer samples than devices leaves some devices without data. Their
    zero gradients add nothing to the reduced gradient, and the fresh flag lets
    ``Trainer.step`` accept them.
    """
    if not idle:
        return
    idle_set = set(idle)
    for param in trainable(params):
        for array, grad in zip(param.list_data(), param.list_grad()):
            if array.context in idle_set:
                grad[:] = 0
                array._fresh_grad = True


def block_names(net: Any) -> Dict[str, str]:
    """Map each parameter name of ``net`` to its owning block, as ``'dense1 (Dense)'``.

    Walks ``net`` and its children; a parameter shared by several blocks keeps the
    first block that registers it.
    """
    names: Dict[str, str] = {}
    pending = [net]
    while pending:
        block = pending.pop(0)
        label = f"{block.name} ({type(block).__name__})"
        for param in getattr(block, "_reg_params", {}).values():
            names.setdefault(param.name, label)
        pending.extend(getattr(block, "_children", {}).values())
    return names


def guess_block(param_name: str) -> str:
    """Return the block prefix of a Gluon 1.x parameter name, e.g. ``'dense0'``.

    ``dense0_weight`` gives ``'dense0'``; a name without a numbered prefix, such as
    ``'mynet_w'``, gives everything before its last underscore, or the name itself.
    """
    numbered = _NUMBERED_PREFIX.match(param_name)
    if numbered is not None:
        return numbered.group(1)
    head, _, tail = param_name.rpartition("_")
    return head if head and tail else param_name


def describe_stale(
    stale: Sequence[StaleEntry],
    num_trainable: int,
    blocks: Mapping[str, str],
    all_contexts: Sequence[Context],
) -> str:
    """Compose the message for stale parameters, grouped by block.

    A parameter stale on only some of the devices is listed with those devices, the
    mark of a batch smaller than the number of devices.
    """
    groups: Dict[str, List[str]] = OrderedDict()
    for param, contexts in stale:
        block = blocks.get(param.name) or guess_block(param.name)
        entry = param.name
        if not contexts:
            entry += " (never initialized: no forward pass reached it)"
        elif len(contexts) < len(all_contexts):
            entry += " (on " + ", ".join(str(ctx) for ctx in contexts) + " only)"
        groups.setdefault(block, []).append(entry)

    lines = [
        f"{len(stale)} of {num_trainable} trainable parameters received no gradient "
        "from backward() since the last step:"
    ]
    lines.extend(f"  block {block}: {', '.join(entries)}" for block, entries in groups.items())
    lines.append(_stale_hint(stale, all_contexts))
    return "\n".join(lines)


def _stale_hint(stale: Sequence[StaleEntry], all_contexts: Sequence[Context]) -> str:
    hints = []
    if any(0 < len(contexts) < len(all_contexts) for _, contexts in stale):
        hints.append(
            "Some devices computed no gradient, which happens when a batch has fewer "
            "samples than devices: zero the gradients of the idle devices "
            "(gluon_safe.fit does), or drop the last batch."
        )
    if any(len(contexts) in (0, len(all_contexts)) for _, contexts in stale):
        hints.append(
            "The forward pass did not use the blocks stale on every device. If that is "
            "intended, freeze them with grad_req='null', or call "
            "step(..., ignore_stale_grad=True) to skip them."
        )
    return " ".join(hints)


def squared_norm(grads: Sequence[NDArray]) -> NDArray:
    """Return the sum of squares of ``grads`` as a 1-element array, without a host read.

    All arrays must be on one device; the result is on that device.
    """
    squares = [nd.sum(nd.square(grad)).reshape((1,)) for grad in grads]
    return nd.add_n(*squares) if len(squares) > 1 else squares[0]


def gradients_by_device(params: Sequence[Any]) -> Dict[Context, List[NDArray]]:
    """Group the gradient arrays of trainable parameters by device, in device order."""
    by_device: Dict[Context, List[NDArray]] = OrderedDict()
    for param in trainable(params):
        for grad in param.list_grad():
            by_device.setdefault(grad.context, []).append(grad)
    return by_device


def scale_in_place(grads: Sequence[NDArray], factor: NDArray) -> None:
    """Multiply each gradient by the 1-element array ``factor`` (moved to its device)."""
    copies: Dict[Context, NDArray] = {}
    for grad in grads:
        local: Optional[NDArray] = copies.get(grad.context)
        if local is None:
            local = factor.as_in_context(grad.context)
            copies[grad.context] = local
        nd.broadcast_mul(grad, local, out=grad)
