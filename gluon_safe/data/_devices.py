"""Device selection: turn ``'auto'``, ``2``, ``'gpu:0,2'`` or a list into MXNet contexts."""

from __future__ import annotations

import os
import re
from typing import Any, List, Sequence, Union

from typing_extensions import TypeAlias

from .._compat import Context, mx
from ..errors import DeviceError

DeviceSpec: TypeAlias = Union[str, int, Context, Sequence[Union[Context, str]]]
"""Device specification accepted by :func:`devices`: ``'auto'``, ``'cpu'``, ``'gpu'``,
``'gpu:0,2'``, ``'cpu:0,1'``, a number of GPUs, one context, or a list of contexts or
single-device strings."""

_DEVICE_LIST = re.compile(r"^(cpu|gpu)\s*(?::\s*(\d+(?:\s*,\s*\d+)*))?$")
_DEVICE_REPR = re.compile(r"^(cpu|gpu)\s*\(\s*(\d+)\s*\)$")

_ACCEPTED_FORMS = (
    "'auto', 'cpu', 'gpu', 'gpu:0,2', 'cpu:0,1', a number of GPUs (e.g. 2), an mx.Context, "
    "or a list of contexts or single-device strings such as ['gpu:0', 'gpu(1)']"
)


def devices(spec: DeviceSpec = "auto") -> List[Context]:
    """Select the MXNet contexts to train on.

    Parameters
    ----------
    spec : str, int, Context or list, default 'auto'
        ``'auto'``: every visible GPU, or ``[mx.cpu()]`` when there is none.
        ``'cpu'``: ``[mx.cpu()]``. ``'gpu'``: every visible GPU (at least one).
        ``'gpu:0,2'`` or ``'cpu:0,1'``: those device ids. An int ``n``: the first ``n``
        GPUs. A context, or a list of contexts and single-device strings (``'gpu:1'``,
        ``'gpu(1)'``, ``'cpu'``), is checked and returned as a list. Strings ignore case
        and spaces.

    Returns
    -------
    list of Context
        Distinct contexts, in the order given.

    Raises
    ------
    DeviceError
        If a requested GPU does not exist (the message lists the visible ones), the same
        device is named twice, or ``spec`` is not one of the accepted forms.

    Examples
    --------
    >>> devices("cpu")
    [cpu(0)]
    >>> devices("cpu:0,1")
    [cpu(0), cpu(1)]
    """
    return select_devices(spec, num_gpus=mx.context.num_gpus())


def select_devices(spec: DeviceSpec, *, num_gpus: int) -> List[Context]:
    """Resolve ``spec`` as :func:`devices` does, for a machine with ``num_gpus`` visible GPUs.

    This is the pure decision behind :func:`devices`: it takes the GPU count as an
    argument, so it can be checked on a machine without GPUs.

    Raises
    ------
    DeviceError
        As :func:`devices`.
    """
    if isinstance(spec, bool):
        raise DeviceError(f"devices(spec={spec!r}) is not a device specification; "
                          f"expected {_ACCEPTED_FORMS}")
    if isinstance(spec, int):
        return _select_gpu_count(spec, num_gpus)
    if isinstance(spec, str):
        return _select_from_string(spec, num_gpus)
    if isinstance(spec, Context):
        return _check_contexts([spec], num_gpus)
    if isinstance(spec, Sequence):
        return _check_contexts([_parse_single(item, spec) for item in spec], num_gpus)
    raise DeviceError(f"devices(spec={spec!r}) has type {type(spec).__name__}, which is not a "
                      f"device specification; expected {_ACCEPTED_FORMS}")


def _select_gpu_count(count: int, num_gpus: int) -> List[Context]:
    if count < 1:
        raise DeviceError(f"devices(spec={count}) asks for {count} GPUs; expected a count of "
                          "at least 1, or 'cpu' to run on the CPU")
    return _check_contexts([mx.gpu(i) for i in range(count)], num_gpus)


