"""The ``gluon-safe`` command line.

Each subcommand has an ``_add_<name>_command`` function that declares its arguments and
binds a handler; a handler takes the parsed arguments and returns the exit status. The
work of each command lives in its own module: ``demo``, ``runner``, ``doctor`` and
``tabular``. This is the only module that prints to the terminal, besides the epoch
lines of ``fit`` and the scripts that ``run`` starts.

Exit status: 0 on success and 2 for a usage error (a bad option, a missing file or
column). Every other failure exits 1: problems found by ``check-labels``, data that
``train`` or ``predict`` cannot use, an exception in a script under ``run``, or a closed
stdout. A script under ``run`` that exits by itself keeps its own status.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from typing import Callable, Optional, Sequence

from . import __version__, doctor, launch, tabular
from .demo import DEFAULT_EPOCHS, DEFAULT_SEED, run_demo
from .errors import GluonSafeError
from .runner import run_script

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_PROBLEMS = 1
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
    _add_run_command(commands)
    _add_check_labels_command(commands)
    _add_train_command(commands)
    _add_predict_command(commands)
    launch.add_parser(commands)
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


def _add_run_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="run an unmodified training script with gluon_safe's checks on",
        description=(
            "Run SCRIPT as __main__ with gluon_safe.patch() active, so that "
            "mx.metric.Accuracy, TopKAccuracy, the metric names 'acc' and 'accuracy', "
            "SoftmaxCrossEntropyLoss and SigmoidBinaryCrossEntropyLoss are the checked "
            "gluon_safe versions. The script gets sys.argv = [SCRIPT, ARGS...] and its "
            "directory as sys.path[0]; its exit status is kept. A label error is reported "
            "with the line of the script that led to it, and exit status 1."
        ),
    )
    run.add_argument("script", metavar="SCRIPT", help="the Python file to run")
    run.add_argument(
        "script_args", metavar="ARGS", nargs=argparse.REMAINDER,
        help="arguments passed to the script unchanged, options included",
    )
    run.set_defaults(handler=_run_script)


def _run_script(args: argparse.Namespace) -> int:
    return run_script(args.script, args.script_args, write_error=_print_error)


def _add_check_labels_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    check = commands.add_parser(
        "check-labels",
        help="report the target type, class counts and problems of a label column",
        description=(
            "Read the labels of FILE (CSV or TSV with or without a header row, a .npy "
            "array, or a text file with one label per line) and report the target type, "
            "the class counts and every problem found, with its fix: missing values, "
            "text mixed with numbers, normalized or continuous values, negative or "
            "1-based classes, gaps between classes, a disagreeing --num-classes, rare "
            "classes. Exit status: 0 when no problem was found, 1 when some were, 2 for "
            "a usage error."
        ),
    )
    check.add_argument("file", metavar="FILE", help="the file with the labels")
    check.add_argument(
        "--column", metavar="NAME|INDEX",
        help=(
            "the label column of a table: a header name, or an index from 0 (negative "
            "counts from the end); by default the only column, or the column named "
            f"{', '.join(doctor.LABEL_COLUMN_NAMES)}. For a 2-D .npy array, leave it out "
            "to read one-hot or multi-label rows"
        ),
    )
    check.add_argument(
        "--num-classes", metavar="K", type=_positive_int,
        help="the number of classes the model has; reported when the labels disagree",
    )
    check.add_argument(
        "--format", dest="file_format", choices=doctor.FILE_FORMATS,
        help="the file format (default: from the extension .csv, .tsv, .npy or .txt)",
    )
    check.add_argument(
        "--min-samples", metavar="N", type=_positive_int, default=doctor.DEFAULT_MIN_SAMPLES,
        help=(
            "report classes with fewer samples than this as rare "
            f"(default: {doctor.DEFAULT_MIN_SAMPLES})"
        ),
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(handler=_check_labels)


def _check_labels(args: argparse.Namespace) -> int:
    try:
        column = doctor.read_label_column(
            args.file, column=args.column, file_format=args.file_format
        )
    except (doctor.UsageError, doctor.TableError) as error:
        return _usage_error("check-labels", error)
    report = doctor.diagnose(
        column, num_classes=args.num_classes, min_samples=args.min_samples
    )
    text = doctor.report_as_json(report) if args.json else doctor.format_report(report)
    print(text, flush=True)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _add_train_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser(
        "train",
        help="train a Dense classifier on a numeric CSV table",
        description=(
            "Train a Dense network on FILE, a CSV table with a header row: the label "
            "column is encoded with gluon_safe.LabelEncoder, the rows are split by class, "
            "every other column is a numeric feature standardized with statistics of the "
            "training split only, and gluon_safe.fit trains with checkpoints and prints "
            "one line per epoch. The model directory (parameters, label encoder, feature "
            "scaling) is what 'gluon-safe predict' reads. Training runs on the CPU."
        ),
    )
    train.add_argument("file", metavar="FILE", help="the CSV file (TSV for .tsv)")
    train.add_argument(
        "--label-column", "--column", dest="label_column", metavar="NAME", required=True,
        help="header name of the label column",
    )
    train.add_argument(
        "--epochs", metavar="N", type=_positive_int, default=tabular.DEFAULT_EPOCHS,
        help=f"training epochs (default: {tabular.DEFAULT_EPOCHS})",
    )
    default_hidden = ",".join(str(units) for units in tabular.DEFAULT_HIDDEN)
    train.add_argument(
        "--hidden", metavar="UNITS", type=_layer_sizes, default=tabular.DEFAULT_HIDDEN,
        help=f"units of each hidden Dense layer, comma-separated (default: {default_hidden})",
    )
    train.add_argument(
        "--test-size", metavar="FRACTION", type=_fraction, default=tabular.DEFAULT_TEST_SIZE,
        help=f"fraction of each class held out for testing (default: "
             f"{tabular.DEFAULT_TEST_SIZE})",
    )
    train.add_argument(
        "--seed", metavar="S", type=_seed, default=tabular.DEFAULT_SEED,
        help=(
            "seed of the split, the initial weights and the batch order, "
            f"0 to {_MAX_SEED} (default: {tabular.DEFAULT_SEED})"
        ),
    )
    train.add_argument(
        "--batch-size", metavar="N", type=_positive_int, default=tabular.DEFAULT_BATCH_SIZE,
        help=f"samples per batch (default: {tabular.DEFAULT_BATCH_SIZE})",
    )
    train.add_argument(
        "--learning-rate", metavar="RATE", type=_positive_float,
        default=tabular.DEFAULT_LEARNING_RATE,
        help=f"learning rate of Adam (default: {tabular.DEFAULT_LEARNING_RATE})",
    )
    train.add_argument(
        "--out", metavar="DIR",
        help="the model directory to write (default: FILE's name without extension + _model, "
             "in the current directory)",
    )
    train.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    out = args.out or f"{os.path.splitext(os.path.basename(args.file))[0]}_model"
    if os.path.exists(out) and not os.path.isdir(out):
        return _usage_error("train", f"--out {out} is a file, not a directory")
    write = functools.partial(print, file=sys.stdout, flush=True)
    try:
        tabular.train_table(
            args.file, label_column=args.label_column, out=out, epochs=args.epochs,
            hidden=args.hidden, test_size=args.test_size, seed=args.seed,
            batch_size=args.batch_size, learning_rate=args.learning_rate, write=write,
        )
    except tabular.UsageError as error:
        return _usage_error("train", error)
    except GluonSafeError as error:
        _print_error(f"gluon-safe train: error: {error}")
        return EXIT_PROBLEMS
    return EXIT_OK


def _add_predict_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    predict = commands.add_parser(
        "predict",
        help="print the predicted class of every row of a CSV table",
        description=(
            "Load a model directory written by 'gluon-safe train' and print the predicted "
            "class of every data row of FILE, one per line in file order, in the original "
            "class values. FILE needs a header row with the feature columns the model was "
            "trained on; other columns are ignored."
        ),
    )
    predict.add_argument("model_dir", metavar="DIR", help="the model directory")
    predict.add_argument("file", metavar="FILE", help="the CSV file (TSV for .tsv)")
    predict.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    try:
        predictions = tabular.predict_table(args.model_dir, args.file)
    except tabular.UsageError as error:
        return _usage_error("predict", error)
    except GluonSafeError as error:
        _print_error(f"gluon-safe predict: error: {error}")
        return EXIT_PROBLEMS
    for value in predictions:
        print(value)
    sys.stdout.flush()
    return EXIT_OK


def _usage_error(command: str, error: object) -> int:
    _print_error(f"gluon-safe {command}: error: {error}")
    return EXIT_USAGE


def _print_error(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _layer_sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",")]
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected positive integers separated by commas, "
            "such as 64,64"
        ) from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: every layer needs at least 1 unit"
        )
    return sizes


def _fraction(text: str) -> float:
    value = _parse_float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected a number between 0 and 1, both excluded"
        )
    return value


def _positive_float(text: str) -> float:
    value = _parse_float(text)
    if not (value > 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number > 0")
    return value


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number") from None


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
