"""Sigmoid binary cross-entropy that rejects targets outside [0, 1]."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .._compat import gluon
from .._types import CheckMode
from ..checks import check_binary
from ..errors import LabelShapeError
from ._base import LABEL_NAME, LabelCheckMixin

__all__ = ["SafeSigmoidBCELoss", "SafeSigmoidBinaryCrossEntropyLoss"]


class SafeSigmoidBinaryCrossEntropyLoss(
    LabelCheckMixin, gluon.loss.SigmoidBinaryCrossEntropyLoss  # type: ignore[misc]
):
    """Sigmoid binary cross-entropy loss that checks its targets first. (alias: SafeSigmoidBCELoss)

    A drop-in replacement for :class:`mxnet.gluon.loss.SigmoidBinaryCrossEntropyLoss`:
    on valid targets the loss values and gradients are MXNet's own. MXNet accepts any
    target value, and with ``{-1, 1}`` targets the loss goes negative and unbounded
    without an error. This loss raises a :class:`~gluon_safe.LabelError` instead.

    Parameters
    ----------
    from_sigmoid : bool, default False
        Whether the predictions are probabilities from a sigmoid already.
    weight : float, optional
        Global scalar weight for the loss.
    batch_axis : int, default 0
        The batch axis.
    strict : bool, default False
        False: targets may be any value in [0, 1], so soft targets work.
        True: targets must be exactly 0 or 1.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        When the targets are checked. ``'auto'`` checks targets on a CPU context at
        every call and queues checks of targets on a GPU until :meth:`flush`.
        ``'eager'`` reads the targets at every call, ``'lazy'`` reads nothing until
        :meth:`flush`, and ``'off'`` skips every check. The size check runs at every
        call in all modes but ``'off'``.
    **kwargs
        Passed to :class:`mxnet.gluon.HybridBlock` (``prefix``, ``params``).

    Raises
    ------
    ValueError
        At construction, if ``check`` is not a check mode or ``strict`` is not a bool.

    Notes
    -----
    The checks run in :meth:`forward`, which MXNet calls with NDArrays even when
    this block is hybridized. When the loss is a child of another hybridized block,
    MXNet passes Symbols instead and no target is checked.

    Examples
    --------
    >>> from gluon_safe._compat import nd
    >>> loss = SafeSigmoidBinaryCrossEntropyLoss()
    >>> pred = nd.array([[0.5], [-1.0]])
    >>> loss(pred, nd.array([1, 0])).shape
    (2,)
    >>> loss(pred, nd.array([1, -1]))
    Traceback (most recent call last):
    ...
    gluon_safe.errors.LabelRangeError: labels contain values outside [0, 1]. ...
    """

    def __init__(
        self,
        from_sigmoid: bool = False,
        weight: Optional[float] = None,
        batch_axis: int = 0,
        *,
        strict: bool = False,
        check: CheckMode = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            from_sigmoid=from_sigmoid, weight=weight, batch_axis=batch_axis, **kwargs
        )
        self._init_label_checks(check)
        if not isinstance(strict, bool):
            raise ValueError(f"strict={strict!r} is not a bool; expected True or False")
        self._strict = strict

    @property
    def strict(self) -> bool:
        """Whether targets must be exactly 0 or 1 (True) or any value in [0, 1] (False)."""
        return self._strict

    def forward(
        self, pred: Any, label: Any, sample_weight: Any = None, pos_weight: Any = None
    ) -> Any:
        """Check ``label`` in the configured mode, then compute MXNet's loss.

        Parameters
        ----------
        pred : NDArray, any shape
            Scores (or probabilities with ``from_sigmoid=True``).
        label : NDArray
            Targets with as many values as ``pred`` (MXNet reshapes them like ``pred``).
        sample_weight : NDArray, optional
            Weights broadcastable to ``pred``'s shape, e.g. (N, 1).
        pos_weight : NDArray, optional
            Weights of the positive targets, one per output, e.g. shape (1, C).

        Returns
        -------
        NDArray, shape (N,)
            The loss of each sample, averaged over the non-batch axes.

        Raises
        ------
        LabelShapeError
            If ``label`` and ``pred`` have different sizes.
        LabelRangeError
            If a target lies outside [0, 1]. ``{-1, 1}`` targets get their own hint.
        NonIntegerLabelError
            If ``strict`` and a target is neither 0 nor 1.
        NonFiniteLabelError
            If a target is NaN or infinite. In lazy mode this error and the two
            above come from :meth:`flush` instead.
        """
        self._check_labels(pred, label)
        args = [sample_weight, pos_weight]
        # Leave out trailing None arguments, so a hybridized block caches the
        # argument structure that a call of MXNet's own loss without them would.
        while args and args[-1] is None:
            args.pop()
        return super().forward(pred, label, *args)

    def _check_shapes(
        self,
        pred_shape: tuple[int, ...],
        label_shape: tuple[int, ...],
        label_values: Optional[np.ndarray[Any, Any]],
    ) -> None:
        label_size = math.prod(label_shape)
        pred_size = math.prod(pred_shape)
        if label_size == pred_size:
            return
        num_samples = _batch_size(pred_shape, self._batch_axis)
        num_outputs = pred_size // num_samples if num_samples else 0
        if num_outputs > 1 and label_size == num_samples:
            hint = (
                f"The labels hold one value per sample but the predictions have "
                f"{num_outputs} outputs per sample. For class indices use "
                "SoftmaxCrossEntropyLoss; for multi-label targets pass one 0/1 column "
                "per output."
            )
        else:
            hint = (
                "Binary cross-entropy needs one target per prediction. Check the batch "
                "split (labels and data must be split the same way) and the label reshape."
            )
        raise LabelShapeError(
            f"{LABEL_NAME} of shape {label_shape} do not match predictions of shape "
            f"{pred_shape}",
            expected=f"{pred_size} targets, shape {pred_shape}",
            hint=hint,
            name=LABEL_NAME,
        )

    def _check_values(self, pred_shape: tuple[int, ...], values: np.ndarray[Any, Any]) -> None:
        check_binary(values, strict=self._strict, name=LABEL_NAME)

    def _lazy_check_options(self, pred_shape: tuple[int, ...]) -> dict[str, Any]:
        return dict(task="binary", strict=self._strict)


SafeSigmoidBCELoss = SafeSigmoidBinaryCrossEntropyLoss


def _batch_size(pred_shape: tuple[int, ...], batch_axis: int) -> int:
    if not -len(pred_shape) <= batch_axis < len(pred_shape):
        return 0
    return pred_shape[batch_axis]
