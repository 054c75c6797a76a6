"""Tests that the ``python`` blocks of docs/data.md run in order as one script.

The page's ``py`` blocks show code for comparison only and are not run.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from pathlib import Path
from typing import Any

import pytest

DATA_GUIDE = Path(__file__).resolve().parent.parent / "docs" / "data.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_data_guide_runs_as_one_script(capsys: pytest.CaptureFixture[str]) -> None:
    threads_before = set(threading.enumerate())
    children_before = set(multiprocessing.active_children())
    blocks = PYTHON_BLOCK.findall(DATA_GUIDE.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "data_guide"}

    for block in blocks:
        exec(compile(block, str(DATA_GUIDE), "exec"), namespace)

    lines = capsys.readouterr().out.splitlines()
    assert len(blocks) == 5
    assert lines[0] == "[cpu(0), cpu(1), cpu(2), cpu(3)]"
    assert lines[1] == "10 [3, 3, 2, 2]"
    assert lines[2] == "3 [cpu(0), cpu(1), cpu(2)]"
    assert lines[3] == "accuracy True"
    assert lines[4].startswith("LabelRangeError 0 (")
    assert lines[5:] == ["178", "178"]
    assert [t for t in threading.enumerate() if t not in threads_before] == []
    assert set(multiprocessing.active_children()) - children_before == set()
