"""Map raw class values to class indices 0..K-1 and back.

MXNet's losses and metrics take class indices ``0..K-1``. Raw labels are often
something else: strings, ids that start at 1 (the UCI Wine classes 1, 2, 3), or
floats read from a CSV. :class:`LabelEncoder` maps one label per sample, and
:class:`MultiLabelEncoder` maps a set of labels per sample to 0/1 indicator rows.

Both encoders sort their classes and keep the Python type of each class (int, str,
float or bool). They reject continuous-looking targets such as labels normalized to
[0, 1]. They save to a small JSON file that loads back with the same classes and types.
"""

from __future__ import annotations

from ._base import UnseenPolicy
from ._encoders import LabelEncoder, MultiLabelEncoder

__all__ = ["LabelEncoder", "MultiLabelEncoder", "UnseenPolicy"]
