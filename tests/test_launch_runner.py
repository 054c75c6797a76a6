"""Tests of the process runner behind ``gluon-safe launch``, with small Python commands.

None of these processes runs MXNet; each test checks by PID that nothing it started is
left running.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import textwrap
import threading
import time

import pytest

from gluon_safe import LaunchError
from gluon_safe.launch import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    Launch,
    ProcessSpec,
)

pytestmark = pytest.mark.timeout(60)


def python(code):
    return [sys.executable, "-c", textwrap.dedent(code)]


def spec(role, index, code, **env):
    return ProcessSpec(role, index, "127.0.0.1", python(code), {"PYTHONUNBUFFERED": "1", **env})


def started_pids(err_text):
    return [int(pid) for pid in re.findall(r"\(pid (\d+)\)", err_text)]


def is_running(pid):
    """Tell whether ``pid`` is a live process; a zombie (dead, not yet reaped) is not."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def assert_gone(pids, wait=2.0):
    # An orphaned grandchild is reaped by init some time after it dies.
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(is_running(pid) for pid in pids):
        time.sleep(0.05)
    assert [pid for pid in pids if is_running(pid)] == []


def run(specs, *, timeout=30.0, grace=2.0):
    out, err = io.StringIO(), io.StringIO()
    status = Launch(specs, timeout=timeout, grace=grace, out=out, err=err).run()
    return status, out.getvalue(), err.getvalue()


SLEEP = "import time; time.sleep(60)"
QUICK_SERVER = "pass"


def test_launch_prefixes_output_by_line():
    worker = """
        import os, sys
        print("first line")
        sys.stdout.write("second ")
        sys.stdout.flush()
        print("half " + os.environ["ROLE_TAG"])
    """
    status, out, err = run([spec("server", 0, QUICK_SERVER),
                            spec("worker", 0, worker, ROLE_TAG="w0"),
                            spec("worker", 1, worker, ROLE_TAG="w1")])
    assert status == EXIT_OK
    lines = out.splitlines()
    for label, tag in (("worker 0", "w0"), ("worker 1", "w1")):
        assert [line for line in lines if line.startswith(f"[{label}]")] == [
            f"[{label}] first line", f"[{label}] second half {tag}"]
    assert "every worker finished" in err
    assert_gone(started_pids(err))


def test_launch_failed_worker_stops_everything():
    status, _, err = run([spec("scheduler", 0, SLEEP), spec("server", 0, SLEEP),
                          spec("worker", 0, SLEEP),
                          spec("worker", 1, "import sys; sys.exit(3)")])
    assert status == EXIT_FAILED
    assert "worker 1 failed: exit status 3; stopping the 3 other processes" in err
    assert len(started_pids(err)) == 4
    assert_gone(started_pids(err))


def test_launch_names_signal_of_killed_worker():
    killer = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    status, _, err = run([spec("server", 0, SLEEP), spec("worker", 0, killer)])
    assert status == EXIT_FAILED
    assert "worker 0 failed: killed by signal SIGKILL" in err
    assert_gone(started_pids(err))


def test_launch_failed_server_after_workers():
    status, _, err = run([spec("server", 0, "import sys, time; time.sleep(0.5); sys.exit(2)"),
                          spec("worker", 0, "pass")])
    assert status == EXIT_FAILED
    assert "server 0 failed: exit status 2" in err


def test_launch_timeout_stops_process_groups(tmp_path):
    # The worker forks a child of its own; it must go too, with the worker's group.
    child_file = tmp_path / "child.pid"
    worker = f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(child_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
    """
    started = time.monotonic()
    status, _, err = run([spec("server", 0, SLEEP), spec("worker", 0, worker)], timeout=2)
    elapsed = time.monotonic() - started

    assert status == EXIT_TIMEOUT
    assert "timed out after 2 s; stopping server 0, worker 0" in err
    assert elapsed < 2 + 2 + 5
    assert_gone([*started_pids(err), int(child_file.read_text())])


def test_launch_kills_process_that_ignores_sigterm():
    stubborn = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready")
        time.sleep(60)
    """
    status, _, err = run([spec("worker", 0, stubborn)], timeout=1.0, grace=0.5)
    assert status == EXIT_TIMEOUT
    assert re.search(r"worker 0 \(pid \d+\) ignored SIGTERM; sending SIGKILL", err)
    assert_gone(started_pids(err))


def test_launch_stops_servers_left_after_workers():
    status, _, err = run([spec("server", 0, SLEEP), spec("worker", 0, "pass")], grace=0.5)
    assert status == EXIT_OK
    assert "every worker finished, but server 0 did not exit within 0.5 s" in err
    assert_gone(started_pids(err))


def test_launch_forwards_sigint():
    worker = """
        import signal, sys, time
        def interrupted(signum, frame):
            print("worker got SIGINT")
            sys.exit(130)
        signal.signal(signal.SIGINT, interrupted)
        print("ready")
        time.sleep(60)
    """
    timer = threading.Timer(1.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        status, out, err = run([spec("server", 0, SLEEP), spec("worker", 0, worker)])
    finally:
        timer.cancel()
    assert status == EXIT_INTERRUPTED
    assert "[worker 0] worker got SIGINT" in out
    assert "received SIGINT" in err
    assert_gone(started_pids(err))
    # The launcher put the previous handler back.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_launch_cannot_start_command():
    specs = [spec("server", 0, SLEEP),
             ProcessSpec("worker", 0, "127.0.0.1", ["/nonexistent/python", "x.py"])]
    out, err = io.StringIO(), io.StringIO()
    launch = Launch(specs, timeout=10, grace=1.0, out=out, err=err)
    with pytest.raises(LaunchError, match=r"cannot start the worker 0: .*nonexistent"):
        launch.run()
    assert_gone(started_pids(err.getvalue()))
