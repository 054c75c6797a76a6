"""``gluon.Trainer`` with global-norm clipping, non-finite guards and stale-gradient errors."""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from typing import Any, List, Optional, Sequence, Union

import numpy as np
from typing_extensions import Literal

from .._compat import NDArray, gluon, nd
from ..errors import LossReductionWarning, NonFiniteError, StaleGradientError
from ._grads import (
    block_names,
    describe_stale,
    gradients_by_device,
    mark_consumed,
    scale_in_place,
    squared_norm,
    stale_parameters,
    trainable,
)
from ._nonfinite import BatchFields, describe_nonfinite_fields

__all__ = ["NonFiniteAction", "Trainer"]

logger = logging.getLogger(__name__)

NonFiniteAction = Optional[Literal["raise", "skip"]]
NONFINITE_ACTIONS = (None, "raise", "skip")

_EPSILON = 1e-12
"""Keeps the clipping factor finite when the gradient norm is 0."""

_SKIPS_LOGGED_EACH = 5
"""Skipped updates logged one by one; after that, every 100th is logged."""

LossArg = Union[NDArray, Sequence[NDArray], None]
ArraysArg = Union[NDArray, Sequence[Any], None]


class Trainer(gluon.Trainer):  # type: ignore[misc]
    """A :class:`mxnet.gluon.Trainer` with gradient clipping and guards on each update.

    The constructor and :meth:`step` take MXNet's arguments with MXNet's meaning; the
    options below are keyword-only additions. With none of them set, updates are the
    ones ``gluon.Trainer`` computes.

    Parameters
    ----------
    params, optimizer, optimizer_params, kvstore, compression_params
        As :class:`mxnet.gluon.Trainer`.
    update_on_kvstore : bool, optional
        As :class:`mxnet.gluon.Trainer`. When ``clip_global_norm`` or ``on_nonfinite``
        is set, the default None becomes False, because the reduced gradients must be
        visible between the reduction and the update.
    clip_global_norm : float, optional
        Rescale the gradients so that their global L2 norm, over all parameters, is at
        most this value. The norm is the one of the gradient the optimizer applies:
        the gradient summed over all devices and divided by ``batch_size``. Runs on the
        devices and reads nothing back. With ``kvstore=None`` and several devices,
        each device keeps its own gradients, so each is clipped by its own norm.
    on_nonfinite : {None, 'raise', 'skip'}, default None
        What to do when the gradient norm, or the loss given to :meth:`step`, is NaN
        or infinite. None checks nothing and costs nothing. ``'raise'`` raises
        :class:`NonFiniteError` naming the batch; ``'skip'`` skips that update,
        counts it in :attr:`skipped_steps` and logs a warning. Both read one scalar
        per step back to the host, which waits for the backward pass to finish.

    Attributes
    ----------
    num_steps : int
        Number of updates applied by :meth:`step` and :meth:`update`.
    skipped_steps : int
        Number of updates skipped because of a non-finite value.

    Raises
    ------
    ValueError
        If ``clip_global_norm`` is not a positive finite number, ``on_nonfinite`` is
        not one of the allowed values, or either is set together with
        ``update_on_kvstore=True``.

    Notes
    -----
    ``step`` and ``update`` raise :class:`StaleGradientError` (MXNet raises a
    ``UserWarning``) when a parameter received no gradient since the last update. The
    message lists those parameters grouped by block; ``step`` with no ``backward()``
    at all since the last update gets a message of its own.
    """

    def __init__(
        self,
        params: Any,
        optimizer: Any,
        optimizer_params: Optional[dict[str, Any]] = None,
        kvstore: Any = "device",
        compression_params: Optional[dict[str, Any]] = None,
        update_on_kvstore: Optional[bool] = None,
        *,
        clip_global_norm: Optional[float] = None,
        on_nonfinite: NonFiniteAction = None,
    ) -> None:
        self.clip_global_norm = _check_clip_global_norm(clip_global_norm)
        self.on_nonfinite: NonFiniteAction = _check_on_nonfinite(on_nonfinite)
        update_on_kvstore = self._check_update_on_kvstore(update_on_kvstore)

        super().__init__(
            params,
            optimizer,
            optimizer_params=optimizer_params,
            kvstore=kvstore,
            compression_params=compression_params,
            update_on_kvstore=update_on_kvstore,
        )
        self.num_steps = 0
        self.skipped_steps = 0
        self._block_names: dict[str, str] = {}

    @property
    def guards_updates(self) -> bool:
        """Whether each update inspects the reduced gradients (clipping or a non-finite guard)."""
        return self.clip_global_norm is not None or self.on_nonfinite is not None

    def step(
        self,
        batch_size: float,
        ignore_stale_grad: bool = False,
        *,
        loss: LossArg = None,
        batch: object = None,
        data: ArraysArg = None,
        label: ArraysArg = None,
    ) -> None:
        """Reduce the gradients over the devices and update the parameters.

        Parameters
        ----------
        batch_size : int or float
            Number of samples behind the gradients; they are divided by it. Pass 1 when
            the loss is already a batch mean.
        ignore_stale_grad : bool, default False
            As :meth:`mxnet.gluon.Trainer.step`: skip parameters without a fresh
            gradient instead of raising.
        loss : NDArray or list of NDArray, optional
            The per-sample losses of this batch, one array per device. With
            ``on_nonfinite`` set they are checked together with the gradients, at no
            extra host read. A single-value loss for ``batch_size > 1`` warns with
            :class:`LossReductionWarning`, since the mean would be divided twice.
        batch : object, optional
            A label for the batch (such as its index) that errors and logs name.
        data, label : NDArray or list of NDArray, optional
            The inputs and labels of this batch, one array per device. They are read
            only when ``on_nonfinite`` finds a NaN or infinite loss or gradient, to say
            whether the batch itself held NaN or infinity.

        Raises
        ------
        ValueError
            If ``batch_size`` is not a positive number.
        StaleGradientError
            If a parameter has no fresh gradient and ``ignore_stale_grad`` is False.
        NonFiniteError
            With ``on_nonfinite='raise'``, if the loss or gradient is not finite.
        """
        _check_batch_size(batch_size)
        losses = _as_loss_list(loss)
        _warn_if_mean_loss(losses, batch_size)
        if not ignore_stale_grad:
            self._check_fresh_gradients()

        self._check_and_rescale_grad(self._scale / batch_size)
        if not self._kv_initialized:
            self._init_kvstore()
        if self._params_to_init:
            self._init_params()
        self._allreduce_grads()

        self._guarded_update(losses, batch, _batch_fields(data, label))

    def update(
        self,
        batch_size: float,
        ignore_stale_grad: bool = False,
        *,
        loss: LossArg = None,
        batch: object = None,
        data: ArraysArg = None,
        label: ArraysArg = None,
    ) -> None:
        """Update the parameters from gradients already reduced by :meth:`allreduce_grads`.

        Parameters and errors are those of :meth:`step`; MXNet additionally raises an
        ``AssertionError`` when the update runs inside the kvstore.
        """
        _check_batch_size(batch_size)
        losses = _as_loss_list(loss)
        _warn_if_mean_loss(losses, batch_size)
        if not ignore_stale_grad:
            self._check_fresh_gradients()

        if not self._kv_initialized:
            self._init_kvstore()
        if self._params_to_init:
            self._init_params()
        if self._kvstore and self._update_on_kvstore:
            # Defer to MXNet for its own message about this unsupported combination.
            super().update(batch_size, ignore_stale_grad)
        self._check_and_rescale_grad(self._scale / batch_size)

        self._guarded_update(losses, batch, _batch_fields(data, label))

    def _use_block_names(self, net: Any) -> None:
        """Name the owning block of each parameter in stale-gradient messages."""
        self._block_names = block_names(net)

    def _check_update_on_kvstore(self, update_on_kvstore: Optional[bool]) -> Optional[bool]:
        if self.clip_global_norm is None and self.on_nonfinite is None:
            return update_on_kvstore
        if update_on_kvstore:
            raise ValueError(
                "update_on_kvstore=True runs the update inside the kvstore, where the "
                "reduced gradients cannot be clipped or checked; pass "
                "update_on_kvstore=False (or leave it None) with clip_global_norm="
                f"{self.clip_global_norm!r} and on_nonfinite={self.on_nonfinite!r}"
            )
        return False

    def _check_fresh_gradients(self) -> None:
        stale = stale_parameters(self._params)
        if not stale:
            return
        trainable_params = trainable(self._params)
        parameters = tuple(param.name for param, _ in stale)
        contexts = tuple(sorted({str(ctx) for _, ctxs in stale for ctx in ctxs}))
        all_stale_everywhere = len(stale) == len(trainable_params) and all(
            param._data is not None and len(ctxs) == len(param._data) for param, ctxs in stale
        )
        if all_stale_everywhere:
            raise StaleGradientError(
                f"step() was called, but none of the {len(trainable_params)} trainable "
                "parameters has a new gradient: no backward() ran since the last step. "
                "Call loss.backward() outside autograd.record() before each "
                "trainer.step(), and call step once per backward().",
                parameters=parameters, contexts=contexts, no_backward=True,
            )
        message = describe_stale(stale, len(trainable_params), self._block_names,
                                 self._contexts)
        raise StaleGradientError(message, parameters=parameters, contexts=contexts,
                                 no_backward=False)

    def _guarded_update(self, losses: List[NDArray], batch: object, fields: BatchFields) -> None:
        if self.guards_updates and not (self._kvstore and self._update_on_kvstore):
            if not self._inspect_gradients(losses, batch, fields):
                mark_consumed(self._params)
                return
        # Freshness was checked before the reduction, so MXNet's own check would only
        # repeat it; with every gradient fresh, ignoring stale ones changes nothing.
        self._update(ignore_stale_grad=True)
        if self._kvstore and self._update_on_kvstore:
            # Only this path of MXNet's _update leaves the fresh flags set.
            mark_consumed(self._params)
        self.num_steps += 1

    def _inspect_gradients(self, losses: List[NDArray], batch: object,
                           fields: BatchFields) -> bool:
        """Clip and check the reduced gradients; return False to skip this update."""
        groups = self._norm_groups()
        if not groups:
            return True
        squared = [squared_norm(reference) for reference, _ in groups]

        if self.on_nonfinite is not None:
            source = _first_nonfinite(squared, losses)
            if source is not None:
                return self._handle_nonfinite(source, batch, fields)

        if self.clip_global_norm is not None:
            rescale = float(self._optimizer.rescale_grad)
            for norm_squared, (_, grads) in zip(squared, groups):
                norm = nd.sqrt(norm_squared) * rescale
                factor = nd.minimum(self.clip_global_norm / (norm + _EPSILON),
                                    nd.ones_like(norm))
                scale_in_place(grads, factor)
        return True

    def _norm_groups(self) -> List[tuple[List[NDArray], List[NDArray]]]:
        """Return (gradients that define the norm, gradients to scale) per replica.

        After a kvstore reduction every device has the same summed gradient, so the
        first device's copy defines the norm for all of them. Without a kvstore each
        device is a replica of its own.
        """
        by_device = gradients_by_device(self._params)
        if not by_device:
            return []
        device_grads = list(by_device.values())
        if self._kvstore:
            every_grad = [grad for grads in device_grads for grad in grads]
            return [(device_grads[0], every_grad)]
        return [(grads, grads) for grads in device_grads]

    def _handle_nonfinite(self, source: str, batch: object, fields: BatchFields) -> bool:
        where = f"batch {batch}" if batch is not None else f"update {self.num_steps}"
        names, cause = describe_nonfinite_fields(fields)
        if names:
            fix = "Repair or drop the samples with NaN or inf"
        else:
            fix = "Lower the learning rate, set clip_global_norm, or check the inputs of this batch"
        if self.on_nonfinite == "raise":
            raise NonFiniteError(
                f"{where}: the {source} is NaN or infinite, after {self.num_steps} "
                f"updates. {cause + ' ' if cause else ''}{fix}; on_nonfinite='skip' skips "
                "such updates instead.",
                source=source, batch=batch, step=self.num_steps, nonfinite_fields=names,
            )
        self.skipped_steps += 1
        if self.skipped_steps <= _SKIPS_LOGGED_EACH or self.skipped_steps % 100 == 0:
            logger.warning("%s: skipped the update because the %s is NaN or infinite "
                           "(%d updates skipped so far). %s", where, source,
                           self.skipped_steps, cause)
        return False


