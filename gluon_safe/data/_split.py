"""Balanced batch splitting across devices, the job of ``gluon.utils.split_and_load``.

``split_and_load(even_split=False)`` in MXNet 1.9.1 gives the first ``N % D`` devices one
extra sample, which this module keeps.  It differs in two cases.  A batch with fewer
samples than devices gets one sample per device on as many devices as it has samples,
where MXNet builds an empty slice and fails with a ``_copyto`` shape error.  An empty
batch raises a clear error.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from .._compat import Context, NDArray, nd

_ARRAY_TYPES = "an NDArray or a numpy array"


def split_sizes(num_samples: int, num_devices: int) -> List[int]:
    """Return the slice size for each device in use, as ``split_and_load`` balances them.

    The first ``num_samples % num_devices`` devices get one sample more than the rest.
    With fewer samples than devices, only ``num_samples`` devices are used.

    Examples
    --------
    >>> split_sizes(38, 8)
    [5, 5, 5, 5, 5, 5, 4, 4]
    >>> split_sizes(3, 8)
    [1, 1, 1]
    """
    used = min(num_samples, num_devices)
    base, extra = divmod(num_samples, used)
    return [base + 1] * extra + [base] * (used - extra)


def split_batch(batch: Any, ctx_list: Any, batch_axis: int = 0) -> Tuple[Any, int]:
    """Split a batch along ``batch_axis`` and load one slice onto each device.

    Parameters
    ----------
    batch : NDArray, numpy.ndarray, or tuple or list of them
        The batch. Every array of a tuple is split the same way, so data and labels stay
        aligned; all of them need the same size on ``batch_axis``.
    ctx_list : Context or list of Context
        The devices, for example from :func:`gluon_safe.devices`.
    batch_axis : int, default 0
        The axis that indexes samples. Negative values count from the end.

    Returns
    -------
    slices : list of NDArray, or tuple of such lists
        One NDArray per device in use, in the order of ``ctx_list``; for a tuple or list
        batch, a tuple with one such list per array. Slice sizes differ by at most one.
        With fewer samples than devices, only the first ``num_samples`` devices are used.
    num_samples : int
        The true number of samples in the batch, for ``trainer.step(num_samples)``.

    Raises
    ------
    ValueError
        If the batch is empty, ``ctx_list`` is empty, ``batch_axis`` is out of range, or
        the arrays of a tuple differ in size on ``batch_axis``.
    TypeError
        If the batch or an element of a tuple is not an NDArray or numpy array.

    Notes
    -----
    A slice whose array is already on its target device is a view of the batch, not a
    copy, as with ``split_and_load``. Numpy input becomes float32 NDArrays, as
    ``split_and_load`` makes it.

    Examples
    --------
    >>> import mxnet as mx
    >>> (data, label), n = split_batch((mx.nd.ones((5, 2)), mx.nd.zeros(5)),
    ...                                [mx.cpu(0), mx.cpu(1)])
    >>> n, [d.shape for d in data], [l.context for l in label]
    (5, [(3, 2), (2, 2)], [cpu(0), cpu(1)])
    """
    contexts = _normalize_ctx_list(ctx_list)
    is_sequence = isinstance(batch, (tuple, list))
    arrays = list(batch) if is_sequence else [batch]
    if not arrays:
        raise ValueError("batch is an empty tuple; expected a tuple of arrays to split")
    for i, array in enumerate(arrays):
        _check_array_type(array, i if is_sequence else None)

    axes = [_normalize_axis(batch_axis, array.shape) for array in arrays]
    num_samples = _check_num_samples(arrays, axes)

    sizes = split_sizes(num_samples, len(contexts))
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    used = contexts[: len(sizes)]
    per_array = [_split_one(array, axis, bounds, used) for array, axis in zip(arrays, axes)]

    if is_sequence:
        return tuple(per_array), num_samples
    return per_array[0], num_samples


def _normalize_ctx_list(ctx_list: Any) -> List[Context]:
    if isinstance(ctx_list, Context):
        return [ctx_list]
    if not isinstance(ctx_list, Sequence) or isinstance(ctx_list, str):
        raise TypeError(f"ctx_list={ctx_list!r} is not a list of contexts; pass e.g. "
                        "gluon_safe.devices('gpu:0,1') or [mx.gpu(0), mx.gpu(1)]")
    contexts = list(ctx_list)
    if not contexts:
        raise ValueError("ctx_list is empty; expected at least one context")
    for ctx in contexts:
        if not isinstance(ctx, Context):
            raise TypeError(f"ctx_list contains {ctx!r} of type {type(ctx).__name__}; expected "
                            "mx.Context objects such as mx.gpu(0) (gluon_safe.devices converts "
                            "strings)")
    return contexts


def _check_array_type(array: Any, position: Optional[int]) -> None:
    if isinstance(array, (NDArray, np.ndarray)):
        return
    where = "batch" if position is None else f"batch[{position}]"
    raise TypeError(f"{where} has type {type(array).__name__}; expected {_ARRAY_TYPES} "
                    "(nested tuples are not split: flatten them first)")


def _normalize_axis(batch_axis: int, shape: Sequence[int]) -> int:
    ndim = len(shape)
    if not -ndim <= batch_axis < ndim:
        raise ValueError(f"batch_axis={batch_axis} is out of range for an array of shape "
                         f"{tuple(shape)}; expected an axis in [{-ndim}, {ndim})")
    return batch_axis % ndim


def _check_num_samples(arrays: List[Any], axes: List[int]) -> int:
    sizes = [int(array.shape[axis]) for array, axis in zip(arrays, axes)]
    if len(set(sizes)) > 1:
        shapes = ", ".join(str(tuple(array.shape)) for array in arrays)
        raise ValueError(f"the arrays of the batch hold different numbers of samples {sizes} "
                         f"on batch_axis (shapes {shapes}); expected data and labels of the "
                         "same batch")
    if sizes[0] == 0:
        raise ValueError(f"the batch is empty (shape {tuple(arrays[0].shape)}, 0 samples on "
                         f"axis {axes[0]}); expected at least one sample. Check the sampler "
                         "or the dataset filter that produced it.")
    return sizes[0]


def _split_one(array: Any, axis: int, bounds: List[int], contexts: List[Context]) -> List[Any]:
    slices = []
    for ctx, start, stop in zip(contexts, bounds[:-1], bounds[1:]):
        if isinstance(array, np.ndarray):
            index = (slice(None),) * axis + (slice(start, stop),)
            slices.append(nd.array(array[index], ctx=ctx))
        elif axis == 0:
            slices.append(array[start:stop].as_in_context(ctx))
        else:
            slices.append(nd.slice_axis(array, axis=axis, begin=start, end=stop)
                          .as_in_context(ctx))
    return slices
