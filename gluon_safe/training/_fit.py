"""``fit`` and ``evaluate``: the training loop users would otherwise write by hand."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from .._compat import Context
from .._report import format_epoch_line, metric_label
from .._types import CheckMode
from ..checks import normalize_check_mode
from ..data import devices
from ..distributed import join_run
from ..metrics import SafeAccuracy
from ._callbacks import Callback
from ._history import History
from ._loop import Run, evaluate_batches, train_epoch
from ._progress import Progress
from ._resume import Resume, restore_run
from ._seeding import epoch_seed, seed_epoch, set_sampler_epoch
from ._setup import (
    check_callbacks,
    check_distributed_checkpoints,
    check_epochs,
    check_reiterable,
    check_seed,
    copy_metrics,
    log_sources,
    make_trainer,
    prepare_network,
    resolve_ctx,
    resolve_metrics,
    rewind,
    safe_loss,
)
from ._state import FitState, RestoreParameters, StopTraining
from ._trainer_state import describe_schedule

__all__ = ["evaluate", "fit"]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

_INIT_EPOCH = 2**31 - 1
"""Pseudo-epoch whose seed drives parameter initialization, apart from every real epoch."""


def fit(
    net: Any,
    train_data: Iterable[Any],
    *,
    loss: Any,
    trainer: Any = None,
    optimizer: Any = "adam",
    optimizer_params: Optional[Dict[str, Any]] = None,
    epochs: int,
    val_data: Optional[Iterable[Any]] = None,
    metrics: Any = None,
    ctx: Any = "auto",
    callbacks: Sequence[Callback] = (),
    kvstore: Any = "device",
    seed: Optional[int] = None,
    resume_from: Union[PathLike, Resume, None] = None,
    check: CheckMode = "auto",
    verbose: bool = True,
) -> History:
    """Train ``net`` for ``epochs`` epochs and return the per-epoch values.

    Each batch is split over every device in ``ctx``; a batch with fewer samples than
    devices leaves the rest idle with zero gradients. The update divides the summed
    gradient by the true number of samples, leaving out samples whose labels are all
    ``ignore_label``. Lazy label checks are read at the end of every epoch.

    Parameters
    ----------
    net : Block
        The network. Uninitialized parameters are initialized on ``ctx`` with MXNet's
        default initializer; initialized ones are moved there.
    train_data : iterable
        A :class:`~gluon_safe.DeviceDataLoader`, a ``gluon.data.DataLoader``, an
        ``mx.io`` iterator or any iterable of ``(data, label)`` pairs. Distributed
        training needs one of the first two, built on a Dataset, which ``fit`` rebuilds
        with a :class:`~gluon_safe.ShardSampler` for this worker's shard.
    loss : Loss
        Returns one loss per sample. MXNet's ``SoftmaxCrossEntropyLoss`` and
        ``SigmoidBinaryCrossEntropyLoss`` are replaced by their gluon_safe versions
        with the same settings, unless ``check='off'``. With a safe loss's
        ``ignore_label``, ignored items add no loss and are not counted.
    trainer : gluon.Trainer, optional
        A trainer over the network's parameters on ``ctx``. The default creates a
        :class:`Trainer` from ``optimizer``, ``optimizer_params`` and ``kvstore``;
        learning-rate schedules go into ``optimizer_params['lr_scheduler']``.
    optimizer : str or Optimizer, default 'adam'
        Used when ``trainer`` is None.
    optimizer_params : dict, optional
        Used when ``trainer`` is None, such as ``{'learning_rate': 0.01}``.
    epochs : int
        Total number of epochs, resumed ones included.
    val_data : iterable, optional
        Evaluated after every epoch; its values are logged with a ``val_`` prefix.
        In distributed training each worker evaluates a share, as with ``evaluate``.
    metrics : EvalMetric, str or list of them, optional
        None means :class:`SafeAccuracy` for softmax cross-entropy,
        :class:`MultiLabelAccuracy` for sigmoid BCE, and the loss alone otherwise.
        MXNet's plain ``Accuracy`` is replaced by ``SafeAccuracy`` unless
        ``check='off'``.
    ctx : device spec, default 'auto'
        The devices, as :func:`gluon_safe.devices` accepts them. 'auto' takes a
        DeviceDataLoader's devices, else every visible GPU, else the CPU.
    callbacks : sequence of Callback, default ()
        Run in order at every hook.
    kvstore : str or KVStore, default 'device'
        Used when ``trainer`` is None. ``'dist_sync'``, ``'dist_device_sync'``,
        ``'dist_async'`` (MXNet's parameter server, in a process started by a launcher
        such as ``gluon-safe launch``) or ``'horovod'`` train on several workers: each
        trains on its shard of ``train_data`` and runs the same number of batches, the
        values in the History and the epoch lines cover all workers, only worker 0
        prints epoch lines and writes checkpoints and CSV logs, and a ``dist_async`` run
        ends with the servers' parameters on every worker. The trainer that ``fit``
        creates updates on the workers (``update_on_kvstore=False``) except with
        ``dist_async``. A trainer with a distributed kvstore (or Horovod's
        ``DistributedTrainer``) selects distributed training too.
    seed : int, optional
        Seeds initialization and every epoch from ``(seed, epoch)``, so that a run
        resumed after epoch k ends with the parameters of an uninterrupted run.
    resume_from : str, path-like or Resume, optional
        A checkpoint directory written by :class:`Checkpoint`, or one bundle in it.
        Training continues after the saved epoch, with the saved seed unless
        ``seed`` is given.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        Check mode of the losses and metrics that ``fit`` creates.
    verbose : bool, default True
        Print one line per epoch (and a progress bar on a terminal when tqdm is
        installed). The lines go to the ``gluon_safe`` logger either way.

    Returns
    -------
    History
        The values of every epoch, those of resumed epochs included.

    Raises
    ------
    LabelError
        When a label check fails, naming the batch, unless a callback's
        ``on_bad_labels`` skips the batch.
    CheckpointError
        If ``resume_from`` is missing, damaged, foreign or does not fit ``net``.
    NonFiniteError
        With ``Trainer(on_nonfinite='raise')``, on a NaN or infinite loss or gradient.
    StaleGradientError
        If some parameters get no gradient (a part of the network is unused).
    ValueError
        If an argument is invalid, the trainer is on other devices than ``ctx``, a
        resumed run changes the learning-rate schedule without a choice (see
        :class:`Resume`), or a distributed run gets a metric that cannot be combined
        over workers, or a Checkpoint while the optimizer runs on the kvstore servers.
    TypeError
        If a callback or metric has the wrong type, a batch is not a pair, or
        distributed training gets data it cannot shard.
    LaunchError
        In distributed training, if the process was not started by a launcher, or the
        workers' initial parameters differ.
    ImportError
        With ``kvstore='horovod'``, if ``horovod.mxnet`` does not import.

    Notes
    -----
    Host reads per batch: the metrics' own (MXNet's ``Accuracy`` copies labels and
    predictions to the host, as does ``SafeAccuracy`` unless its checks are lazy),
    the eager label checks of CPU labels, counting ``ignore_label`` items on a GPU,
    and ``Trainer(on_nonfinite=...)``. Everything else is read once per epoch.

    In distributed training every update divides the summed gradient by the number
    of samples of all workers' batches, ``ignore_label`` items included, since every
    worker must use the same divisor. All workers must call ``fit`` alike: with the
    same seed (or the same loaded parameters), and with callbacks that stop all of
    them at the same point (decisions on the logged, global values do).
    """
    check = normalize_check_mode(check)
    epochs = check_epochs(epochs)
    seed = check_seed(seed)
    callback_list = check_callbacks(callbacks)
    ctx_list = resolve_ctx(ctx, train_data)
    dist = join_run(kvstore, trainer)
    if dist is not None:
        train_data = dist.shard_training(train_data, seed)
        if val_data is not None:
            val_data = dist.shard_evaluation(val_data)

    loss = safe_loss(loss, check)
    train_metrics = resolve_metrics(metrics, loss, check)
    if dist is not None:
        dist.check_metrics(train_metrics)
    val_metrics = copy_metrics(train_metrics) if val_data is not None else []
    if seed is not None:
        seed_epoch(seed, _INIT_EPOCH)
    prepare_network(net, ctx_list)
    trainer = make_trainer(net, trainer, optimizer, optimizer_params, kvstore, ctx_list,
                           dist=dist)
    if dist is not None:
        check_distributed_checkpoints(dist, trainer, callback_list)

    state = FitState(
        net=net, trainer=trainer, loss=loss, metrics=train_metrics, ctx=ctx_list,
        epochs=epochs, history=History(),
        sources=log_sources(train_metrics, validation=val_data is not None),
        callbacks=callback_list, seed=seed, label_encoder=_find_encoder(train_data),
        schedule=describe_schedule(trainer._optimizer),
    )
    start = restore_run(resume_from, state) if resume_from is not None else 0
    check_reiterable(train_data, "train_data", epochs - start)
    if val_data is not None:
        check_reiterable(val_data, "val_data", epochs - start)
    primary = dist is None or dist.is_primary
    run = Run(net=net, loss=loss, trainer=trainer, metrics=train_metrics, ctx=ctx_list,
              params=list(trainer._params), callbacks=callback_list,
              progress=Progress(verbose and primary, log=primary),
              ignore_label=getattr(loss, "ignore_label", None), dist=dist)

    _act(state, [callback.on_train_begin(state) for callback in callback_list])
    if start >= epochs:
        logger.info("the checkpoint already contains all %d epochs; nothing to train", epochs)
    try:
        for epoch in range(start, epochs):
            if _run_epoch(run, state, epoch, train_data, val_data, val_metrics) is not None:
                break
    finally:
        run.progress.close()
    if dist is not None:
        dist.finish(trainer)

    _act(state, [callback.on_train_end(state) for callback in callback_list])
    return state.history


def evaluate(
    net: Any,
    data: Iterable[Any],
    *,
    metrics: Any = None,
    ctx: Any = "auto",
    check: CheckMode = "auto",
    kvstore: Any = None,
) -> Dict[str, float]:
    """Compute metrics of ``net`` over ``data`` in predict mode.

    Parameters
    ----------
    net : Block
        An initialized network.
    data : iterable
        As ``train_data`` of :func:`fit`.
    metrics : EvalMetric, str or list of them, optional
        None means :class:`SafeAccuracy`; plain ``mx.metric.Accuracy`` is replaced by
        it unless ``check='off'``.
    ctx : device spec, default 'auto'
        'auto' takes a DeviceDataLoader's devices, else the devices the network's
        parameters are on.
    check : {'auto', 'eager', 'lazy', 'off'}, default 'auto'
        Check mode of the metrics that ``evaluate`` creates.
    kvstore : str or KVStore, optional
        A distributed kvstore (as for :func:`fit`) to evaluate on all workers at once:
        each worker evaluates a contiguous share of ``data`` (a Dataset-backed
        DataLoader or DeviceDataLoader), no sample twice, and every worker gets the
        values over all of ``data``. Every worker must call ``evaluate`` then. None
        evaluates all of ``data`` here.

    Returns
    -------
    dict of str to float
        Each metric's value by name, such as ``{'accuracy': 0.93}``.

    Raises
    ------
    LabelError
        When a label check fails, naming the batch.
    ValueError
        If the network has no initialized parameters, or is not on a device of ``ctx``;
        with ``kvstore``, if a metric cannot be combined over workers.
    TypeError
        With ``kvstore``, if ``data`` cannot be sharded.
    LaunchError
        With ``kvstore``, if the process was not started by a launcher.
    """
    check = normalize_check_mode(check)
    dist = join_run(kvstore) if kvstore is not None else None
    if dist is not None:
        data = dist.shard_evaluation(data)
    ctx_list = _evaluation_ctx(net, data, ctx)
    if metrics is None:
        resolved: List[Any] = [SafeAccuracy(check=check)]
    else:
        resolved = resolve_metrics(metrics, None, check)
    if dist is not None:
        dist.check_metrics(resolved)
    rewind(data)
    values = evaluate_batches(net, data, ctx_list, resolved, dist=dist)
    logger.info("evaluate on %s: %s", ctx_list, values)
    return values


def _run_epoch(run: Run, state: FitState, epoch: int, train_data: Iterable[Any],
               val_data: Optional[Iterable[Any]], val_metrics: List[Any]) -> Optional[StopTraining]:
    state.epoch = epoch
    if state.seed is not None:
        seed_epoch(state.seed, epoch)
        logger.debug("epoch %d seeded with %d", epoch, epoch_seed(state.seed, epoch))
    set_sampler_epoch(train_data, epoch)
    stop = _act(state, [callback.on_epoch_begin(state) for callback in run.callbacks])
    if stop is not None:
        logger.info("training stopped before epoch %d: %s", epoch, stop.reason)
        return stop

    run.progress.epoch_begin(epoch, _length(train_data))
    started = time.perf_counter()
    rewind(train_data)
    batch_stop = train_epoch(run, state, train_data)
    if val_data is not None:
        rewind(val_data)
        state.logs.update(evaluate_batches(
            run.net, val_data, run.ctx, val_metrics, loss=run.loss,
            ignore_label=run.ignore_label, prefix="val_", dist=run.dist,
        ))
    elapsed = time.perf_counter() - started

    state.history.append(epoch, state.logs)
    run.progress.epoch_end(_epoch_line(epoch, elapsed, state.logs))
    stop = _act(state, [callback.on_epoch_end(state) for callback in run.callbacks])
    stop = batch_stop or stop
    if stop is not None:
        logger.info("training stopped after epoch %d: %s", epoch, stop.reason)
    return stop


def _act(state: FitState, directives: List[Any]) -> Optional[StopTraining]:
    """Carry out what the hooks returned; return the first StopTraining."""
    stop: Optional[StopTraining] = None
    for directive in directives:
        if directive is None:
            continue
        if isinstance(directive, RestoreParameters):
            state.restore_parameters(directive.values)
            logger.info("%s", directive.reason)
        elif isinstance(directive, StopTraining):
            stop = stop or directive
        else:
            raise TypeError(f"a callback hook returned {directive!r}; expected None, "
                            "StopTraining or RestoreParameters")
    return stop


def _epoch_line(epoch: int, elapsed: float, logs: Dict[str, float]) -> str:
    shown: Dict[str, float] = {}
    for key, value in logs.items():
        if key in ("loss", "val_loss"):
            continue
        if key.startswith("val_"):
            shown[metric_label("Test", key[len("val_"):])] = value
        else:
            shown[metric_label("Train", key)] = value
    ordered = dict(sorted(shown.items(), key=lambda item: not item[0].startswith("Train")))
    return format_epoch_line(epoch, elapsed, logs.get("loss"), ordered)


def _length(data: Any) -> Optional[int]:
    try:
        return len(data)
    except TypeError:
        return None


def _find_encoder(data: Any) -> Any:
    encoder = getattr(data, "label_encoder", None)
    if encoder is None:
        # DeviceDataLoader keeps the encoder of its label policy.
        encoder = getattr(getattr(data, "_labels", None), "encoder", None)
    return encoder


def _evaluation_ctx(net: Any, data: Any, ctx: Any) -> List[Context]:
    params = [p for p in net.collect_params().values() if p._data is not None]
    if not params:
        raise ValueError("the network has no initialized parameters; initialize or train it "
                         "before evaluate()")
    if isinstance(ctx, str) and ctx == "auto":
        loader_ctx = getattr(data, "ctx", None)
        ctx_list = list(loader_ctx) if loader_ctx else list(params[0].list_ctx())
    else:
        ctx_list = devices(ctx)
    missing = [c for c in ctx_list if c not in params[0].list_ctx()]
    if missing:
        raise ValueError(f"the network's parameters are on {params[0].list_ctx()}, not on "
                         f"{missing}; pass ctx='auto' or move the network with "
                         "net.collect_params().reset_ctx(...)")
    return ctx_list
