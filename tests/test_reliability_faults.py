"""Reliability: injected faults, with a bound on every wait.

A ``fit`` process killed with SIGKILL and resumed, checkpoint files truncated at random
byte offsets, and DataLoader workers that raise or die. Every child process is started
and stopped by PID here, every wait has a timeout, and each test has a pytest time limit.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe import (
    Checkpoint,
    CheckpointError,
    DeviceDataLoader,
    EarlyStopping,
    WorkerTimeoutError,
    fit,
    load_checkpoint,
)
from gluon_safe._compat import gluon, mx, nd
from gluon_safe.training._bundle import LATEST, read_pointer

KILLED = "fit killed with SIGKILL, then resumed"
KILLED_ANY_TIME = "fit killed at a random moment, even while writing a checkpoint"
TRUNCATED = "checkpoint file truncated at a random byte offset"
WORKER_RAISES = "data-loader worker raises"
WORKER_DIES = "data-loader worker process dies"

pytestmark = pytest.mark.timeout(300)

START_TIMEOUT = 120
"""Seconds a child process may take to import MXNet and reach the agreed point."""

EPOCHS = 4

TRAIN_SCRIPT = r'''
"""Train a small network with checkpoints; optionally pause at one batch to be killed."""
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from gluon_safe import Callback, Checkpoint, DeviceDataLoader, fit
from gluon_safe._compat import gluon, mx

options = json.loads(sys.argv[1])


def mark(path):
    """Create ``path`` atomically with this process's PID, for the parent to read."""
    with open(path + ".tmp", "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(path + ".tmp", path)


class Pause(Callback):
    def on_train_begin(self, state):
        if options.get("started"):
            mark(options["started"])

    def on_batch_end(self, state):
        if [state.epoch, state.batch] == options.get("pause"):
            mark(options["ready"])
            time.sleep(600)


rng = np.random.RandomState(0)
features = rng.randn(96, 8).astype(np.float32)
labels = (features[:, 0] > 0).astype(np.float32) + (features[:, 1] > 0.5)
net = gluon.nn.HybridSequential()
net.add(gluon.nn.Dense(16, in_units=8, activation="relu"), gluon.nn.Dropout(0.3),
        gluon.nn.Dense(3, in_units=16))
ctx = [mx.cpu(0), mx.cpu(1)]
data = DeviceDataLoader(gluon.data.ArrayDataset(features, labels), batch_size=16, shuffle=True,
                        ctx=ctx, device_prefetch=0)
fit(net, data, loss=gluon.loss.SoftmaxCrossEntropyLoss(), optimizer="adam",
    optimizer_params={"learning_rate": 0.01}, epochs=options["epochs"], ctx=ctx, seed=7,
    callbacks=[Checkpoint(options["directory"], keep_last=None), Pause()],
    resume_from=options["directory"] if options.get("resume") else None, verbose=False)
net.save_parameters(options["params"])
'''


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def start_training(script: Path, **options: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), json.dumps(options)],
                            cwd=script.parent, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, timeout: float = START_TIMEOUT) -> str:
    """Wait for ``process`` to exit; kill it by PID if it outlives ``timeout``."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise
    return output.decode(errors="replace")


def stop(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` by its PID if it still runs, and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


def train(script: Path, **options: Any) -> None:
    process = start_training(script, **options)
    output = finish(process)
    assert process.returncode == 0, output


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"training exited with {process.returncode} before "
                                 f"{path.name}: {process.communicate()[0].decode()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.05)


def saved_params(path: Path) -> dict[str, np.ndarray]:
    return {name: array.asnumpy() for name, array in nd.load(str(path)).items()}


def assert_same_params(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for name, value in actual.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


@pytest.fixture(scope="module")
def training(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], float]:
    """The training script, the parameters of its uninterrupted run, and its duration.

    The duration runs from the start of ``fit`` to the exit of the process, so random
    kill times can be drawn inside it on any machine.
    """
    root = tmp_path_factory.mktemp("training")
    script = root / "train.py"
    script.write_text(TRAIN_SCRIPT)
    started = root / "started"
    process = start_training(script, directory=str(root / "uninterrupted"), epochs=EPOCHS,
                             started=str(started), params=str(root / "uninterrupted.params"))
    wait_for_file(started, process, START_TIMEOUT)
    begin = time.monotonic()
    output = finish(process)
    duration = time.monotonic() - begin
    assert process.returncode == 0, output
    return script, saved_params(root / "uninterrupted.params"), duration


# --- SIGKILL during fit --------------------------------------------------------------------

@pytest.mark.reliability(
    KILLED,
    input="SIGKILL in the middle of epoch 2 of 4 (seed set, 2 devices, dropout, shuffling)",
    mxnet="not tried",
    gluon_safe="the checkpoint holds epochs 0 and 1, so only the unfinished epoch is lost; "
               "the resumed run ends with the parameters of an uninterrupted run",
)
@pytest.mark.slow
def test_fit_killed_mid_epoch_resumes_exactly(training, tmp_path):
    script, expected, _ = training
    directory = tmp_path / "checkpoints"
    ready = tmp_path / "ready"
    process = start_training(script, directory=str(directory), epochs=EPOCHS, pause=[2, 3],
                             ready=str(ready), params=str(tmp_path / "never.params"))
    try:
        wait_for_file(ready, process, START_TIMEOUT)
        assert int(ready.read_text()) == process.pid
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == -signal.SIGKILL

    assert load_checkpoint(directory).epoch == 1
    train(script, directory=str(directory), epochs=EPOCHS, resume=True,
          params=str(tmp_path / "resumed.params"))
    assert_same_params(saved_params(tmp_path / "resumed.params"), expected)


@pytest.mark.reliability(
    KILLED_ANY_TIME,
    input="SIGKILL at a random moment of the run, three times (a kill may land inside a "
          "checkpoint write)",
    mxnet="not tried",
    gluon_safe="latest always names a complete bundle (or none exists yet); resuming "
               "reaches the uninterrupted parameters",
)
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_killed_at_random_moment_resumes(training, tmp_path, seed):
    script, expected, duration = training
    directory = tmp_path / "checkpoints"
    started = tmp_path / "started"
    process = start_training(script, directory=str(directory), epochs=EPOCHS,
                             started=str(started), params=str(tmp_path / "first.params"))
    try:
        wait_for_file(started, process, START_TIMEOUT)
        time.sleep(random.Random(seed).uniform(0.0, duration))
    finally:
        stop(process)

    latest = read_pointer(str(directory), LATEST) if directory.exists() else None
    if latest is not None:
        bundle = load_checkpoint(directory)
        assert 0 <= bundle.epoch < EPOCHS
    train(script, directory=str(directory), epochs=EPOCHS, resume=latest is not None,
          params=str(tmp_path / "resumed.params"))
    assert_same_params(saved_params(tmp_path / "resumed.params"), expected)
    assert not [name for name in os.listdir(directory) if name.startswith(".tmp-")]


# --- truncated checkpoint files --------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("saved") / "checkpoints"
    rng = np.random.RandomState(3)
    features = rng.randn(24, 4).astype(np.float32)
    labels = rng.randint(0, 3, 24).astype(np.float32)
    net = gluon.nn.Dense(3, in_units=4)
    fit(net, [(nd.array(features[i:i + 8]), nd.array(labels[i:i + 8])) for i in (0, 8, 16)],
        loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=2, ctx=mx.cpu(0), seed=1,
        callbacks=[Checkpoint(directory, keep_last=None), EarlyStopping("loss", patience=5)],
        verbose=False)
    return directory


def latest_files(directory: Path) -> list[Path]:
    bundle = directory / read_pointer(str(directory), LATEST)
    return [*sorted(bundle.iterdir()), directory / LATEST]


@pytest.mark.reliability(
    TRUNCATED,
    input="each file of the latest bundle (parameters, optimizer states, arrays, manifest) "
          "and the latest pointer, cut at a random byte offset",
    mxnet="not tried",
    gluon_safe="CheckpointError naming the truncated file",
)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_truncated_checkpoint_names_file(checkpoint_dir, data):
    files = latest_files(checkpoint_dir)
    chosen = data.draw(st.sampled_from(files), label="file")
    size = chosen.stat().st_size
    # Dropping only the newline of the pointer leaves a valid name.
    last = size - 2 if chosen.name == LATEST else size - 1
    offset = data.draw(st.integers(0, last), label="offset")

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "checkpoints"
        shutil.copytree(checkpoint_dir, copy)
        damaged = copy / chosen.relative_to(checkpoint_dir)
        with open(damaged, "r+b") as handle:
            handle.truncate(offset)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(copy)
        assert str(damaged) in str(info.value)


@pytest.mark.reliability(TRUNCATED)
def test_resume_truncated_parameters_raises(checkpoint_dir, tmp_path):
    copy = tmp_path / "checkpoints"
    shutil.copytree(checkpoint_dir, copy)
    params = copy / read_pointer(str(copy), LATEST) / "model.params"
    with open(params, "r+b") as handle:
        handle.truncate(params.stat().st_size // 3)
    with pytest.raises(CheckpointError, match=f"checkpoint file {params} is truncated"):
        fit(gluon.nn.Dense(3, in_units=4), [(nd.ones((2, 4)), nd.array([0, 1]))],
            loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=3, ctx=mx.cpu(0),
            resume_from=copy, verbose=False)


# --- data-loader workers that raise or die ------------------------------------------------------

class RecordingDataset:
    """Samples ``(index, 0)`` that record their worker's PID; one index raises or exits."""

    def __init__(self, pid_dir: str, bad_index: int, crash: bool, length: int = 16) -> None:
        self.pid_dir = pid_dir
        self.bad_index = bad_index
        self.crash = crash
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.float32]:
        Path(self.pid_dir, str(os.getpid())).touch()
        if index == self.bad_index:
            if self.crash:
                os._exit(3)
            raise RuntimeError(f"sample {index} is corrupt")
        return np.full(2, index, dtype=np.float32), np.float32(0)


def worker_pids(pid_dir: Path) -> set[int]:
    return {int(name) for name in os.listdir(pid_dir)} - {os.getpid()}


def is_running(pid: int) -> bool:
    """Tell whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def assert_workers_stopped(pid_dir: Path, timeout: float = 10) -> None:
    """Wait until every recorded worker is gone; kill stragglers by PID and fail."""
    pids = worker_pids(pid_dir)
    assert pids, "no worker process read a sample"
    deadline = time.monotonic() + timeout
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in pids if is_running(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == [], f"worker processes {alive} outlived the error"


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"),
                                reason="reads process states from /proc (Linux)")


def crash_loader(pid_dir: Path, *, crash: bool, **options: Any) -> DeviceDataLoader:
    dataset = RecordingDataset(str(pid_dir), bad_index=5, crash=crash)
    return DeviceDataLoader(dataset, batch_size=4, num_workers=1, timeout=5, ctx=[mx.cpu(0)],
                            **options)


def close_mxnet_loader(loader: gluon.data.DataLoader) -> None:
    # MXNet 1.9.1 terminates its worker pool only when the DataLoader is collected.
    pool = getattr(loader, "_worker_pool", None)
    if pool is not None:
        pool.terminate()


@pytest.mark.reliability(WORKER_RAISES, role="mxnet")
def test_mxnet_worker_exception_reaches_caller(tmp_path):
    loader = gluon.data.DataLoader(RecordingDataset(str(tmp_path), bad_index=5, crash=False),
                                   batch_size=4, num_workers=1, timeout=5)
    try:
        with pytest.raises(RuntimeError, match="sample 5 is corrupt"):
            list(loader)
    finally:
        close_mxnet_loader(loader)


@pytest.mark.reliability(
    WORKER_RAISES,
    input="Dataset.__getitem__ raises in a worker process (num_workers=1)",
    mxnet="the exception reaches the caller",
    gluon_safe="the exception reaches the caller of fit with the worker's traceback as its "
               "cause; the workers are terminated",
)
@needs_proc
def test_fit_surfaces_worker_exception(tmp_path):
    loader = crash_loader(tmp_path, crash=False)
    try:
        with pytest.raises(RuntimeError, match="sample 5 is corrupt") as info:
            fit(gluon.nn.Dense(2, in_units=2), loader, loss=gluon.loss.SoftmaxCrossEntropyLoss(),
                epochs=1, verbose=False)
        assert 'raise RuntimeError(f"sample {index} is corrupt")' in str(info.value.__cause__)
        assert_workers_stopped(tmp_path)
    finally:
        loader.close()


@pytest.mark.reliability(WORKER_DIES, role="mxnet")
def test_mxnet_dead_worker_bare_error(tmp_path):
    loader = gluon.data.DataLoader(RecordingDataset(str(tmp_path), bad_index=5, crash=True),
                                   batch_size=4, num_workers=1, timeout=5)
    try:
        with pytest.raises((ConnectionError, EOFError, multiprocessing.TimeoutError)) as info:
            list(loader)
        assert "worker" not in str(info.value)
    finally:
        close_mxnet_loader(loader)


@pytest.mark.reliability(
    WORKER_DIES,
    input="a worker process exits (os._exit) while loading (num_workers=1, timeout=5)",
    mxnet="a bare ConnectionRefusedError or ConnectionResetError, or a time-out that names "
          "no cause",
    gluon_safe="an error that says a worker process died and how to see why; the workers "
               "are terminated",
)
@needs_proc
@pytest.mark.parametrize("device_prefetch", [0, 2])
def test_loader_dead_worker_named(tmp_path, device_prefetch):
    loader = crash_loader(tmp_path, crash=True, device_prefetch=device_prefetch)
    started = time.monotonic()
    try:
        with pytest.raises((RuntimeError, WorkerTimeoutError), match="worker process died"):
            list(loader)
        assert time.monotonic() - started < 30
        assert_workers_stopped(tmp_path)
    finally:
        loader.close()


@pytest.mark.reliability(WORKER_DIES)
@needs_proc
def test_fit_surfaces_dead_worker(tmp_path):
    loader = crash_loader(tmp_path, crash=True)
    try:
        with pytest.raises((RuntimeError, WorkerTimeoutError), match="worker process died"):
            fit(gluon.nn.Dense(2, in_units=2), loader, loss=gluon.loss.SoftmaxCrossEntropyLoss(),
                epochs=1, verbose=False)
        assert_workers_stopped(tmp_path)
    finally:
        loader.close()


def test_is_running_tells_live_from_reaped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    assert is_running(os.getpid())
    assert not is_running(child.pid)
