"""DeviceDataLoader: a Gluon DataLoader that checks labels and loads batches onto devices."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import weakref

# typeshed leaves out RemoteTraceback, the cause that Pool attaches to a worker's exception.
from multiprocessing.pool import RemoteTraceback  # type: ignore[attr-defined]
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np
from typing_extensions import Literal

from .._compat import Context, NDArray, gluon
from ..errors import WorkerTimeoutError
from ._batch import (
    DeviceBatch,
    EncodingFailure,
    IndexedBatchify,
    IndexedDataset,
    LabelPolicy,
    SupportsTransform,
    locate_label_error,
)
from ._devices import DeviceSpec, devices
from ._options import check_loader_options
from ._split import split_batch
from ._staging import BackgroundIterator, describe_dead_worker, describe_worker_timeout

logger = logging.getLogger(__name__)

LastBatch = Literal["keep", "discard", "rollover"]


def resolve_pin_memory(pin_memory: Optional[bool], pin_device_id: Optional[int],
                       ctx_list: List[Context]) -> Tuple[bool, int]:
    """Decide DataLoader's ``pin_memory`` and ``pin_device_id`` for the given devices.

    ``pin_memory=None`` turns pinning on exactly when a GPU is among ``ctx_list``, and
    ``pin_device_id=None`` pins next to the first GPU (device 0 without one). Explicit
    values are kept: pinning speeds up host-to-GPU copies and costs only page-locked
    memory, but it buys nothing on the CPU.
    """
    gpu_ids = [ctx.device_id for ctx in ctx_list if ctx.device_type == "gpu"]
    if pin_device_id is None:
        pin_device_id = gpu_ids[0] if gpu_ids else 0
    if pin_memory is None:
        pin_memory = bool(gpu_ids)
    return pin_memory, pin_device_id


class DeviceDataLoader:
    """Load batches from a dataset, check their labels and split them onto devices.

    Takes the arguments of ``gluon.data.DataLoader`` with their MXNet 1.9.1 meanings,
    or an existing ``DataLoader`` as its only positional argument, plus keyword-only
    options. Each batch unpacks as ``data, label``, each a list with one NDArray per
    device in use, as ``split_and_load`` returns, and carries ``num_samples``::

        loader = DeviceDataLoader(dataset, batch_size=64, shuffle=True, num_classes=10)
        for batch in loader:
            data, label = batch
            ...
            trainer.step(batch.num_samples)

    Parameters
    ----------
    dataset : Dataset or gluon.data.DataLoader
        The dataset, or a DataLoader to wrap. A wrapped DataLoader keeps its own options,
        so every DataLoader argument must then stay at its default.
    batch_size, shuffle, sampler, last_batch, batch_sampler, batchify_fn, num_workers, \
