"""Set-up steps of ``fit`` and ``evaluate``: devices, losses, metrics, network, trainer."""

from __future__ import annotations

import copy
import logging
import numbers
from typing import Any, Dict, List, Optional, Sequence

from .._compat import Context, gluon, mx
from .._types import CheckMode
from ..data import devices
from ..distributed import DistributedRun
from ..losses import SafeSigmoidBinaryCrossEntropyLoss, SafeSoftmaxCrossEntropyLoss
from ..metrics import MultiLabelAccuracy, SafeAccuracy
from ._callbacks import Callback
from ._checkpoint import Checkpoint
from ._direction import LOSS
from ._trainer import Trainer

__all__ = [
    "check_callbacks",
    "check_distributed_checkpoints",
    "check_epochs",
    "check_reiterable",
    "check_seed",
    "default_metrics",
    "log_sources",
    "make_trainer",
    "prepare_network",
    "resolve_ctx",
    "resolve_metrics",
    "rewind",
    "safe_loss",
]

logger = logging.getLogger(__name__)

# MXNet's own classes, read from the module dictionaries: while gluon_safe.patch() is
# active, the attributes mx.metric.Accuracy and gluon.loss.* resolve to the safe
# subclasses, but the dictionaries keep MXNet's classes.
_MX_ACCURACY: Any = vars(mx.metric)["Accuracy"]
_MX_SOFTMAX_CE_LOSS: Any = vars(gluon.loss)["SoftmaxCrossEntropyLoss"]
_MX_SIGMOID_BCE_LOSS: Any = vars(gluon.loss)["SigmoidBinaryCrossEntropyLoss"]


def resolve_ctx(ctx: Any, data: Any) -> List[Context]:
    """Return the devices to train on.

    ``'auto'`` takes the devices of a :class:`~gluon_safe.DeviceDataLoader` (its
    ``ctx`` attribute), else every visible GPU, else the CPU.

    Raises
    ------
    ValueError
        If ``data`` is a DeviceDataLoader on other devices than an explicit ``ctx``.
    """
    loader_ctx = getattr(data, "ctx", None)
    if not (isinstance(loader_ctx, list) and loader_ctx):
        return devices(ctx)
    if isinstance(ctx, str) and ctx == "auto":
        return list(loader_ctx)
    ctx_list = devices(ctx)
    if list(loader_ctx) != ctx_list:
        raise ValueError(f"the data loader loads onto {loader_ctx}, but fit was given "
                         f"ctx={ctx_list}; create the DeviceDataLoader with the same ctx, or "
                         "pass ctx='auto' to fit to take the loader's devices")
    return ctx_list


def safe_loss(loss: Any, check: CheckMode) -> Any:
    """Replace MXNet's softmax cross-entropy or sigmoid BCE loss by the safe equivalent.

    Only those exact classes are replaced, with the same settings, and nothing is
    replaced with ``check='off'``. Subclasses and other losses are returned as given.
    """
    if check == "off":
        return loss
    kind = type(loss)
    if kind is _MX_SOFTMAX_CE_LOSS:
        replacement: Any = SafeSoftmaxCrossEntropyLoss(
            axis=loss._axis, sparse_label=loss._sparse_label, from_logits=loss._from_logits,
            weight=loss._weight, batch_axis=loss._batch_axis, check=check,
        )
    elif kind is _MX_SIGMOID_BCE_LOSS:
        replacement = SafeSigmoidBinaryCrossEntropyLoss(
            from_sigmoid=loss._from_sigmoid, weight=loss._weight,
            batch_axis=loss._batch_axis, check=check,
        )
    else:
        return loss
    logger.info("fit uses %s in place of %s, with the same settings, to check the labels",
                type(replacement).__name__, kind.__name__)
    return replacement


