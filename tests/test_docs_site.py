"""Tests that the documentation site is complete and its examples match the code."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from gluon_safe.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CODE_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(path: Path, language: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in CODE_BLOCK.findall(text) if lang == language]


def _nav_pages() -> list[str]:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:"):]
    return re.findall(r"([\w/-]+\.md)\s*$", nav, re.MULTILINE)


def test_mkdocs_nav_lists_every_page() -> None:
    pages = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))

    nav = _nav_pages()

    assert sorted(nav) == pages
    assert len(nav) == len(set(nav))


def test_mkdocs_uses_material_and_mkdocstrings() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")

    assert re.search(r"^theme:\n  name: material$", config, re.MULTILINE)
    assert "  - mkdocstrings:" in config
    assert "docstring_style: numpy" in config


def test_reference_pages_name_importable_modules() -> None:
    targets = [
        target for page in (DOCS / "reference").glob("*.md")
        for target in re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"),
                                 re.MULTILINE)
    ]

    assert "gluon_safe.patching" in targets
    for target in targets:
        importlib.import_module(target)


def test_chinese_quickstart_has_same_code() -> None:
    english = DOCS / "quickstart.md"
    chinese = DOCS / "zh" / "quickstart.md"

    assert _blocks(chinese, "python") == _blocks(english, "python")
    assert _blocks(chinese, "bash")[0] == _blocks(english, "bash")[0]


def test_cli_doc_check_labels_example_matches_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = next(block for block in _blocks(DOCS / "cli.md", "bash")
                   if block.startswith("gluon-safe check-labels gluon_safe/"))
    shown = next(block for block in _blocks(DOCS / "cli.md", "text")
                 if block.startswith("labels: "))
    monkeypatch.chdir(ROOT)

    status = main(command.split()[1:])

    assert status == 1
    assert capsys.readouterr().out == shown


def test_docs_extra_pins_versions() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    docs_extra = pyproject[pyproject.index("\ndocs = ["):]
    docs_extra = docs_extra[:docs_extra.index("]")]

    pins = re.findall(r'"([\w-]+)==([\d.]+)"', docs_extra)

    assert [name for name, _ in pins] == [
        "mkdocs", "mkdocs-material", "mkdocstrings", "mkdocstrings-python",
    ]


def test_ci_builds_docs_strictly() -> None:
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    assert 'run python -m pip install -e ".[dev,docs]" "$numpy_pin"' in ci_script
    assert re.search(r"^run mkdocs build --strict", ci_script, re.MULTILINE)
