"""The ``gluon-safe launch`` command: its arguments, and what it prints.

This module and the command line are the only library code that prints.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import List, Optional, Sequence

from ..errors import LaunchError
from ._plan import ProcessSpec, describe, free_port, local_plan, read_hostfile, ssh_plan
from ._runner import EXIT_FAILED, EXIT_OK, Launch

__all__ = ["DEFAULT_SSH_PORT", "EXIT_USAGE", "add_parser", "build_parser", "main", "run"]

EXIT_USAGE = 2

DEFAULT_SSH_PORT = 9091
"""Scheduler port of an ssh launch, where the launcher cannot probe for a free one."""

_DESCRIPTION = (
    "Start an MXNet parameter-server training: one scheduler, SERVERS servers and "
    "WORKERS workers, each worker running COMMAND. The local launcher runs them all on "
    "127.0.0.1; the ssh launcher spreads them over the hosts of a host file. Output is "
    "streamed line by line, prefixed by role and number. When a process fails or the "
    "time-out passes, every process is stopped. Exit status: 0 when every worker "
    "succeeded, 1 when a process failed, 124 on time-out, 130 after Ctrl-C."
)
_EPILOG = "example: gluon-safe launch -n 2 -s 1 -- python train.py --epochs 10"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``gluon-safe launch`` with ``argv`` (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        The exit status, as described by ``--help``; 2 for a usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return EXIT_OK if exit_request.code is None else int(exit_request.code)
    return run(args)


def build_parser(prog: str = "gluon-safe launch") -> argparse.ArgumentParser:
    """Return the parser of the launch command on its own."""
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION, epilog=_EPILOG)
    _add_arguments(parser)
    return parser


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``launch`` subcommand to the subparsers of the ``gluon-safe`` command.

    The subcommand's ``handler`` default is :func:`run`, which takes the parsed
    arguments and returns the exit status.
    """
    parser = commands.add_parser(
        "launch", help="start a distributed training with MXNet's parameter server",
        description=_DESCRIPTION, epilog=_EPILOG,
    )
    _add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run a launch from parsed arguments and return its exit status."""
    try:
        specs = _plan(args)
    except LaunchError as error:
        print(f"gluon-safe launch: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        for spec in specs:
            print(describe(spec))
        return EXIT_OK
    launch = Launch(specs, timeout=args.timeout, out=sys.stdout, err=sys.stderr)
    try:
        return launch.run()
    except LaunchError as error:
        print(f"gluon-safe launch: {error}", file=sys.stderr)
        return EXIT_FAILED


def _plan(args: argparse.Namespace) -> List[ProcessSpec]:
    command = list(args.worker_command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise LaunchError("no command to run; put it after --, as in: gluon-safe launch "
                          "-n 2 -s 1 -- python train.py")
    if args.launcher == "local":
        if args.hostfile is not None:
            raise LaunchError("--hostfile is for --launcher ssh; the local launcher runs "
                              "every process on 127.0.0.1")
        port = args.port if args.port is not None else free_port()
        return local_plan(command, num_workers=args.num_workers,
                          num_servers=args.num_servers, port=port)
    if args.hostfile is None:
        raise LaunchError("--launcher ssh needs --hostfile, a file with one host per line")
    hosts = read_hostfile(args.hostfile)
    port = args.port if args.port is not None else DEFAULT_SSH_PORT
    return ssh_plan(command, hosts, num_workers=args.num_workers,
                    num_servers=args.num_servers, port=port, cwd=os.getcwd())


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--num-workers", type=_count, required=True, metavar="WORKERS",
                        help="number of worker processes, each running COMMAND")
    parser.add_argument("-s", "--num-servers", type=_count, default=1, metavar="SERVERS",
                        help="number of parameter servers (default: 1)")
    parser.add_argument("--launcher", choices=("local", "ssh"), default="local",
                        help="where the processes run: local, on 127.0.0.1 (the default), "
                             "or ssh, on the hosts of --hostfile")
    parser.add_argument("-H", "--hostfile", metavar="HOSTFILE",
                        help="for --launcher ssh: a file with one host (or user@host) per "
                             "line; the first one runs the scheduler")
    parser.add_argument("--port", type=_port, metavar="PORT",
                        help="TCP port of the scheduler (default: a free port for local, "
                             f"{DEFAULT_SSH_PORT} for ssh)")
    parser.add_argument("--timeout", type=_seconds, metavar="S",
                        help="stop every process after S seconds and exit with 124 "
                             "(default: no time limit)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the command of every process instead of running it")
    # Not "command": the gluon-safe parser stores the subcommand name under that dest.
    parser.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                        help="the command of each worker, such as: python train.py ARGS")
    parser.set_defaults(handler=run)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer >= 1"
                                         ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer >= 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected 1 to 65535")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"invalid time-out {text!r}: expected seconds > 0")
    return value
