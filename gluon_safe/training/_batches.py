"""Turn whatever a data source yields into per-device slices with a true sample count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import numpy as np

from .._compat import Context, NDArray, mx
from ..data import split_batch

__all__ = ["LoadedBatch", "count_kept", "load_batch"]


@dataclass
class LoadedBatch:
    """One batch on the devices.

    Attributes
    ----------
    data, labels : list of NDArray
        One slice per device in use.
    num_samples : int
        Samples in the batch.
    kept : int
        Samples that count for the update and the loss: those with at least one label
        other than ``ignore_label`` (all of them without one).
    ctx : list of Context
        The devices in use, a prefix of the run's devices.
    """

    data: List[NDArray]
    labels: List[NDArray]
    num_samples: int
    kept: int
    ctx: List[Context]


def load_batch(batch: Any, ctx_list: Sequence[Context], index: int,
               ignore_label: Optional[float]) -> LoadedBatch:
    """Split ``batch`` over ``ctx_list``, or check the split a DeviceDataLoader made.

    Accepts a :class:`~gluon_safe.data.DeviceBatch`, an ``mx.io.DataBatch`` (its padding
    removed) and any ``(data, label)`` pair of NDArrays or numpy arrays.

    Raises
    ------
    TypeError
        If ``batch`` has none of those types.
    ValueError
        If a DeviceBatch is on other devices than ``ctx_list``, or a pair cannot be
        split (see :func:`gluon_safe.split_batch`).
    """
    if hasattr(batch, "num_samples") and hasattr(batch, "ctx"):
        return _from_device_batch(batch, ctx_list, index, ignore_label)

    data, label = _as_pair(batch, index)
    if len(ctx_list) == 1 and _on_device(data, ctx_list[0]) and _on_device(label, ctx_list[0]):
        # The batch is already on the only device, where split_batch would return views of it.
        num_samples = _check_pair_sizes(data, label)
        return LoadedBatch([data], [label], num_samples,
                           _count_or_all([label], ignore_label, num_samples), [ctx_list[0]])

    # Counting on the host copy, before the split, avoids reading from the devices.
    host_kept = None
    if ignore_label is not None and _is_host(label):
        host_kept = count_kept([label], ignore_label)
    (data_parts, label_parts), num_samples = split_batch((data, label), list(ctx_list))
    kept = host_kept if host_kept is not None else _count_or_all(label_parts, ignore_label,
                                                                 num_samples)
    return LoadedBatch(list(data_parts), list(label_parts), num_samples, kept,
                       list(ctx_list[: len(data_parts)]))


def _count_or_all(labels: Sequence[Any], ignore_label: Optional[float], num_samples: int) -> int:
    return num_samples if ignore_label is None else count_kept(labels, ignore_label)


def count_kept(labels: Sequence[Any], ignore_label: Optional[float]) -> int:
    """Count the samples with at least one label other than ``ignore_label``.

    Reads the labels on the host: free for numpy and CPU arrays, one blocking copy
    per GPU array.
    """
    total = 0
    for label in labels:
        host = label.asnumpy() if isinstance(label, NDArray) else np.asarray(label)
        rows = host.reshape((host.shape[0], -1)) if host.ndim else host.reshape((1, 1))
        if ignore_label is None:
            total += rows.shape[0]
        else:
            total += int((rows != ignore_label).any(axis=1).sum())
    return total


def _from_device_batch(batch: Any, ctx_list: Sequence[Context], index: int,
                       ignore_label: Optional[float]) -> LoadedBatch:
    if len(batch) < 2:
        raise TypeError(f"batch {index} has {len(batch)} field; fit needs (data, label) "
                        "samples")
    used = list(batch.ctx)
    if used != list(ctx_list[: len(used)]):
        raise ValueError(f"batch {index} is on {used}, but fit trains on {list(ctx_list)}; "
                         "create the DeviceDataLoader with the same ctx as fit, or pass "
                         "ctx='auto' to fit to take the loader's devices")
    labels = list(batch[1])
    kept = _count_or_all(labels, ignore_label, int(batch.num_samples))
    return LoadedBatch(list(batch[0]), labels, int(batch.num_samples), kept, used)


def _as_pair(batch: Any, index: int) -> tuple[Any, Any]:
    if isinstance(batch, mx.io.DataBatch):
        data, label = batch.data[0], batch.label[0]
        pad = int(batch.pad or 0)
        if pad:
            data, label = data[: data.shape[0] - pad], label[: label.shape[0] - pad]
        return data, label
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, (tuple, list)):
        raise ValueError(f"batch {index} has {len(batch)} fields; fit trains on (data, label) "
                         "pairs. Drop the extra fields in the dataset's transform.")
    raise TypeError(f"batch {index} is a {type(batch).__name__}; fit expects (data, label) "
                    "pairs, a DeviceDataLoader batch or an mx.io.DataBatch")


def _on_device(array: Any, ctx: Context) -> bool:
    return isinstance(array, NDArray) and array.context == ctx


def _check_pair_sizes(data: NDArray, label: NDArray) -> int:
    if data.ndim == 0 or label.ndim == 0 or data.shape[0] != label.shape[0] \
            or data.shape[0] == 0:
        # split_batch words the error for every malformed pair.
        split_batch((data, label), [data.context])
    return int(data.shape[0])


def _is_host(array: Any) -> bool:
    if isinstance(array, NDArray):
        return bool(array.context.device_type == "cpu")
    return True
