"""Drop-in replacements for MXNet's classification losses that check their labels.

Each class keeps the constructor and call signature of the MXNet loss it replaces,
adds keyword-only options, and returns MXNet's own values and gradients on valid
labels. Invalid labels raise a :class:`~gluon_safe.LabelError` that names the
offending values and their likely cause.
"""

from __future__ import annotations

from ._sigmoid import SafeSigmoidBCELoss, SafeSigmoidBinaryCrossEntropyLoss
from ._softmax import SafeSoftmaxCELoss, SafeSoftmaxCrossEntropyLoss

__all__ = [
    "SafeSigmoidBCELoss",
    "SafeSigmoidBinaryCrossEntropyLoss",
    "SafeSoftmaxCELoss",
    "SafeSoftmaxCrossEntropyLoss",
]
