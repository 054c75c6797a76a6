"""``gluon-safe launch``: start MXNet parameter-server training on one machine or over ssh.

:func:`main` runs the command on its own (``python -m gluon_safe.launch``);
:func:`add_parser` adds it to the ``gluon-safe`` command line. :func:`local_plan` and
:func:`ssh_plan` build the processes, and :class:`Launch` runs them.
"""

from __future__ import annotations

from ._cli import add_parser, build_parser, main, run
from ._plan import ProcessSpec, describe, free_port, local_plan, read_hostfile, ssh_plan
from ._runner import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT, Launch

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "Launch",
    "ProcessSpec",
    "add_parser",
    "build_parser",
    "describe",
    "free_port",
    "local_plan",
    "main",
    "read_hostfile",
    "run",
    "ssh_plan",
]
