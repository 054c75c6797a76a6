"""The python blocks of docs/training.md run as one script."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "training.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_training_doc_runs_as_one_script(capsys):
    blocks = PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    namespace = {"__name__": "training_doc"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)

    out = capsys.readouterr().out
    assert len(blocks) == 5
    assert re.search(r"^Epoch: 19, ela: \d+\.\d sec, Loss: \d\.\d{6}, Train_acc \d\.\d{4}, "
                     r"Test_acc \d\.\d{4}$", out, re.MULTILINE)
    assert "True\n{'accuracy': " in out
    assert "[0, 1, 2, 3, 4, 5]" in out
    assert "5 (1, 2, 3)" in out
