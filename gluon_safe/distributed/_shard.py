"""Giving each worker its share of a data loader.

Training shards come from :class:`~gluon_safe.ShardSampler`: disjoint, and all of the
same length, padded by repeating a few samples when the dataset does not divide by the
number of workers. With one batch size every worker then runs the same number of
batches, which ``dist_sync`` needs: a worker that pushes fewer gradients leaves the
others waiting for ever. Evaluation runs no update, so its shards are contiguous,
unpadded ranges whose sizes differ by at most one, and no sample counts twice.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Tuple

from .._compat import gluon
from ..data import DeviceDataLoader, ShardSampler

__all__ = ["evaluation_range", "shard_for_evaluation", "shard_for_training"]

logger = logging.getLogger(__name__)

_WHOLE_DATASET_SAMPLERS = (gluon.data.SequentialSampler, gluon.data.RandomSampler)


def shard_for_training(data: Any, *, rank: int, num_workers: int, seed: int) -> Any:
    """Return a loader like ``data`` that yields the training shard of worker ``rank``.

    A loader whose sampler already is the ``ShardSampler`` of this worker is returned
    as it is.

    Parameters
    ----------
    data : gluon.data.DataLoader or DeviceDataLoader
        The loader of the whole dataset; its sampler must be MXNet's default one
        (``shuffle`` True or False) or a ShardSampler.
    rank, num_workers : int
        This worker's shard and the number of shards.
    seed : int
        Seed of the shuffle, the same on every worker.

    Raises
    ------
    TypeError
        If ``data`` is not a Dataset-backed loader, or uses a batch sampler or a sampler
        of its own.
    ValueError
        If the dataset is empty, or ``data`` has the ShardSampler of another worker.
    """
    def make_sampler(sampler: Any, shuffle: bool, length: int) -> Any:
        if length == 0:
            raise ValueError("train_data has an empty dataset; every worker needs at least "
                             "one sample")
        if isinstance(sampler, ShardSampler):
            _check_own_shard(sampler, rank, num_workers, length)
            return sampler
        _check_whole_dataset(sampler, length)
        shuffled = shuffle or isinstance(sampler, gluon.data.RandomSampler)
        return ShardSampler(length, num_workers, rank, shuffle=shuffled, seed=seed)

    sharded = _rebuild(data, make_sampler, "train_data")
    logger.info("worker %d of %d trains on %d batches per epoch", rank, num_workers,
                len(sharded))
    return sharded


def shard_for_evaluation(data: Any, *, rank: int, num_workers: int) -> Any:
    """Return a loader like ``data`` that yields the evaluation range of worker ``rank``.

    See :func:`evaluation_range`. A ShardSampler in ``data`` is replaced too, so that
    its padding is not evaluated twice.

    Raises
    ------
    TypeError
        As :func:`shard_for_training`.
    """
    def make_sampler(sampler: Any, shuffle: bool, length: int) -> Any:
        if not isinstance(sampler, ShardSampler):
            _check_whole_dataset(sampler, length)
        start, count = evaluation_range(length, rank, num_workers)
        return gluon.data.SequentialSampler(count, start)

    return _rebuild(data, make_sampler, "the evaluation data")


def evaluation_range(length: int, rank: int, num_workers: int) -> Tuple[int, int]:
    """Return ``(start, count)`` of the samples that worker ``rank`` evaluates.

    The ranges are contiguous, cover ``range(length)`` once, and their counts differ by
    at most one.

    Examples
    --------
    >>> [evaluation_range(10, rank, 3) for rank in range(3)]
    [(0, 4), (4, 3), (7, 3)]
    """
    base, extra = divmod(length, num_workers)
    start = rank * base + min(rank, extra)
    return start, base + (1 if rank < extra else 0)


def _rebuild(data: Any, make_sampler: Any, name: str) -> Any:
    if isinstance(data, DeviceDataLoader):
        return _rebuild_device_loader(data, make_sampler, name)
    if isinstance(data, gluon.data.DataLoader):
        return _rebuild_dataloader(data, make_sampler, name)
    raise TypeError(
        f"{name} is a {type(data).__name__}, which distributed training cannot split "
        "between workers. Pass a gluon.data.DataLoader or a gluon_safe.DeviceDataLoader "
        "built on a Dataset, such as DataLoader(ArrayDataset(features, labels), "
        "batch_size=32, shuffle=True); each worker then gets its own shard."
    )


def _rebuild_dataloader(loader: Any, make_sampler: Any, name: str) -> Any:
    batch_sampler = loader._batch_sampler
    if type(batch_sampler) is not gluon.data.BatchSampler:
        raise TypeError(f"{name} uses the batch sampler {type(batch_sampler).__name__}, "
                        "which distributed training cannot split between workers; build "
                        "the DataLoader with batch_size and a gluon_safe.ShardSampler "
                        "instead")
    dataset = loader._dataset
    sampler = make_sampler(batch_sampler._sampler, False, len(dataset))
    if sampler is batch_sampler._sampler:
        return loader
    return gluon.data.DataLoader(
        dataset, batch_size=batch_sampler._batch_size, sampler=sampler,
        last_batch=batch_sampler._last_batch, batchify_fn=loader._batchify_fn,
        num_workers=loader._num_workers, pin_memory=loader._pin_memory,
        pin_device_id=loader._pin_device_id, prefetch=loader._prefetch,
        thread_pool=loader._thread_pool, timeout=loader._timeout,
        auto_reload=loader.auto_reload,
    )


def _rebuild_device_loader(loader: DeviceDataLoader, make_sampler: Any, name: str) -> Any:
    label_options: Dict[str, Any] = dict(ctx=loader.ctx, device_prefetch=loader._device_prefetch,
                         num_classes=loader.num_classes, ignore_label=loader.ignore_label,
                         encoder=loader.encoder)
    if not loader._owns_loader:
        inner = loader._inner
        if inner is None:
            raise TypeError(f"{name} is a DeviceDataLoader whose DataLoader failed and "
                            "cannot be split; create a new one")
        rebuilt = _rebuild_dataloader(inner, make_sampler, name)
        return loader if rebuilt is inner else DeviceDataLoader(rebuilt, **label_options)

    options: Dict[str, Any] = dict(loader._options)
    if options["batch_sampler"] is not None:
        raise TypeError(f"{name} uses a batch_sampler, which distributed training cannot "
                        "split between workers; pass batch_size and a "
                        "gluon_safe.ShardSampler instead")
    sampler = make_sampler(options["sampler"], options["shuffle"], len(loader._dataset))
    if sampler is options["sampler"]:
        return loader
    options.update(sampler=sampler, shuffle=False)
    return DeviceDataLoader(loader._dataset, **options, **label_options)


def _check_whole_dataset(sampler: Any, length: int) -> None:
    if sampler is None:
        return
    covers_all = (isinstance(sampler, _WHOLE_DATASET_SAMPLERS) and len(sampler) == length
                  and getattr(sampler, "_start", 0) == 0)
    if not covers_all:
        raise TypeError(f"the loader uses the sampler {sampler!r}, which distributed "
                        "training cannot split between workers; use shuffle=True or False "
                        "with no sampler, or a gluon_safe.ShardSampler")


def _check_own_shard(sampler: ShardSampler, rank: int, num_workers: int, length: int) -> None:
    expected = (length, num_workers, rank)
    actual = (sampler._length, sampler._num_shards, sampler._shard_index)
    if actual != expected:
        raise ValueError(
            f"the loader's {sampler!r} does not fit worker {rank} of {num_workers} on a "
            f"dataset of {length} samples; build it as ShardSampler({length}, "
            f"num_shards={num_workers}, shard_index={rank}), or pass a loader without a "
            "sampler and let fit shard it"
        )
