"""MXNet 1.9.1 quirks kept in one place.

``import mxnet`` 1.9.1 touches ``numpy.bool``, which numpy >= 1.20 reports with a
DeprecationWarning and numpy >= 1.24 removed.  The import below silences that one
warning locally, so a user's ``-W error`` run or pytest's ``filterwarnings = error``
still works, without changing the global warning filters.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import mxnet as mx
    from mxnet import autograd, gluon, nd

NDArray = mx.nd.NDArray
Context = mx.Context

__all__ = ["Context", "NDArray", "autograd", "gluon", "mx", "nd"]