def default_metrics(loss: Any, check: CheckMode) -> List[Any]:
    """Return the metrics ``metrics=None`` stands for, given the loss.

    Softmax cross-entropy gets :class:`SafeAccuracy` with the loss's class axis,
    ``num_classes`` and ``ignore_label``. Sigmoid BCE gets :class:`MultiLabelAccuracy`,
    on logits or on probabilities as the loss reads them. Other losses get none.
    """
    if isinstance(loss, _MX_SOFTMAX_CE_LOSS):
        return [SafeAccuracy(
            axis=loss._axis,
            num_classes=getattr(loss, "num_classes", None),
            ignore_label=getattr(loss, "ignore_label", None),
            one_hot=not loss._sparse_label,
            check=check,
        )]
    if isinstance(loss, _MX_SIGMOID_BCE_LOSS):
        return [MultiLabelAccuracy(from_logits=not loss._from_sigmoid, check=check)]
    return []


def resolve_metrics(metrics: Any, loss: Any, check: CheckMode) -> List[Any]:
    """Normalise the ``metrics`` argument to a list of metric objects.

    Accepts None, a metric, a registered metric name, or a list of those. MXNet's
    plain ``Accuracy`` is replaced by :class:`SafeAccuracy` with the same settings and
    the loss's ``ignore_label``, unless ``check='off'``.

    Raises
    ------
    TypeError
        If an entry is neither a metric nor a name.
    ValueError
        If two values would get the same name, or a metric is named 'loss'.
    """
    if metrics is None:
        resolved = default_metrics(loss, check)
    else:
        entries = metrics if isinstance(metrics, (list, tuple)) else [metrics]
        ignore_label = getattr(loss, "ignore_label", None)
        resolved = [_safe_metric(_as_metric(entry), check, ignore_label) for entry in entries]
    _check_unique_names(resolved)
    return resolved


def log_sources(metrics: Sequence[Any], *, validation: bool) -> Dict[str, Any]:
    """Map every epoch-log key of the run to the metric (or loss) that produces it."""
    sources: Dict[str, Any] = {"loss": LOSS}
    for metric in metrics:
        for name in metric_names(metric):
            sources[name] = metric
    if validation:
        for key, source in list(sources.items()):
            sources["val_" + key] = source
    return sources


def metric_names(metric: Any) -> List[str]:
    """Return the names a metric reports, expanding composite metrics."""
    if isinstance(metric, mx.metric.CompositeEvalMetric):
        return [name for child in metric.metrics for name in metric_names(child)]
    return [str(metric.name)]


def copy_metrics(metrics: Sequence[Any]) -> List[Any]:
    """Return independent copies of ``metrics`` (for validation), reset."""
    copies = [copy.deepcopy(metric) for metric in metrics]
    for metric in copies:
        metric.reset()
    return copies


def prepare_network(net: Any, ctx_list: List[Context]) -> None:
    """Initialize missing parameters on ``ctx_list`` and move the others there.

    Parameters without a value get MXNet's default initialization (each parameter's
    own initializer, else ``Uniform``), as ``net.initialize(ctx=ctx_list)`` would.
    """
    initialized = 0
    for param in net.collect_params().values():
        if param._data is None and not param._deferred_init:
            param.initialize(ctx=ctx_list)
            initialized += 1
        elif list(param.list_ctx()) != list(ctx_list):
            param.reset_ctx(ctx_list)
    if initialized:
        logger.info("initialized %d parameters on %s", initialized, ctx_list)


def make_trainer(net: Any, trainer: Any, optimizer: Any, optimizer_params: Any,
                 kvstore: Any, ctx_list: List[Context],
                 dist: Optional[DistributedRun] = None) -> Any:
    """Return the trainer to use: the given one, checked, or a new :class:`Trainer`.

    In a distributed run, a new trainer is Horovod's ``DistributedTrainer``, or a
    :class:`Trainer` on the run's kvstore object that updates on the workers
    (``update_on_kvstore=False``, except for ``dist_async``, which MXNet only runs on the
    servers), so that checkpoints can save the optimizer states.

    Raises
    ------
    ValueError
        If a trainer is given together with ``optimizer_params``, or its devices
        differ from ``ctx_list``.
    """
    if trainer is None and dist is not None and dist.hvd is not None:
        trainer = dist.new_trainer(net.collect_params(), optimizer, optimizer_params)
        optimizer_params = None
    if trainer is None:
        update_on_kvstore = None
        if dist is not None:
            kvstore = dist.kvstore
            update_on_kvstore = None if "async" in dist.name else False
        trainer = Trainer(net.collect_params(), optimizer, optimizer_params, kvstore=kvstore,
                          update_on_kvstore=update_on_kvstore)
    else:
        if optimizer_params is not None:
            raise ValueError("pass either trainer or optimizer_params to fit, not both: the "
                             "trainer's optimizer is already configured")
        contexts = list(trainer._contexts or [])
        if contexts != list(ctx_list):
            raise ValueError(f"the trainer's parameters are on {contexts}, but fit trains on "
                             f"{list(ctx_list)}; create the trainer after initializing the "
                             "network on the same devices, or let fit create it")
    if isinstance(trainer, Trainer):
        trainer._use_block_names(net)
    return trainer


