"""The distributed side of one ``fit`` or ``evaluate`` call."""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence, Tuple

from .._compat import nd
from ._gather import Gatherer, HorovodGatherer, KVStoreGatherer, gatherer_for_kvstore
from ._horovod import import_horovod, is_horovod_trainer
from ._kinds import HOROVOD, is_distributed, is_parameter_server, kvstore_name
from ._kvstore import create_kvstore
from ._metrics import check_combinable, metric_totals, set_metric_totals
from ._params import check_same_parameters
from ._shard import shard_for_evaluation, shard_for_training

__all__ = ["DistributedRun", "join_run"]

logger = logging.getLogger(__name__)


def join_run(kvstore: Any, trainer: Any = None) -> Optional[DistributedRun]:
    """Return the distributed run that ``kvstore`` or ``trainer`` selects, else None.

    With a trainer, the trainer's own kvstore decides, and ``kvstore`` must then be
    local or the same. A string naming a parameter-server kvstore is replaced in the
    trainer by the kvstore object of this process, so that ``fit`` learns the rank
    before the first update.

    Parameters
    ----------
    kvstore : str or KVStore
        ``'dist_sync'``, ``'dist_device_sync'``, ``'dist_async'``, ``'horovod'``, a
        distributed KVStore object, or anything local.
    trainer : gluon.Trainer, optional
        A trainer given to ``fit``.

    Raises
    ------
    ValueError
        If ``kvstore`` is distributed but the trainer is not.
    LaunchError
        If a parameter-server kvstore is requested outside a distributed launch.
    ImportError
        If Horovod is requested and ``horovod.mxnet`` does not import.
    """
    if trainer is not None:
        return _join_with_trainer(kvstore, trainer)
    if kvstore_name(kvstore) == HOROVOD:
        return _horovod_run()
    if is_parameter_server(kvstore):
        return _parameter_server_run(_kvstore_object(kvstore))
    return None


