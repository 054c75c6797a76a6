"""Tell whether a non-finite loss or gradient came from the batch or from the model.

A single NaN in one input value turns the whole gradient into NaN, and so every weight
after the update. When the guard of :class:`~gluon_safe.training.Trainer` trips, the
batch's data and labels are read back to name the field that held the bad value. That
read happens only on this error path, so a finite run pays nothing for it.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .._compat import NDArray

__all__ = ["BatchFields", "describe_nonfinite_fields"]

BatchFields = Mapping[str, Sequence[Any]]
"""The arrays of one batch by field name (``'data'``, ``'label'``), one entry per device."""


def describe_nonfinite_fields(fields: BatchFields) -> Tuple[Optional[Tuple[str, ...]], str]:
    """Find the fields of a batch that hold NaN or infinity, and describe them.

    Parameters
    ----------
    fields : mapping of str to sequence of arrays
        The batch's arrays by field name, each a list with one NDArray or numpy array
        per device. NDArrays are copied to the host.

    Returns
    -------
    names : tuple of str or None
        The names of the fields with a non-finite value, in the order given. The tuple is
        empty when every value is finite, and None when ``fields`` is empty.
    sentence : str
        One sentence for an error message, such as ``"The batch's data holds 1 NaN or
        infinite value, the first at data[0][2, 4]."``; empty when ``fields`` is empty.
    """
    if not fields:
        return None, ""
    names: List[str] = []
    sentences: List[str] = []
    for name, arrays in fields.items():
        count, first = _count_nonfinite(name, arrays)
        if count:
            names.append(name)
            noun = "value" if count == 1 else "values"
            sentences.append(f"The batch's {name} holds {count} NaN or infinite {noun}, "
                             f"the first at {first}.")
    if not names:
        listed = " and ".join(fields)
        sentences.append(f"The batch's {listed} are finite, so the model itself produced "
                         "the value.")
    return tuple(names), " ".join(sentences)


def _count_nonfinite(name: str, arrays: Sequence[Any]) -> Tuple[int, str]:
    count = 0
    first = ""
    for device_index, array in enumerate(arrays):
        host = array.asnumpy() if isinstance(array, NDArray) else np.asarray(array)
        if host.dtype.kind != "f":
            continue
        bad = ~np.isfinite(host)
        found = int(bad.sum())
        if found and not first:
            position = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
            first = f"{name}[{device_index}][{position}]"
        count += found
    return count, first
