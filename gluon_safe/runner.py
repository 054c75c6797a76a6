"""Run an unmodified training script as ``__main__`` with :func:`gluon_safe.patch` active.

This is the engine of ``gluon-safe run script.py [ARGS...]``. The script gets what
``python script.py ARGS...`` would give it: ``__name__ == '__main__'``,
``sys.argv == [script, *ARGS]`` and its own directory as ``sys.path[0]``. Its exit status
is kept, and a :class:`~gluon_safe.LabelError` is reported with the line of the script
that led to it.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .errors import LabelError
from .patching import patch

__all__ = ["EXIT_CANNOT_OPEN", "EXIT_ERROR", "ScriptFrame", "find_script_frame", "run_script"]

EXIT_ERROR = 1
"""Exit status after an uncaught exception (a label error included), as ``python`` returns."""

EXIT_CANNOT_OPEN = 2
"""Exit status when the script cannot be opened, as ``python missing.py`` returns."""


@dataclass(frozen=True)
class ScriptFrame:
    """A line of the user's script in a traceback."""

    filename: str
    lineno: int
    function: str
    line: str
    """The source line, stripped; empty when the file cannot be read."""


Write = Callable[[str], None]
"""Receives one report (a message or a traceback) without a trailing newline."""


def run_script(path: str, args: Sequence[str] = (), *, write_error: Write) -> int:
    """Run the Python file ``path`` as ``__main__`` under :func:`gluon_safe.patch`.

    Parameters
    ----------
    path : str
        The script, as the user typed it; it becomes ``sys.argv[0]``.
    args : sequence of str, default ()
        The script's own arguments, ``sys.argv[1:]``.
    write_error : callable
        Receives each error report as text without a trailing newline; the command
        line prints it to stderr.

    Returns
    -------
    int
        The script's exit status: 0 when it ends normally, the code of its
        ``SystemExit`` (``sys.exit(3)`` gives 3, a message gives 1), 1 after an uncaught
        exception, 2 when the file cannot be opened.

    Notes
    -----
    ``sys.argv``, ``sys.path[0]`` and the patch are restored when the script ends.
    Modules the script imported stay imported. ``KeyboardInterrupt`` propagates.
    An uncaught exception prints its traceback from the script's first frame on. A
    :class:`~gluon_safe.LabelError` is then summarised with the last line of the
    script in its traceback, the line that passed the bad labels on.
    """
    problem = _check_readable(path)
    if problem is not None:
        write_error(f"gluon-safe run: cannot open script {path!r}: {problem}")
        return EXIT_CANNOT_OPEN

    saved_argv = sys.argv[:]
    saved_path = sys.path[:1]
    sys.argv = [path, *args]
    sys.path[:1] = [os.path.dirname(os.path.realpath(path))]
    try:
        with patch():
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exit_request:
        return _exit_status(exit_request.code, write_error)
    except Exception as error:  # report it as the interpreter would, then return 1
        _report_exception(error, path, write_error)
        return EXIT_ERROR
    finally:
        sys.argv = saved_argv
        sys.path[:1] = saved_path
    return 0


def find_script_frame(
    tb: Optional[traceback.StackSummary], path: str
) -> Optional[ScriptFrame]:
    """Return the last frame of ``tb`` that lies in the file ``path``, or None.

    Files are compared by their resolved path, so ``./train.py`` matches
    ``/home/user/train.py``.
    """
    if tb is None:
        return None
    target = os.path.realpath(path)
    found: Optional[ScriptFrame] = None
    for frame in tb:
        if os.path.realpath(frame.filename) == target:
            found = ScriptFrame(
                filename=path, lineno=frame.lineno or 0, function=frame.name,
                line=(frame.line or "").strip(),
            )
    return found


def _check_readable(path: str) -> Optional[str]:
    if not os.path.exists(path):
        return "no such file"
    if os.path.isdir(path):
        return "it is a directory; pass the path of a Python file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def _exit_status(code: object, write_error: Write) -> int:
    """Convert a ``SystemExit`` code to an exit status, as the interpreter does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    write_error(str(code))
    return 1


def _report_exception(error: Exception, path: str, write_error: Write) -> None:
    summary = traceback.extract_tb(error.__traceback__)
    write_error(_format_traceback(error, _frames_before_script(summary, path)))
    if isinstance(error, LabelError):
        write_error(_label_error_summary(error, find_script_frame(summary, path)))


def _frames_before_script(summary: traceback.StackSummary, path: str) -> int:
    """Return how many leading frames belong to ``run_script`` and runpy, not the script.

    With no frame in the script, such as for a ``SyntaxError`` raised while compiling
    it, every frame is left out and only the error itself is shown.
    """
    target = os.path.realpath(path)
    for index, frame in enumerate(summary):
        if os.path.realpath(frame.filename) == target:
            return index
    return len(summary)


def _format_traceback(error: Exception, skip: int) -> str:
    # Leave out the frames of runpy and this module, as `python script.py` would.
    tb = error.__traceback__
    for _ in range(skip):
        if tb is None:
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip("\n")


def _label_error_summary(error: LabelError, frame: Optional[ScriptFrame]) -> str:
    name = type(error).__name__
    if frame is None:
        return f"gluon-safe run: {name}, raised outside the lines of the script"
    where = f"{frame.filename}, line {frame.lineno}, in {frame.function}"
    source = f"\n    {frame.line}" if frame.line else ""
    return f"gluon-safe run: {name} at {where}{source}"

