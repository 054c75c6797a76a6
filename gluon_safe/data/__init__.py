"""Multi-device data loading: device selection, batch splitting, loading and sharding.

:func:`devices` turns ``'auto'``, ``'gpu:0,2'`` or a count into MXNet contexts;
:func:`split_batch` splits a batch over them in balanced slices; :class:`DeviceDataLoader`
loads, checks and splits whole epochs; :class:`ShardSampler` gives each distributed
worker an equal, disjoint share of the dataset.
"""

from __future__ import annotations

from ..errors import WorkerTimeoutError
from ._batch import DeviceBatch, SupportsTransform
from ._devices import DeviceSpec, devices, select_devices
from ._loader import DeviceDataLoader, resolve_pin_memory
from ._sampler import ShardSampler
from ._split import split_batch, split_sizes

__all__ = [
    "DeviceBatch",
    "DeviceDataLoader",
    "DeviceSpec",
    "ShardSampler",
    "SupportsTransform",
    "WorkerTimeoutError",
    "devices",
    "resolve_pin_memory",
    "select_devices",
    "split_batch",
    "split_sizes",
]
