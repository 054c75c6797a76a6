"""Reliability: distributed runs, checkpoints and a worker killed mid-run.

Each test starts ``python -m gluon_safe.launch`` on 127.0.0.1 with a scheduler, one
server and one or two workers, bounds it with the launcher's ``--timeout`` and a
subprocess time-out, and stops by PID every process the launcher reported.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gluon_safe._compat import nd
from gluon_safe.training._bundle import LATEST, list_bundles, read_bundle, read_pointer

SAVE_STATES = "save_states under dist_sync"
WORKER_KILLED = "distributed worker killed mid-run"

LAUNCH_TIMEOUT = 60
"""Seconds the launcher gives one run; a 1-epoch run takes a few seconds on 2 cores."""

START_TIMEOUT = 60
"""Seconds the killed-worker test waits for the first epoch line before it kills."""

STOP_BOUND = 20
"""Seconds from the kill to the launcher's exit: its 5 s grace for SIGTERM, then SIGKILL,
plus the time to notice the failure and to reap the processes on a loaded machine."""

TRAIN_SCRIPT = str(Path(__file__).with_name("_distributed_train.py"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(LAUNCH_TIMEOUT + 90)]

WORKER_SCRIPT = r'''
"""A worker of the tests in test_reliability_distributed.py; MODE is the first argument.

mxnet: a plain gluon.Trainer with update_on_kvstore=True calls save_states.
checkpoint: gluon_safe.fit with a Checkpoint and the trainer that fit creates.
refused: gluon_safe.fit with a Checkpoint and a trainer that updates on the servers.
Each worker writes result-<rank>.json (and for checkpoint, state-<rank>.npz) in OUTDIR.
"""
import json
import logging
import os
import sys

import numpy as np

import gluon_safe
from gluon_safe._compat import autograd, gluon, mx
from gluon_safe.distributed import worker_rank
from gluon_safe.training._trainer_state import parameter_keys

SAMPLES, BATCH_SIZE = 40, 8


def make_net():
    mx.random.seed(0)
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize(mx.init.Xavier())
    return net


def make_arrays():
    rng = np.random.RandomState(0)
    features = rng.rand(SAMPLES, 4).astype("float32")
    labels = rng.randint(0, 3, SAMPLES).astype("float32")
    return features, labels


class RecordState(gluon_safe.Callback):
    """Store this worker's rank, parameters and Adam states at the end of training."""

    def on_train_end(self, state):
        trainer, net = state.trainer, state.net
        self.rank = worker_rank(trainer)
        arrays = {f"param/{name}": param.data().asnumpy()
                  for name, param in net._collect_params_with_prefix().items()}
        keys = parameter_keys(net, trainer)
        for index, states in trainer._updaters[0].states.items():
            for position, array in enumerate(states):
                arrays[f"state/{keys[index]}/{position}"] = array.asnumpy()
        self.arrays = arrays
        self.on_kvstore = bool(trainer._update_on_kvstore)
        self.num_update = int(trainer._optimizer.num_update)


def save_states_plain(outdir):
    net = make_net()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01},
                            kvstore="dist_sync", update_on_kvstore=True)
    features, labels = make_arrays()
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(mx.nd.array(features[:BATCH_SIZE])),
                                                     mx.nd.array(labels[:BATCH_SIZE]))
    loss.backward()
    trainer.step(BATCH_SIZE)
    result = {"rank": int(trainer._kvstore.rank), "kvstore": str(trainer._kvstore.type),
              "update_on_kvstore": bool(trainer._update_on_kvstore)}
    try:
        trainer.save_states(os.path.join(outdir, "trainer.states"))
    except AssertionError as error:
        result.update(error=type(error).__name__, message=str(error))
    return result