def check_distributed_checkpoints(dist: DistributedRun, trainer: Any,
                                  callbacks: List[Callback]) -> None:
    """Raise ValueError if a Checkpoint is given but the optimizer runs on the servers.

    A checkpoint stores the optimizer states, which then live on the kvstore servers.
    """
    if not any(isinstance(callback, Checkpoint) for callback in callbacks):
        return
    if dist.updates_on_kvstore(trainer):
        raise ValueError(
            f"Checkpoint cannot save the optimizer states of a {dist.name!r} run that "
            "updates on the kvstore servers, where those states live. Pass a trainer "
            "that updates on the workers: trainer=gluon_safe.Trainer(net.collect_params(), "
            f"optimizer, optimizer_params, kvstore={dist.name!r}, update_on_kvstore=False) "
            "(dist_async always updates on the servers)."
        )


def check_reiterable(data: Any, name: str, passes: int) -> None:
    """Raise TypeError if ``data`` is a one-pass iterator but ``passes`` passes are needed.

    ``mx.io`` iterators count as re-iterable: ``fit`` calls their ``reset()``.
    """
    if passes <= 1 or isinstance(data, mx.io.DataIter):
        return
    if iter(data) is data:
        raise TypeError(f"{name} is a one-pass iterator ({type(data).__name__}), but the run "
                        f"needs {passes} passes over it; pass a list, a DataLoader or a "
                        "DeviceDataLoader instead")


def rewind(data: Any) -> None:
    """Reset an ``mx.io`` iterator before a pass; other data sources need nothing."""
    if isinstance(data, mx.io.DataIter):
        data.reset()


def check_epochs(epochs: Any) -> int:
    """Return ``epochs`` if it is a positive int, else raise ValueError."""
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is not a positive int")
    return int(epochs)


def check_seed(seed: Any) -> Optional[int]:
    """Return ``seed`` if it is None or a non-negative int, else raise ValueError."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed={seed!r} is not a non-negative int or None")
    return int(seed)


def check_callbacks(callbacks: Any) -> List[Callback]:
    """Return ``callbacks`` as a list, checking that each is a :class:`Callback`.

    Raises
    ------
    TypeError
        If an entry is not a Callback.
    """
    result = list(callbacks)
    for callback in result:
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks contains {callback!r} of type "
                            f"{type(callback).__name__}; expected gluon_safe Callback objects")
    return result


def _as_metric(entry: Any) -> Any:
    if isinstance(entry, mx.metric.EvalMetric):
        return entry
    if isinstance(entry, str):
        return mx.metric.create(entry)
    raise TypeError(f"metrics contains {entry!r} of type {type(entry).__name__}; expected an "
                    "mx.metric.EvalMetric or a registered metric name such as 'acc'")


def _safe_metric(metric: Any, check: CheckMode, ignore_label: Optional[float]) -> Any:
    if check == "off" or type(metric) is not _MX_ACCURACY:
        return metric
    logger.info("fit uses SafeAccuracy in place of mx.metric.Accuracy to check the labels")
    return SafeAccuracy(axis=metric.axis, name=metric.name, output_names=metric.output_names,
                        label_names=metric.label_names, ignore_label=ignore_label, check=check)


def _check_unique_names(metrics: Sequence[Any]) -> None:
    seen = {"loss"}
    for metric in metrics:
        for name in metric_names(metric):
            if name in seen:
                raise ValueError(f"two logged values would be named {name!r}; give the "
                                 "metric another name (the training loss is logged as 'loss')")
            seen.add(name)
