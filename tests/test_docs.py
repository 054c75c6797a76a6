"""Tests that the examples and commands in README.md and docs/ run as written."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _code_blocks(path: Path, language: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in CODE_BLOCK.findall(text) if lang == language]


def _run_blocks(blocks: list[str], namespace: dict[str, Any]) -> None:
    for block in blocks:
        exec(compile(block, "<docs>", "exec"), namespace)


def test_why_normalized_labels_doctests_pass() -> None:
    path = ROOT / "docs" / "why-normalized-labels.md"

    results = doctest.testfile(
        str(path), module_relative=False, report=True,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )

    assert results.failed == 0
    assert results.attempted >= 15


def test_quickstart_runs_as_one_script(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _code_blocks(ROOT / "docs" / "quickstart.md", "python")

    _run_blocks(blocks, {"__name__": "quickstart"})

    out = capsys.readouterr().out
    assert len(blocks) == 5
    assert "(1, 2, 3) -> [0, 1, 2]" in out
    assert "NonIntegerLabelError" in out


def test_readme_python_snippets_run() -> None:
    blocks = _code_blocks(ROOT / "README.md", "python")
    namespace: dict[str, Any] = {"train_classes": [3, 1, 2, 1]}

    _run_blocks(blocks, namespace)

    assert list(namespace["train_labels"]) == [2, 0, 1, 0]
    assert type(namespace["metric"]).__name__ == "SafeAccuracy"
    assert type(namespace["loss_fn"]).__name__ == "SafeSoftmaxCrossEntropyLoss"


def test_readme_commands_pin_numpy() -> None:
    commands = _code_blocks(ROOT / "README.md", "bash")[:2]

    assert commands[0].strip().endswith("gluon-safe demo")
    assert commands[1].strip().endswith("python -m pytest")
    for command in commands:
        assert 'pip install' in command
        assert '"numpy>=1.21,<1.24"' in command


def test_readme_test_command_is_what_ci_runs() -> None:
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme_command = _code_blocks(ROOT / "README.md", "bash")[1].split("&&")[-1].strip()

    ci_commands = [line.strip() for line in ci_script.splitlines() if "pytest" in line]

    assert readme_command == "python -m pytest"
    assert "run python -m pytest" in ci_commands


def test_readme_translation_has_same_code() -> None:
    for language in ("bash", "python"):
        english = _code_blocks(ROOT / "README.md", language)
        chinese = _code_blocks(ROOT / "README.zh-CN.md", language)

        assert [_strip_comments(b) for b in chinese] == [_strip_comments(b) for b in english]


def _strip_comments(block: str) -> str:
    return "\n".join(line.split("#")[0].rstrip() for line in block.splitlines())