prefetch, thread_pool, timeout, auto_reload
        As for ``gluon.data.DataLoader``, except that invalid values raise (MXNet
        silently turns a negative ``num_workers`` into 0).
    pin_memory : bool, optional
        As for ``DataLoader``; the default None pins batches exactly when ``ctx``
        includes a GPU (see :func:`resolve_pin_memory`).
    pin_device_id : int, optional
        As for ``DataLoader``; the default None pins next to the first GPU of ``ctx``.
    ctx : device spec, default 'auto'
        The devices, in any form :func:`gluon_safe.devices` accepts; ``'auto'`` is every
        visible GPU, or the CPU without one.
    device_prefetch : int, default 2
        Batches a background thread prepares ahead of the loop: it batchifies (when
        ``num_workers=0``), checks the labels and queues the copies to the devices while
        the caller computes. 0 does all of that in the caller's thread.
    num_classes : int, optional
        Check that labels are class indices in ``[0, num_classes)``.
    ignore_label : float, optional
        A label value exempt from the check, such as -1 for padding.
    encoder : object with ``transform(values) -> numpy array``, optional
        A fitted encoder (such as :class:`gluon_safe.LabelEncoder`) applied to the raw
        labels of each batch, which may be strings. The workers apply it to the second
        field of each sample before ``batchify_fn``, so it must be picklable when
        ``num_workers > 0``. A wrapped DataLoader's labels are encoded on the host.
        Unless given, ``num_classes`` is the encoder's ``num_classes`` (or the length of
        scikit-learn's ``classes_``), and ``ignore_label`` is the encoder's
        ``ignore_label`` when it maps unseen values there (``unseen='ignore'``).

    Attributes
    ----------
    ctx : list of Context
        The devices, resolved from the ``ctx`` argument.
    pin_memory, pin_device_id : bool and int, or None
        The pinning passed to the DataLoader, as :func:`resolve_pin_memory` decides it;
        None for a wrapped DataLoader, which pins by its own options.

    Raises
    ------
    DeviceError
        If ``ctx`` names a device that does not exist.
    ValueError
        If an option is out of range or unknown, sampler options conflict as MXNet's
        DataLoader defines (``shuffle`` with ``sampler``, ``batch_size`` with
        ``batch_sampler``, neither ``batch_size`` nor ``batch_sampler``), or options are
        given together with a DataLoader to wrap.
    TypeError
        If an option has the wrong type or ``encoder`` has no ``transform`` method.
    RuntimeError
        If ``encoder`` is a gluon_safe encoder that is not fitted.

    Notes
    -----
    Labels are checked on the host, before any copy to a device, whenever
    ``num_classes``, ``ignore_label`` or ``encoder`` is given. A
    :class:`~gluon_safe.LabelError` from the check names the batch and, unless a
    DataLoader is wrapped, the dataset indices of the samples it shows (also in its
    ``sample_indices`` attribute).

    Worker processes belong to the loader, as in MXNet, and live until :meth:`close`,
    the end of a ``with`` block, or garbage collection. Leaving a loop early (break or
    exception) stops and joins the staging thread, which first finishes the batch in
    progress; CPython does this when the loop exits, other interpreters when they
    collect the iterator. After an exception in a worker, MXNet terminates the workers.
    An owned loader then starts new ones for the next epoch, but a wrapped DataLoader
    cannot be iterated with workers again.

    NOTE: with ``num_workers=0`` and ``device_prefetch > 0`` the dataset's transforms run
    in the staging thread. If they and the loop body both draw from numpy's global random
    state, the order of the draws varies from run to run; ``device_prefetch=0`` keeps
    them in one thread.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: Optional[int] = None,
        shuffle: bool = False,
        sampler: Any = None,
        last_batch: Optional[LastBatch] = None,
        batch_sampler: Any = None,
        batchify_fn: Optional[Callable[[List[Any]], Any]] = None,
        num_workers: int = 0,
        pin_memory: Optional[bool] = None,
        pin_device_id: Optional[int] = None,
        prefetch: Optional[int] = None,
        thread_pool: bool = False,
        timeout: float = 120,
        auto_reload: bool = False,
        *,
        ctx: DeviceSpec = "auto",
        device_prefetch: int = 2,
        num_classes: Optional[int] = None,
        ignore_label: Optional[float] = None,
        encoder: Optional[SupportsTransform] = None,
    ) -> None:
        loader_options = dict(
            batch_size=batch_size, shuffle=shuffle, sampler=sampler, last_batch=last_batch,
            batch_sampler=batch_sampler, batchify_fn=batchify_fn, num_workers=num_workers,
            pin_memory=pin_memory, pin_device_id=pin_device_id, prefetch=prefetch,
            thread_pool=thread_pool, timeout=timeout, auto_reload=auto_reload,
        )
        self._owns_loader = not isinstance(dataset, gluon.data.DataLoader)
        check_loader_options(loader_options, owns_loader=self._owns_loader,
                             device_prefetch=device_prefetch, num_classes=num_classes,
                             ignore_label=ignore_label, encoder=encoder)

        self.ctx: List[Context] = devices(ctx)
        # A wrapped DataLoader pins (or not) by its own options.
        self.pin_memory: Optional[bool] = None
        self.pin_device_id: Optional[int] = None
        if self._owns_loader:
            self.pin_memory, self.pin_device_id = resolve_pin_memory(pin_memory, pin_device_id,
                                                                     self.ctx)
        self._device_prefetch = device_prefetch
        self._labels = LabelPolicy(num_classes, ignore_label, encoder,
                                   encode_on_host=not self._owns_loader)
        self._lock = threading.Lock()
        self._stagers: weakref.WeakSet[BackgroundIterator[DeviceBatch]] = weakref.WeakSet()
        self._closed = False

        if self._owns_loader:
            self._dataset = dataset
            self._options = loader_options
            self._options.update(pin_memory=self.pin_memory, pin_device_id=self.pin_device_id)
            self._inner: Optional[Any] = self._make_loader()
        else:
            self._inner = dataset
        logger.debug("DeviceDataLoader on %s: pin_memory=%s, device_prefetch=%d, labels "
                     "checked: %s", self.ctx, self.pin_memory, device_prefetch,
                     self._labels.enabled)

    def _make_loader(self) -> Any:
        options = dict(self._options)
        batchify_fn = options.pop("batchify_fn")
        if batchify_fn is None:
            # The defaults MXNet 1.9.1 picks: workers stack into shared memory.
            module = gluon.data.dataloader
            use_workers = options["num_workers"] > 0
            batchify_fn = (module.default_mp_batchify_fn if use_workers
                           else module.default_batchify_fn)
        wrapped_fn = IndexedBatchify(batchify_fn, self._labels.encoder)
        return gluon.data.DataLoader(IndexedDataset(self._dataset), batchify_fn=wrapped_fn,
                                     **options)

    @property
    def sampler(self) -> Any:
        """The ``sampler`` given to the constructor (such as a ShardSampler), or None."""
        return self._options["sampler"] if self._owns_loader else None

    @property
    def encoder(self) -> Optional[SupportsTransform]:
        """The encoder applied to the raw labels, or None."""
        return self._labels.encoder

    @property
    def num_classes(self) -> Optional[int]:
        """The number of classes the labels are checked against, given or from the encoder."""
        return self._labels.num_classes

    @property
    def ignore_label(self) -> Optional[float]:
        """The label value exempt from the check, given or from the encoder."""
        return self._labels.ignore_label

    def __len__(self) -> int:
        return len(self._current_loader())

    def __iter__(self) -> Iterator[DeviceBatch]:
        """Iterate over one epoch of :class:`DeviceBatch` objects.

        Raises
        ------
        LabelError
            If a batch fails the label check or the encoder, naming the batch.
        WorkerTimeoutError
            If a DataLoader worker delivers no batch within ``timeout`` seconds.
        RuntimeError
            If the loader is closed, or a worker process died while a batch was loading
            (the connection error that revealed it is the ``__cause__``).
        Exception
            Whatever the dataset or ``batchify_fn`` raises, with its original traceback
            (for worker processes, as the ``__cause__``).
        """
        batches = self._device_batches(self._current_loader())
        if self._device_prefetch == 0:
            return batches
        return self._staged(batches)

    def _current_loader(self) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("this DeviceDataLoader is closed; create a new one to "
                                   "iterate again")
            if self._inner is None:
                logger.info("DeviceDataLoader: starting new DataLoader workers after the "
                            "previous ones failed")
                self._inner = self._make_loader()
            return self._inner

    def _staged(self, batches: Iterator[DeviceBatch]) -> Iterator[DeviceBatch]:
        stager = BackgroundIterator(batches, self._device_prefetch,
                                    name="gluon_safe-DeviceDataLoader-staging")
        with self._lock:
            self._stagers.add(stager)
        try:
            yield from stager
        finally:
            stager.close()
            with self._lock:
                self._stagers.discard(stager)

    def _device_batches(self, loader: Any) -> Iterator[DeviceBatch]:
        host_batches = iter(loader)
        try:
            index = 0
            while True:
                host_batch = self._next_host_batch(host_batches, loader, index)
                if host_batch is None:
                    return
                yield self._load(host_batch, index)
                index += 1
        finally:
            close = getattr(host_batches, "close", None)
            if close is not None:
                close()

    def _next_host_batch(self, host_batches: Iterator[Any], loader: Any,
                         index: int) -> Optional[Any]:
        try:
            return next(host_batches)
        except StopIteration:
            return None
        except multiprocessing.TimeoutError as error:
            self._discard_workers(loader)
            raise WorkerTimeoutError(self._describe_timeout(index)) from error
        except (ConnectionError, EOFError) as error:
            self._discard_workers(loader)
            if self._uses_worker_processes() and not _raised_in_worker(error):
                # The batch arrives as a shared-memory handle that is fetched from the
                # worker; a dead worker turns that into a bare connection error.
                num_workers = self._options["num_workers"]
                raise RuntimeError(describe_dead_worker(index, num_workers, error)) from error
            raise
        except Exception:
            self._discard_workers(loader)
            raise

    def _load(self, host_batch: Any, index: int) -> DeviceBatch:
        indices: Optional[np.ndarray[Any, Any]] = None
        batch = host_batch
        if self._owns_loader:
            indices, batch = host_batch
        if isinstance(batch, EncodingFailure):
            raise locate_label_error(batch.error, index, indices)

        fields = self._labels.apply(_as_fields(batch, index), index, indices)
        slices, num_samples = split_batch(fields, self.ctx)
        used = self.ctx[: len(slices[0])]
        return DeviceBatch(slices, num_samples=num_samples, batch_index=index, indices=indices,
                           ctx=used)

    def _describe_timeout(self, index: int) -> str:
        if not self._owns_loader:
            return describe_worker_timeout(index, None, None, None)
        return describe_worker_timeout(index, self._options["timeout"],
                                       self._options["num_workers"],
                                       self._options["thread_pool"])

    def _uses_worker_processes(self) -> bool:
        return (self._owns_loader and self._options["num_workers"] > 0
                and not self._options["thread_pool"])

    def _discard_workers(self, loader: Any) -> None:
        """Terminate the workers of ``loader`` after a failure, if this loader owns them."""
        if not self._owns_loader or self._options["num_workers"] == 0:
            return
        _terminate_workers(loader)
        with self._lock:
            if self._inner is loader:
                self._inner = None

    def close(self) -> None:
        """Stop the staging threads and, if the loader built its DataLoader, its workers.

        A wrapped DataLoader's workers belong to it and stay. Closing twice is harmless.
        """
        with self._lock:
            stagers = list(self._stagers)
        for stager in stagers:
            stager.close()
        with self._lock:
            self._closed = True
            loader, self._inner = self._inner, None
        if self._owns_loader and loader is not None:
            _terminate_workers(loader)

    def __enter__(self) -> DeviceDataLoader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Runs also for a half-built loader whose __init__ raised.
        if not getattr(self, "_owns_loader", False) or getattr(self, "_inner", None) is None:
            return
        try:
            _terminate_workers(self._inner)
        except Exception:  # an exception cannot leave __del__, so log it
            logger.warning("DeviceDataLoader: terminating the DataLoader workers failed",
                           exc_info=True)


def _as_fields(batch: Any, index: int) -> Tuple[Any, ...]:
    if isinstance(batch, (NDArray, np.ndarray)):
        return (batch,)
    if isinstance(batch, (list, tuple)):
        return tuple(batch)
    raise TypeError(f"batch {index} is a {type(batch).__name__}; expected batchify_fn to "
                    "return an NDArray, a numpy array, or a list or tuple of them")


def _raised_in_worker(error: BaseException) -> bool:
    # multiprocessing re-raises a worker's own exception with the worker's traceback as
    # the cause, so a dataset that raises ConnectionError itself keeps its error.
    return isinstance(error.__cause__, RemoteTraceback)


def _terminate_workers(loader: Any) -> None:
    # MXNet 1.9.1 keeps the pool in DataLoader._worker_pool and terminates it only in
    # DataLoader.__del__, which garbage collection may run late.
    pool = getattr(loader, "_worker_pool", None)
    if pool is not None:
        pool.terminate()
