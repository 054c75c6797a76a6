"""A cheap pre-test for class indices, for callers that already hold an int32 copy.

Metrics that mirror ``mx.metric.Accuracy`` cast labels with ``astype('int32')`` anyway.
With that copy at hand, two reductions tell whether the labels are certainly valid.
Only when they are not does the caller run :func:`check_class_indices`, which gives the
verdict and the message.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

_INT32_LIMIT = 2**31


def indices_are_valid(
    values: np.ndarray[Any, Any],
    as_int32: np.ndarray[Any, Any],
    num_classes: Optional[int],
    ignore_label: Optional[float] = None,
) -> bool:
    """Tell whether ``values`` are certainly class indices in ``[0, num_classes)``.

    Parameters
    ----------
    values : numpy.ndarray
        The labels as received (any numeric dtype).
    as_int32 : numpy.ndarray
        ``values.astype('int32')``.
    num_classes : int, optional
        Number of classes K. When None, only integrality and the sign are tested.
    ignore_label : float, optional
        Items equal to this value are left out of the test.

    Returns
    -------
    bool
        True if every considered value is a valid class index. False means "run the
        full check": it is never a verdict on its own, because int32 overflow (a valid
        index above 2**31 - 1 when ``num_classes`` is None) also returns False.
    """
    if ignore_label is not None:
        keep = values != ignore_label
        values = values[keep]
        as_int32 = as_int32[keep]
    if values.size == 0:
        return True

    # NaN, inf and fractional values all change under the int32 cast, so one comparison
    # covers them.
    if not (as_int32 == values).all():
        return False
    # Viewed as uint32, a negative index wraps to at least 2**31, so a single maximum
    # bounds both ends of [0, num_classes).
    upper = _INT32_LIMIT if num_classes is None else num_classes
    # int() first: comparing a numpy uint32 with a Python int costs more than the max.
    return int(as_int32.view(np.uint32).max()) < upper