def _batch_fields(data: ArraysArg, label: ArraysArg) -> BatchFields:
    fields = {"data": _as_loss_list(data), "label": _as_loss_list(label)}
    return {name: arrays for name, arrays in fields.items() if arrays}


def _check_clip_global_norm(value: Any) -> Optional[float]:
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value)) or value <= 0):
        raise ValueError(f"clip_global_norm={value!r} is not a positive finite number; "
                         "pass the maximum global gradient norm, such as 1.0, or None")
    return float(value)


def _check_on_nonfinite(value: Any) -> NonFiniteAction:
    if value not in NONFINITE_ACTIONS or isinstance(value, bool):
        raise ValueError(f"on_nonfinite={value!r} is not supported; expected one of "
                         "None, 'raise', 'skip'")
    return value  # type: ignore[no-any-return]


def _check_batch_size(batch_size: Any) -> None:
    if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Real)
            or not float(batch_size) > 0):
        raise ValueError(f"batch_size={batch_size!r} is not a positive number; pass the "
                         "number of samples behind the gradients (1 for a loss that is "
                         "already a batch mean)")


def _as_loss_list(loss: LossArg) -> List[NDArray]:
    if loss is None:
        return []
    if isinstance(loss, NDArray):
        return [loss]
    return list(loss)


def _warn_if_mean_loss(losses: List[NDArray], batch_size: float) -> None:
    # One value per device for more samples than devices: the loss averaged its batch.
    if losses and len(losses) < batch_size and all(int(loss.size) == 1 for loss in losses):
        warnings.warn(
            f"the loss is a single value per device but step() divides the gradient by "
            f"batch_size={batch_size}, so a batch-mean loss is normalized twice and "
            "trains with a learning rate batch_size times too small. Return one loss "
            "per sample, or call step(1) for a loss that is already a mean.",
            LossReductionWarning,
            stacklevel=3,
        )


def _first_nonfinite(squared: List[NDArray], losses: List[NDArray]) -> Optional[str]:
    """Read the gradient norms and loss sums in one host transfer; name the first bad one."""
    ctx = squared[0].context
    values = [s.as_in_context(ctx) for s in squared]
    values += [nd.sum(loss).reshape((1,)).as_in_context(ctx) for loss in losses]
    host = nd.concat(*values, dim=0).asnumpy() if len(values) > 1 else values[0].asnumpy()
    finite = np.isfinite(host)
    if not finite[len(squared):].all():
        return "loss"
    if not finite[: len(squared)].all():
        return "gradient"
    return None
