"""``python -m gluon_safe.launch``: the same as ``gluon-safe launch``."""

from __future__ import annotations

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