class DistributedRun:
    """Shards, update sizes and global totals of one worker in a distributed run.

    Parameters
    ----------
    name : str
        The back end: a kvstore type such as ``'dist_sync'``, or ``'horovod'``.
    gatherer : Gatherer
        Exchanges values with the other workers.
    kvstore : KVStore, optional
        The parameter-server kvstore; None with Horovod.
    hvd : module, optional
        ``horovod.mxnet``; None with the parameter server.
    """

    def __init__(self, name: str, gatherer: Gatherer, *, kvstore: Any = None,
                 hvd: Any = None) -> None:
        self.name = name
        self.gatherer = gatherer
        self.kvstore = kvstore
        self.hvd = hvd
        self.rank = gatherer.rank
        self.num_workers = gatherer.num_workers
        self._started = False
        self._fixed_batch: Optional[float] = None

    @property
    def is_primary(self) -> bool:
        """Whether this is worker 0, the one that prints, logs epochs and writes files."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"DistributedRun({self.name!r}, rank={self.rank}, num_workers={self.num_workers})"

    def shard_training(self, data: Any, seed: Optional[int]) -> Any:
        """Return the training shard of this worker (see :func:`shard_for_training`)."""
        return shard_for_training(data, rank=self.rank, num_workers=self.num_workers,
                                  seed=0 if seed is None else seed)

    def shard_evaluation(self, data: Any) -> Any:
        """Return the evaluation range of this worker (see :func:`shard_for_evaluation`)."""
        return shard_for_evaluation(data, rank=self.rank, num_workers=self.num_workers)

    def check_metrics(self, metrics: Sequence[Any]) -> None:
        """Raise ValueError for metrics whose global value cannot come from summed totals."""
        check_combinable(metrics)

    def new_trainer(self, params: Any, optimizer: Any, optimizer_params: Any) -> Any:
        """Return a ``horovod.mxnet.DistributedTrainer`` with Horovod, else None."""
        if self.hvd is None:
            return None
        logger.info("fit uses horovod.mxnet.DistributedTrainer; gluon_safe.Trainer's "
                    "clipping and non-finite guards do not apply to it")
        return self.hvd.DistributedTrainer(params, optimizer, optimizer_params)

    def updates_on_kvstore(self, trainer: Any) -> bool:
        """Tell whether ``trainer`` will update its parameters on the kvstore servers."""
        if self.kvstore is None:
            return False
        if getattr(trainer, "_kv_initialized", False):
            return bool(trainer._update_on_kvstore)
        if "async" in self.name:
            return True
        configured = trainer._kvstore_params.get("update_on_kvstore")
        # MXNet 1.9.1's default for a distributed kvstore, which MXNET_UPDATE_ON_KVSTORE=0
        # turns off.
        return True if configured is None else bool(configured)

    def step_size(self, trainer: Any, net: Any, num_samples: int) -> float:
        """Return the ``batch_size`` to pass to ``trainer.step`` for this worker's batch.

        Every worker's batch has ``num_samples`` samples, so the gradient that the
        kvstore sums stands for ``num_samples * num_workers`` of them (Horovod's trainer
        divides by the number of workers itself).

        The first call also completes the start-up, because only the first forward
        pass gives every parameter its shape. It creates the trainer's kvstore, sends
        the servers the optimizer and checks that all workers have the same
        parameters. Then it broadcasts worker 0's parameters and waits for them.

        With ``update_on_kvstore=True`` the servers keep the gradient scale of the
        first update, so a batch of another size has its gradients rescaled here to
        be divided by its own size all the same.

        Raises
        ------
        LaunchError
            If the workers' initial parameters differ.
        """
        batch = float(num_samples * (1 if self.hvd is not None else self.num_workers))
        if not self._started:
            self._start(trainer, net, batch)
        if self._fixed_batch is None:
            return batch
        if batch != self._fixed_batch:
            _scale_gradients(trainer._params, self._fixed_batch / batch)
        return self._fixed_batch

    def reduce_totals(self, loss_sum: float, kept: int,
                      metrics: Sequence[Any]) -> Tuple[float, int]:
        """Sum the loss, the sample count and the metric totals over all workers.

        The metrics receive the global totals, so their ``get()`` reports the value over
        all workers' data. Returns the global loss sum and sample count.
        """
        local = [loss_sum, float(kept), *metric_totals(metrics)]
        total = self.gatherer.allreduce_sum(local)
        set_metric_totals(metrics, total[2:])
        return float(total[0]), round(float(total[1]))

    def finish(self, trainer: Any) -> None:
        """Give every worker the servers' final parameters after ``dist_async`` training.

        Asynchronous workers pull the weights at different times, so they end with
        different ones; after waiting for all of them, each pulls the final weights.
        """
        if self.kvstore is None or "async" not in self.name or not self._started:
            return
        nd.waitall()
        self.kvstore._barrier()
        for param in trainer._params:
            self.kvstore.pull(trainer._param2idx[param.name], out=param.list_data())
        nd.waitall()

    def _start(self, trainer: Any, net: Any, batch: float) -> None:
        self._started = True
        if self.hvd is not None:
            check_same_parameters(trainer._params, self.gatherer)
            self.hvd.broadcast_parameters(net.collect_params(), root_rank=0)
        else:
            self._start_parameter_server(trainer, batch)

    def _start_parameter_server(self, trainer: Any, batch: float) -> None:
        if not trainer._kv_initialized:
            trainer._init_kvstore()
        if trainer._kvstore is not self.kvstore:
            raise ValueError(f"the trainer uses the kvstore {trainer._kvstore!r}, not the "
                             f"{self.name!r} kvstore of this run")
        if trainer._update_on_kvstore:
            # The servers keep the optimizer as sent, gradient scale included.
            trainer._optimizer.rescale_grad = trainer._scale / batch
            self._fixed_batch = batch
            if isinstance(self.gatherer, KVStoreGatherer):
                self.gatherer.install_server_optimizer(trainer._optimizer)
        check_same_parameters(trainer._params, self.gatherer)

        # _init_params broadcasts worker 0's parameters: for each key, rank 0 sends its
        # values and every worker pulls them. MXNet 1.9.1 does not order that pull before
        # the first gradient push, because with one device the push sends the gradient
        # array itself. A push that overtakes the pull makes the pull return the gradient
        # sum as parameters, which update_on_kvstore=False never repairs: 4 of 10
        # two-worker dist_device_sync runs with update_on_kvstore=False ended with
        # different parameters before this wait was added.
        if trainer._params_to_init:
            trainer._init_params()
        nd.waitall()
        logger.info("worker %d of %d: parameters checked, update_on_kvstore=%s", self.rank,
                    self.num_workers, bool(trainer._update_on_kvstore))


def _join_with_trainer(kvstore: Any, trainer: Any) -> Optional[DistributedRun]:
    if is_horovod_trainer(trainer):
        return _horovod_run()
    if getattr(trainer, "_kv_initialized", False):
        configured = trainer._kvstore
    else:
        configured = getattr(trainer, "_kvstore_params", {}).get("kvstore")
    if is_parameter_server(configured):
        kvstore_object = _kvstore_object(configured)
        if not trainer._kv_initialized:
            trainer._kvstore_params["kvstore"] = kvstore_object
        return _parameter_server_run(kvstore_object)
    if is_distributed(kvstore):
        raise ValueError(f"fit was given kvstore={kvstore_name(kvstore)!r}, but the trainer "
                         f"uses kvstore={kvstore_name(configured) or configured!r}; create the "
                         "trainer with the distributed kvstore, or let fit create it")
    return None


def _kvstore_object(kvstore: Any) -> Any:
    return create_kvstore(kvstore) if isinstance(kvstore, str) else kvstore


def _parameter_server_run(kvstore: Any) -> DistributedRun:
    return DistributedRun(str(kvstore.type), gatherer_for_kvstore(kvstore), kvstore=kvstore)


def _horovod_run() -> DistributedRun:
    hvd = import_horovod()
    return DistributedRun(HOROVOD, HorovodGatherer(hvd), hvd=hvd)


def _scale_gradients(params: Sequence[Any], factor: float) -> None:
    for param in params:
        if param.grad_req == "null" or param._data is None:
            continue
        for grad in param.list_grad():
            grad *= factor
