"""Run the ``gluon-safe`` command line as ``python -m gluon_safe``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