def _select_from_string(spec: str, num_gpus: int) -> List[Context]:
    text = spec.strip().lower()
    if text == "auto":
        if num_gpus == 0:
            return [mx.cpu()]
        return [mx.gpu(i) for i in range(num_gpus)]

    match = _DEVICE_LIST.match(text) or _DEVICE_REPR.match(text)
    if match is None:
        raise DeviceError(f"devices(spec={spec!r}) is not a device specification; "
                          f"expected {_ACCEPTED_FORMS}")
    device_type, ids = match.group(1), match.group(2)

    if ids is not None:
        contexts = [_make_context(device_type, int(i)) for i in ids.split(",")]
    elif device_type == "cpu":
        contexts = [mx.cpu()]
    elif num_gpus == 0:
        raise DeviceError(f"devices(spec={spec!r}) asks for every GPU, but "
                          + _describe_visible_gpus(num_gpus))
    else:
        contexts = [mx.gpu(i) for i in range(num_gpus)]
    return _check_contexts(contexts, num_gpus)


def _parse_single(item: Any, spec: Sequence[Any]) -> Context:
    """Convert one list entry (a context, ``'gpu:1'``, ``'gpu(1)'``, ``'cpu'``) to a context."""
    if isinstance(item, Context):
        return item
    if isinstance(item, str):
        text = item.strip().lower()
        match = _DEVICE_LIST.match(text) or _DEVICE_REPR.match(text)
        if match is not None:
            ids = match.group(2)
            if ids is None and match.group(1) == "cpu":
                return mx.cpu()
            if ids is not None and "," not in ids:
                return _make_context(match.group(1), int(ids))
    raise DeviceError(f"devices(spec={spec!r}) contains {item!r}, which does not name a single "
                      "device; expected an mx.Context or a string such as 'gpu:0', 'gpu(0)' "
                      "or 'cpu'")


def _make_context(device_type: str, device_id: int) -> Context:
    return mx.gpu(device_id) if device_type == "gpu" else mx.cpu(device_id)


def _check_contexts(contexts: List[Context], num_gpus: int) -> List[Context]:
    if not contexts:
        raise DeviceError("devices(spec=[]) names no device; expected at least one context, "
                          "or 'auto' for every visible GPU")

    seen: List[Context] = []
    for ctx in contexts:
        if ctx.device_type not in ("cpu", "gpu"):
            raise DeviceError(f"{ctx} is host staging memory, not a compute device; expected "
                              "mx.cpu(i) or mx.gpu(i) (DataLoader's pin_memory option pins "
                              "batches)")
        if ctx.device_type == "gpu" and ctx.device_id >= num_gpus:
            raise DeviceError(f"{ctx} does not exist: " + _describe_visible_gpus(num_gpus))
        if ctx in seen:
            raise DeviceError(f"{ctx} is named twice in {contexts}; expected each device once")
        seen.append(ctx)
    return seen


def _describe_visible_gpus(num_gpus: int) -> str:
    """Say which GPUs exist and, when none does, the likely reason."""
    if num_gpus > 0:
        visible = ", ".join(str(mx.gpu(i)) for i in range(num_gpus))
        noun = "GPU is" if num_gpus == 1 else "GPUs are"
        return (f"{num_gpus} {noun} visible ({visible}). Use device ids below {num_gpus}, "
                "or 'auto' for every visible GPU.")

    if not mx.runtime.Features().is_enabled("CUDA"):
        reason = ("this MXNet build has no CUDA support; install a CUDA build of MXNet "
                  "(e.g. mxnet-cu112) to train on GPUs")
    else:
        visible_env = os.environ.get("CUDA_VISIBLE_DEVICES")
        reason = (f"check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES="
                  f"{visible_env!r}")
    return (f"no GPU is visible to MXNet (mx.context.num_gpus() == 0): {reason}. "
            "Use 'cpu' or 'auto' to run on the CPU.")
