"""A background thread that runs an iterator ahead of its consumer, and worker time-outs.

:class:`BackgroundIterator` lets the host batchify, check and copy batches to the devices
while the caller's network computes on the previous ones.  It hands over items and
exceptions through a bounded queue, so an exception raised in the thread reaches the
consumer with its original traceback, and :meth:`BackgroundIterator.close` always stops
and joins the thread.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
from typing import Any, Generic, Iterator, Optional, TypeVar

from .._compat import mx

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ITEM, _ERROR, _END = "item", "error", "end"
_POLL_SECONDS = 0.05


def describe_worker_timeout(batch_index: int, timeout: Optional[float],
                            num_workers: Optional[int], thread_pool: Optional[bool]) -> str:
    """Compose the message for a worker time-out: the settings, /dev/shm and what to try.

    ``None`` stands for a setting the caller cannot see (a wrapped DataLoader).
    """
    waited = f"after {timeout} s " if timeout is not None else ""
    settings = ", ".join(
        f"{name}={value}"
        for name, value in (("timeout", timeout), ("num_workers", num_workers),
                            ("thread_pool", thread_pool))
        if value is not None
    )
    text = f"DataLoader workers timed out {waited}while loading batch {batch_index}"
    if settings:
        text += f" ({settings})"
    text += (". Either the dataset or its transform is slower than the time-out, a worker "
             "process died (a crash in the dataset's code ends it without an error), or the "
             "worker processes are stuck because shared memory is full.")
    if thread_pool is not True:
        text += " " + _describe_shared_memory()
    text += (" Try, in this order: a larger timeout; thread_pool=True, which passes batches "
             "without shared memory; fewer num_workers or a smaller prefetch; a larger "
             "/dev/shm (for Docker: docker run --shm-size=2g).")
    return text


def describe_dead_worker(batch_index: int, num_workers: int, error: BaseException) -> str:
    """Compose the message for a worker process that died while a batch was in flight."""
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return (f"a DataLoader worker process died while batch {batch_index} was loading "
            f"(num_workers={num_workers}): receiving its batch failed with {reason}. A "
            "worker ends without an error when the "
            "dataset's code crashes the process (a fault in a C extension, os._exit, the "
            "out-of-memory killer). Iterate with num_workers=0 to run the dataset in this "
            "process and see the failure.")


def _describe_shared_memory() -> str:
    if not os.path.isdir("/dev/shm"):
        return "Process workers pass batches through shared memory."
    usage = shutil.disk_usage("/dev/shm")
    mib = 1024 * 1024
    return (f"Process workers pass batches through shared memory, and /dev/shm has "
            f"{usage.free / mib:.0f} MiB free of {usage.total / mib:.0f} MiB.")


class BackgroundIterator(Generic[T]):
    """Iterate ``source`` in a daemon thread, keeping up to ``depth`` items ready.

    Parameters
    ----------
    source : iterator
        Consumed only by the thread. If it is a generator, the thread closes it when it
        stops, so its ``finally`` blocks run there.
    depth : int
        Maximum number of items produced but not yet consumed; at least 1.
    name : str
        Thread name, shown in debuggers and thread dumps.

    Notes
    -----
    The thread copies MXNet's NumPy-semantics flags from the thread that creates the
    iterator, because MXNet keeps them per thread.
    """

    def __init__(self, source: Iterator[T], depth: int, name: str) -> None:
        if depth < 1:
            raise ValueError(f"depth={depth} is invalid; expected an int >= 1")
        self._source = source
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        np_flags = (mx.util.is_np_shape(), mx.util.is_np_array())
        self._thread = threading.Thread(target=self._run, args=(np_flags,), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, np_flags: tuple[bool, bool]) -> None:
        mx.util.set_np(shape=np_flags[0], array=np_flags[1])
        try:
            for item in self._source:
                if self._stop.is_set():
                    return
                self._queue.put((_ITEM, item))
                if self._stop.is_set():
                    return
            self._queue.put((_END, None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._queue.put((_ERROR, error))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> BackgroundIterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, payload = self._wait_for_item()
        if kind == _ITEM:
            return payload  # type: ignore[no-any-return]
        self._finished = True
        self._thread.join()
        if kind == _ERROR:
            raise payload
        raise StopIteration

    def _wait_for_item(self) -> tuple[str, Any]:
        # A time-out on the wait lets a close() from another thread end this wait, since
        # a stopped thread puts no end marker.
        while True:
            try:
                return self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stop.is_set() or not self._thread.is_alive():
                    if self._queue.empty():
                        return (_END, None)

    def close(self) -> None:
        """Stop the thread and wait for it to end.

        The thread ends after its current item, so this returns once the item in
        progress is produced (for a DataLoader, at most its ``timeout``).
        """
        self._finished = True
        self._stop.set()
        while self._thread.is_alive():
            # Drain so that a thread blocked on a full queue can run to its stop check.
            try:
                self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                pass
        self._thread.join()

    @property
    def alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()
