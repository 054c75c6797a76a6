"""Running the processes of a launch: start, stream output, watch, stop.

Each process starts in a session (and process group) of its own, so a Ctrl-C on the
terminal reaches only the launcher, which forwards it. Stopping sends SIGTERM to each
process group that the launcher started, by the PID of its leader, then SIGKILL to
whatever still runs after a grace period. A group includes the data loader workers that
a training process forks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

from ..errors import LaunchError
from ._plan import ProcessSpec

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TIMEOUT", "Launch"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130

_POLL_SECONDS = 0.05


@dataclass
class _Running:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    reader: threading.Thread


class Launch:
    """Start the processes of ``specs`` and watch them until they end.

    Parameters
    ----------
    specs : sequence of ProcessSpec
        The processes, started in order.
    timeout : float, optional
        Seconds after the start until every process still running is stopped; None
        waits for ever.
    grace : float, default 5
        Seconds a process gets to exit after SIGINT or SIGTERM before SIGKILL, and that
        the scheduler and servers get to exit by themselves after the last worker.
    out : text stream
        Where each process's output goes, one line at a time, prefixed by its label.
    err : text stream
        Where the launcher's own messages go.
    """

    def __init__(self, specs: Sequence[ProcessSpec], *, timeout: Optional[float],
                 grace: float = 5.0, out: IO[str], err: IO[str]) -> None:
        self.specs = list(specs)
        self.timeout = timeout
        self.grace = grace
        self.out = out
        self.err = err
        self._running: List[_Running] = []
        self._lock = threading.Lock()
        self._signal: Optional[int] = None

    def run(self) -> int:
        """Run the launch and return its exit status.

        Returns
        -------
        int
            0 when every worker exited with 0; 1 when a process failed; 124 when the
            time-out passed; 130 after Ctrl-C (SIGINT) or SIGTERM.

        Raises
        ------
        LaunchError
            If a process cannot be started; those already started are stopped first.
        """
        with _forwarded_signals(self._on_signal):
            started = time.monotonic()
            try:
                for spec in self.specs:
                    self._start(spec)
                return self._watch(started)
            finally:
                self._stop_all()

    def _start(self, spec: ProcessSpec) -> None:
        try:
            process = subprocess.Popen(
                spec.argv, env={**os.environ, **spec.env}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as error:
            raise LaunchError(f"cannot start the {spec.label}: {error}") from error
        reader = threading.Thread(target=self._stream, args=(spec.label, process.stdout),
                                  name=f"gluon_safe-launch-{spec.label}", daemon=True)
        reader.start()
        self._running.append(_Running(spec, process, reader))
        self._say(f"started {spec.label} (pid {process.pid}) on {spec.host}")

    def _watch(self, started: float) -> int:
        workers = [item for item in self._running if item.spec.role == "worker"]
        others = [item for item in self._running if item.spec.role != "worker"]
        while True:
            if self._signal is not None:
                return self._interrupted()
            failed = next((item for item in self._running
                           if item.process.poll() not in (None, 0)), None)
            if failed is not None:
                self._say(f"{failed.spec.label} failed: {_status(failed.process.returncode)}; "
                          f"stopping the {self._count_alive()} other processes")
                return EXIT_FAILED
            if all(item.process.poll() == 0 for item in workers):
                return self._finish(others)
            if self.timeout is not None and time.monotonic() - started > self.timeout:
                alive = ", ".join(item.spec.label for item in self._running
                                  if item.process.poll() is None)
                self._say(f"timed out after {self.timeout:g} s; stopping {alive}")
                return EXIT_TIMEOUT
            time.sleep(_POLL_SECONDS)

    def _finish(self, others: List[_Running]) -> int:
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(item.process.poll() is None
                                                  for item in others):
            time.sleep(_POLL_SECONDS)
        failed = [item for item in others if item.process.poll() not in (None, 0)]
        if failed:
            self._say(f"{failed[0].spec.label} failed: "
                      f"{_status(failed[0].process.returncode)}")
            return EXIT_FAILED
        lingering = [item.spec.label for item in others if item.process.poll() is None]
        if lingering:
            self._say(f"every worker finished, but {', '.join(lingering)} did not exit "
                      f"within {self.grace:g} s; stopping them")
        self._say("every worker finished")
        return EXIT_OK

    def _interrupted(self) -> int:
        name = signal.Signals(self._signal or signal.SIGINT).name
        self._say(f"received {name}; waiting up to {self.grace:g} s for the processes to exit")
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and self._count_alive():
            time.sleep(_POLL_SECONDS)
        return EXIT_INTERRUPTED

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        del frame
        first = self._signal is None
        self._signal = signum
        if first:
            for item in self._running:
                _send(item.process, signum)

    def _stop_all(self) -> None:
        alive = [item for item in self._running if item.process.poll() is None]
        for item in alive:
            _send(item.process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(item.process.poll() is None
                                                  for item in alive):
            time.sleep(_POLL_SECONDS)
        for item in alive:
            if item.process.poll() is None:
                self._say(f"{item.spec.label} (pid {item.process.pid}) ignored SIGTERM; "
                          "sending SIGKILL")
        for item in self._running:
            # Children of a leader that exited (such as data loader workers of a killed
            # worker) are still in its group and get SIGKILL too.
            _send(item.process, signal.SIGKILL)
        for item in self._running:
            item.process.wait()
            item.reader.join(timeout=self.grace)

    def _count_alive(self) -> int:
        return sum(1 for item in self._running if item.process.poll() is None)

    def _stream(self, label: str, pipe: Optional[IO[bytes]]) -> None:
        if pipe is None:
            return
        with pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._lock:
                    self.out.write(f"[{label}] {line}\n")
                    self.out.flush()

    def _say(self, message: str) -> None:
        with self._lock:
            self.err.write(f"gluon-safe launch: {message}\n")
            self.err.flush()


def _send(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the process group that ``process`` leads, else to the process.

    Linux keeps a group's ID from being reused while any member lives, so the group of
    a leader that has exited still reaches only the leader's own children.
    """
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        # No group left; send_signal reaches the process only while it is not reaped,
        # that is while its PID still belongs to it.
        process.send_signal(signum)


def _status(returncode: Optional[int]) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class _forwarded_signals:
    """Route SIGINT and SIGTERM to ``handler`` while the launch runs (main thread only)."""

    def __init__(self, handler: Callable[[int, Optional[FrameType]], None]) -> None:
        self.handler = handler
        self.previous: Dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self.handler)

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
