"""The ``gluon-safe`` command line.

Each subcommand has an ``_add_<name>_command`` function that declares its arguments and
binds a handler; a handler takes the parsed arguments and returns the exit status.
This is the only module that prints to the terminal.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Callable, Optional, Sequence

from . import __version__
from .demo import DEFAULT_EPOCHS, DEFAULT_SEED, run_demo

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_BROKEN_PIPE = 1
EXIT_USAGE = 2

_MAX_SEED = 2**32 - 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``gluon-safe`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 2 for a usage error (the message goes to stderr), 1 when stdout
        was closed early (a broken pipe), otherwise the status of the subcommand.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits after --help, --version and usage errors; return the status
        # instead, so that main() can be called from Python.
        return EXIT_OK if exit_request.code is None else int(exit_request.code)

    handler: Handler = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader of stdout has gone, as in `gluon-safe demo | head`. Point stdout at
        # devnull so that the flush at interpreter exit does not raise a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gluon-safe",
        description="Label safety checks for Apache MXNet Gluon 1.9.1.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    _add_demo_command(commands)
    return parser


def _add_demo_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="show plain MXNet mis-training on bad labels, and gluon_safe catching it",
        description=(
            "Train a Dense network on the UCI Wine data shipped with gluon_safe: first with "
            "plain MXNet on 1-based and on normalized labels, which trains silently to "
            "misleading accuracies; then with gluon_safe's loss and metric, which raise; "
            "then with gluon_safe.LabelEncoder, which trains correctly."
        ),
    )
    demo.add_argument(
        "--epochs", type=_positive_int, default=DEFAULT_EPOCHS,
        help=f"training epochs of each run (default: {DEFAULT_EPOCHS})",
    )
    demo.add_argument(
        "--seed", type=_seed, default=DEFAULT_SEED,
        help=(
            "seed of the train/test split, the initial weights and the batch order, "
            f"0 to {_MAX_SEED} (default: {DEFAULT_SEED})"
        ),
    )
    demo.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    write = functools.partial(print, file=sys.stdout, flush=True)
    run_demo(epochs=args.epochs, seed=args.seed, write=write)
    return EXIT_OK


def _positive_int(text: str) -> int:
    value = _parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer >= 1")
    return value


def _seed(text: str) -> int:
    value = _parse_int(text)
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected an integer from 0 to {_MAX_SEED}"
        )
    return value


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer") from None
