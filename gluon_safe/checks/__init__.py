"""Label checks: pure numpy functions, their lazy NDArray twins and shape checks.

Every other module of gluon_safe validates labels through this package; none
re-implements a check.  Each ``check_*`` function returns None for valid labels and
raises a :class:`~gluon_safe.errors.LabelError` subclass that names the likely cause.

Check modes, shared by metrics, losses and loaders:

``'auto'`` (default)
    Host labels (numpy, or NDArrays on a CPU context) are checked at once with numpy;
    labels on a GPU are checked lazily.
``'eager'``
    Copy labels to the host and check them at every call, raising at once.
``'lazy'``
    Queue the check on the labels' device (:class:`LazyLabelCheck`); the verdict is read
    only at flush points (``get()``, ``flush()``, the end of each epoch in ``fit``).
    Weight updates already applied after a bad batch are the price of this mode.
``'off'``
    No checks.
"""

from ._diagnose import describe_indices
from ._host import (
    ROW_SUM_ATOL,
    as_label_array,
    check_binary,
    check_class_indices,
    check_multilabel,
    check_probability_rows,
)
from ._layout import check_sparse_layout
from ._lazy import LazyLabelCheck, is_host_array
from ._mode import normalize_check_mode, resolve_check_mode
from ._target import TargetType, infer_target_type

__all__ = [
    "ROW_SUM_ATOL",
    "LazyLabelCheck",
    "TargetType",
    "as_label_array",
    "check_binary",
    "check_class_indices",
    "check_multilabel",
    "check_probability_rows",
    "check_sparse_layout",
    "describe_indices",
    "infer_target_type",
    "is_host_array",
    "normalize_check_mode",
    "resolve_check_mode",
]