def fit_with_checkpoint(outdir, trainer):
    net = make_net()
    if trainer == "server":
        trainer = gluon_safe.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01},
                                     kvstore="dist_sync", update_on_kvstore=True)
        options = {"trainer": trainer}
    else:
        options = {"optimizer": "adam", "optimizer_params": {"learning_rate": 0.01},
                   "kvstore": "dist_sync"}
    record = RecordState()
    dataset = gluon.data.ArrayDataset(*make_arrays())
    loader = gluon.data.DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
    checkpoint = gluon_safe.Checkpoint(os.path.join(outdir, "checkpoints"))
    try:
        gluon_safe.fit(net, loader, loss=gluon.loss.SoftmaxCrossEntropyLoss(), epochs=1,
                       seed=0, callbacks=[checkpoint, record], **options)
    except ValueError as error:
        return {"rank": worker_rank(options.get("trainer")), "error": type(error).__name__,
                "message": str(error)}
    np.savez(os.path.join(outdir, f"state-{record.rank}.npz"), **record.arrays)
    return {"rank": record.rank, "update_on_kvstore": record.on_kvstore,
            "num_update": record.num_update}


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(levelname)s %(name)s: %(message)s")
    mode, outdir = sys.argv[1], sys.argv[2]
    if mode == "mxnet":
        result = save_states_plain(outdir)
    else:
        result = fit_with_checkpoint(outdir, "server" if mode == "refused" else "fit")
    with open(os.path.join(outdir, f"result-{result['rank']}.json"), "w") as out:
        json.dump(result, out)


