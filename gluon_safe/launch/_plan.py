"""The processes of a launch: which roles run where, with which command and environment.

Everything here is pure: it builds the commands that :mod:`._runner` starts and that
``--dry-run`` prints.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from typing_extensions import Literal

from ..errors import LaunchError

__all__ = [
    "LOOPBACK",
    "SERVER_CODE",
    "ProcessSpec",
    "Role",
    "describe",
    "free_port",
    "local_plan",
    "read_hostfile",
    "ssh_plan",
]

Role = Literal["scheduler", "server", "worker"]

LOOPBACK = "127.0.0.1"

SERVER_CODE = "import gluon_safe"
"""Python code that the scheduler and the servers run. MXNet turns the process into a scheduler or a
server (as ``DMLC_ROLE`` selects) during ``import mxnet``, and exits when training ends.
Importing gluon_safe first lets a server unpickle gluon_safe's ServerOptimizer, which
keeps the values that workers exchange through the kvstore unchanged."""

_PYTHON_NAME = re.compile(r"python[0-9.]*$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_.@:\[\]-]+$")


@dataclass(frozen=True)
class ProcessSpec:
    """One process of a launch.

    Attributes
    ----------
    role : {'scheduler', 'server', 'worker'}
        Its ``DMLC_ROLE``.
    index : int
        Its number among the processes of its role, from 0, in start order. MXNet
        assigns kvstore ranks itself, so a worker's rank may differ from it.
    host : str
        Where it runs.
    argv : list of str
        The command the launcher runs on this machine (for ssh, the ssh command).
    env : dict of str to str
        Variables added to the launcher's environment for a local process; empty for
        ssh, whose variables are part of the remote command.
    """

    role: Role
    index: int
    host: str
    argv: List[str]
    env: Dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The name that prefixes its output, such as ``'worker 1'``."""
        return self.role if self.role == "scheduler" else f"{self.role} {self.index}"


def local_plan(command: Sequence[str], *, num_workers: int, num_servers: int, port: int,
               python: str = sys.executable) -> List[ProcessSpec]:
    """Return the scheduler, the servers and the workers of a launch on 127.0.0.1.

    The workers run ``command``; the scheduler and servers run ``python -c`` with
    :data:`SERVER_CODE`. ``DMLC_NODE_HOST`` pins every process to 127.0.0.1, because
    ps-lite otherwise picks the address of another network interface.
    """
    common = _dmlc_env(LOOPBACK, port, num_workers, num_servers)
    server_argv = [python, "-c", SERVER_CODE]
    specs = [ProcessSpec("scheduler", 0, LOOPBACK, server_argv,
                         {**common, "DMLC_ROLE": "scheduler", "DMLC_NODE_HOST": LOOPBACK})]
    specs += [ProcessSpec("server", index, LOOPBACK, server_argv,
                          {**common, "DMLC_ROLE": "server", "DMLC_NODE_HOST": LOOPBACK})
              for index in range(num_servers)]
    specs += [ProcessSpec("worker", index, LOOPBACK, list(command),
                          {**common, "DMLC_ROLE": "worker", "DMLC_NODE_HOST": LOOPBACK})
              for index in range(num_workers)]
    return specs


def ssh_plan(command: Sequence[str], hosts: Sequence[str], *, num_workers: int,
             num_servers: int, port: int, cwd: str) -> List[ProcessSpec]:
    """Return the processes of a launch over ssh on ``hosts``.

    The scheduler runs on the first host, which is also ``DMLC_PS_ROOT_URI``. Servers
    and workers go round-robin over the hosts. Every remote command changes to
    ``cwd`` and sets the ``DMLC_*`` variables, with ``DMLC_NODE_HOST`` the host's own
    name as written in the host file. Workers run ``command``. The scheduler and servers
    run :data:`SERVER_CODE` with the command's Python interpreter, or with ``python3``
    if the command does not start with one.
    """
    root = _address(hosts[0])
    common = _dmlc_env(root, port, num_workers, num_servers)
    python = command[0] if _PYTHON_NAME.search(os.path.basename(command[0])) else "python3"
    server_command = [python, "-c", SERVER_CODE]

    def remote(role: Role, index: int, host: str, argv: Sequence[str]) -> ProcessSpec:
        env = {**common, "DMLC_ROLE": role, "DMLC_NODE_HOST": _address(host)}
        assignments = [f"{name}={shlex.quote(value)}" for name, value in env.items()]
        script = f"cd {shlex.quote(cwd)} && env {' '.join(assignments)} {shlex.join(argv)}"
        return ProcessSpec(role, index, host, ["ssh", "-o", "BatchMode=yes", host, script])

    specs = [remote("scheduler", 0, hosts[0], server_command)]
    specs += [remote("server", index, hosts[index % len(hosts)], server_command)
              for index in range(num_servers)]
    specs += [remote("worker", index, hosts[index % len(hosts)], command)
              for index in range(num_workers)]
    return specs


def read_hostfile(path: str) -> List[str]:
    """Return the hosts listed in ``path``, one per line as ``host`` or ``user@host``.

    Blank lines and text after ``#`` are ignored.

    Raises
    ------
    LaunchError
        If the file cannot be read, lists no host, or a line is not a host name.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise LaunchError(f"cannot read the host file {path!r}: {error}") from error
    hosts: List[str] = []
    for number, line in enumerate(lines, start=1):
        host = line.split("#", 1)[0].strip()
        if not host:
            continue
        if not _HOST_NAME.match(host) or host.startswith("-"):
            raise LaunchError(f"{path}, line {number}: {host!r} is not a host name; expected "
                              "one host per line, such as node1 or user@10.0.0.2")
        hosts.append(host)
    if not hosts:
        raise LaunchError(f"the host file {path!r} lists no host; expected one per line")
    return hosts


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago.

    NOTE: another program may take the port before the scheduler binds it. The launch
    then fails with the scheduler's error, and running it again picks another port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def describe(spec: ProcessSpec) -> str:
    """Return a shell line equivalent to starting ``spec``, for ``--dry-run``."""
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in spec.env.items())
    command = shlex.join(spec.argv)
    return f"{spec.label} on {spec.host}: " + (f"env {assignments} {command}" if assignments
                                               else command)


def _dmlc_env(root: str, port: int, num_workers: int, num_servers: int) -> Dict[str, str]:
    return {
        "DMLC_PS_ROOT_URI": root,
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_SERVER": str(num_servers),
        "DMLC_NUM_WORKER": str(num_workers),
        # Python buffers output to a pipe in blocks; the launcher streams it by line.
        "PYTHONUNBUFFERED": "1",
    }


def _address(host: str) -> str:
    return host.rsplit("@", 1)[-1]
