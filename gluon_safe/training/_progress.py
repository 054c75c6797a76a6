"""Terminal progress of ``fit``: a tqdm bar on a TTY, epoch lines everywhere.

``fit`` and ``evaluate`` are the only library functions that print. Each epoch line
also goes to the ``gluon_safe`` logger at INFO, printed or not.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional, TextIO

__all__ = ["Progress"]

logger = logging.getLogger("gluon_safe.training")


def _load_tqdm() -> Optional[Any]:
    try:
        from tqdm import tqdm  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    return tqdm


class Progress:
    """Show the progress of one run.

    Parameters
    ----------
    verbose : bool
        Print anything at all.
    stream : text stream, optional
        Where to print; defaults to ``sys.stdout`` at the time of the call.
    log : bool, default True
        Send the epoch lines to the logger. Distributed workers other than worker 0
        pass False.

    The bar is shown only when ``verbose``, ``stream`` is a terminal and tqdm (the
    optional ``progress`` extra) imports; otherwise only the epoch lines are printed.
    """

    def __init__(self, verbose: bool, stream: Optional[TextIO] = None, *,
                 log: bool = True) -> None:
        self.verbose = verbose
        self.log = log
        self.stream = sys.stdout if stream is None else stream
        self._tqdm = _load_tqdm() if verbose and _is_terminal(self.stream) else None
        self._bar: Any = None

    @property
    def shows_bar(self) -> bool:
        """Whether batches advance a progress bar."""
        return self._tqdm is not None

    def epoch_begin(self, epoch: int, total: Optional[int]) -> None:
        """Open the bar of one epoch; ``total`` is its number of batches when known."""
        if self._tqdm is not None:
            self._bar = self._tqdm(total=total, desc=f"Epoch {epoch}", leave=False,
                                   file=self.stream, unit="batch")

    def batch_end(self) -> None:
        """Advance the bar by one batch."""
        if self._bar is not None:
            self._bar.update(1)

    def epoch_end(self, line: str) -> None:
        """Close the bar, print the epoch line when verbose, and log it."""
        self.close()
        if self.log:
            logger.info(line)
        if self.verbose:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar if one is open."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False