main()
'''


def started_pids(err):
    """Return the PIDs of the processes the launcher reported, by their labels."""
    return {label: int(pid)
            for label, pid in re.findall(r"started (\w+(?: \d+)?) \(pid (\d+)\)", err)}


def is_running(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop_leftovers(pids):
    # Each process the launcher starts leads its own process group.
    for pid in pids:
        if is_running(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def launch_command(script_args, *, workers):
    return [sys.executable, "-m", "gluon_safe.launch", "-n", str(workers), "-s", "1",
            "--timeout", str(LAUNCH_TIMEOUT), "--", sys.executable, *script_args]


def launch(script_args, *, workers, cwd):
    """Run a launch to its end; return (exit status, stdout, stderr, PIDs by label)."""
    process = subprocess.Popen(launch_command(script_args, workers=workers), cwd=cwd,
                               env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=LAUNCH_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    pids = started_pids(err)
    stop_leftovers(pids.values())
    return process.returncode, out, err, pids


def run_worker_script(tmp_path, mode, *, workers):
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT, encoding="utf-8")
    status, out, err, pids = launch([str(script), mode, str(tmp_path)], workers=workers,
                                    cwd=tmp_path)
    assert status == 0, out + err
    assert [label for label, pid in pids.items() if is_running(pid)] == []
    results = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("result-*.json"))]
    assert len(results) == workers, out + err
    return results, out


@pytest.mark.reliability(SAVE_STATES, role="mxnet")
def test_mxnet_save_states_dist_sync_asserts(tmp_path):
    (result,), _ = run_worker_script(tmp_path, "mxnet", workers=1)
    assert result["kvstore"] == "dist_sync"
    assert result["update_on_kvstore"] is True
    assert result["error"] == "AssertionError"
    assert result["message"] == "Cannot save states for distributed training"
    assert not (tmp_path / "trainer.states").exists()


@pytest.mark.reliability(
    SAVE_STATES,
    input="Trainer.save_states, or a Checkpoint in fit, under dist_sync (1 server; "
          "1 or 2 workers on 127.0.0.1)",
    mxnet="AssertionError 'Cannot save states for distributed training' "
          "(update_on_kvstore=True, the default)",
    gluon_safe="fit updates on the workers: only worker 0 writes, one bundle with the "
               "parameters and the Adam states (equal on both workers) and logs what it contains; "
               "a Checkpoint with updates on the servers raises ValueError naming "
               "update_on_kvstore=False",
)
def test_fit_checkpoint_dist_sync_rank_zero(tmp_path):
    results, out = run_worker_script(tmp_path, "checkpoint", workers=2)
    assert sorted(result["rank"] for result in results) == [0, 1]
    assert {result["update_on_kvstore"] for result in results} == {False}

    directory = tmp_path / "checkpoints"
    bundles = list_bundles(str(directory))
    assert len(bundles) == 1
    assert read_pointer(str(directory), LATEST) == bundles[0][1]
    explained = [line for line in out.splitlines() if "distributed run (dist_sync)" in line]
    assert len(explained) == 1
    assert "only worker 0 writes checkpoints" in explained[0]
    assert "the parameters and the optimizer states" in explained[0]

    bundle = read_bundle(str(directory))
    assert bundle.epoch == 0
    with np.load(tmp_path / "state-0.npz") as archive:
        expected = {name: archive[name] for name in archive.files}
    with np.load(tmp_path / "state-1.npz") as archive:
        other = {name: archive[name] for name in archive.files}
    assert sorted(other) == sorted(expected)
    for name in expected:
        assert np.array_equal(other[name], expected[name]), name

    saved_params = {name: array.asnumpy() for name, array in nd.load(bundle.params_file).items()}
    param_names = [name for name in expected if name.startswith("param/")]
    assert sorted(saved_params) == sorted(name.split("/", 1)[1] for name in param_names)
    for name in param_names:
        assert np.array_equal(saved_params[name.split("/", 1)[1]], expected[name]), name

    payload = pickle.loads(bundle.trainer_states)
    (saved_states,) = payload["states"]
    state_names = [name for name in expected if name.startswith("state/")]
    assert len(state_names) == 2 * len(saved_states)
    for name in state_names:
        _, key, position = name.split("/")
        assert np.array_equal(saved_states[key][int(position)]["ndarray"], expected[name]), name
    assert payload["optimizer"].num_update == results[0]["num_update"]


@pytest.mark.reliability(SAVE_STATES)
def test_fit_checkpoint_server_updates_raise(tmp_path):
    (result,), _ = run_worker_script(tmp_path, "refused", workers=1)
    assert result["error"] == "ValueError"
    assert re.search(r"Checkpoint cannot save the optimizer states of a 'dist_sync' run "
                     r"that updates on the kvstore servers", result["message"])
    assert "update_on_kvstore=False" in result["message"]
    assert not (tmp_path / "checkpoints").exists()


class StreamReader:
    """Collect the lines of a text pipe in a thread; signal when a pattern shows up."""

    def __init__(self, pipe, pattern):
        self.lines = []
        self.pattern = re.compile(pattern)
        self.seen = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        for line in iter(pipe.readline, ""):
            self.lines.append(line)
            if self.pattern.search(line):
                self.seen.set()

    def text(self):
        return "".join(self.lines)


@pytest.mark.reliability(
    WORKER_KILLED,
    input="SIGKILL to worker 1's PID after the first epoch line of a 200-epoch run "
          "(2 workers, 1 server, launcher --timeout 60)",
    mxnet="not tried",
    gluon_safe="the launcher names the killed worker, stops the other processes and exits "
               "with status 1 well within its time-out; no process it started remains",
)
def test_launch_worker_killed_by_pid(tmp_path):
    # Without the kill, 200 epochs would run for minutes.
    command = launch_command([TRAIN_SCRIPT, str(tmp_path), "--epochs", "200"], workers=2)
    started = time.monotonic()
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = StreamReader(process.stdout, r"\] Epoch: 0")
    err = StreamReader(process.stderr, r"started worker 1 \(pid \d+\)")
    pids = {}
    try:
        assert err.seen.wait(START_TIMEOUT), err.text()
        assert out.seen.wait(START_TIMEOUT), out.text() + err.text()
        pids = started_pids(err.text())
        assert sorted(pids) == ["scheduler", "server 0", "worker 0", "worker 1"]
        assert is_running(pids["worker 1"])

        killed = time.monotonic()
        os.kill(pids["worker 1"], signal.SIGKILL)
        status = process.wait(timeout=LAUNCH_TIMEOUT)
        since_kill = time.monotonic() - killed
        since_start = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stop_leftovers(pids.values())
        out.thread.join(timeout=30)
        err.thread.join(timeout=30)
        process.stdout.close()
        process.stderr.close()

    assert status == 1
    assert since_start < LAUNCH_TIMEOUT
    assert since_kill < STOP_BOUND
    assert re.search(r"worker 1 failed: killed by signal SIGKILL; stopping the \d other "
                     "processes", err.text())
    assert [label for label, pid in pids.items() if is_running(pid)] == []
