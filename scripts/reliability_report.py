"""Generate docs/reliability.md from the tests marked ``reliability`` and their results.

Each test that backs a row of the page carries ``@pytest.mark.reliability(row, ...)``
(see ``tests/conftest.py``). One test of each row gives the input and the behaviour of
plain MXNet 1.9.1 and of gluon_safe. Tests with ``role='mxnet'`` show the plain MXNet
behaviour. This script runs every marked test under ``tests/`` with pytest, then writes
one table row per row name, with the results of its tests.

Usage::

    python scripts/reliability_report.py                 # run the tests, write the page
    python scripts/reliability_report.py --check         # fail if the page is out of date
    python scripts/reliability_report.py -- -x           # pass options on to pytest

The exit status is 1 when a marked test failed or, with ``--check``, when the page on
disk differs from the generated one; 2 when the markers are inconsistent.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "reliability.md"
TEXT_FIELDS = ("input", "mxnet", "gluon_safe")
ROLES = ("gluon_safe", "mxnet")

SECTION_ORDER = (
    "test_reliability_labels",
    "test_reliability_batches",
    "test_reliability_training",
    "test_reliability_differential",
    "test_reliability_faults",
    "test_reliability_sync",
)
"""Modules whose sections come first, in this order; other modules follow by name."""


class MarkerError(Exception):
    """The reliability markers do not describe each row exactly once."""


@dataclass
class MarkedTest:
    """One collected test item and the content of its marker."""

    nodeid: str
    module: str
    row: str
    role: str
    texts: Dict[str, str]
    outcome: str = "not run"


@dataclass
class Row:
    """One row of the page: its texts and the tests behind it."""

    name: str
    module: str
    texts: Dict[str, str] = field(default_factory=dict)
    tests: List[MarkedTest] = field(default_factory=list)


class Collector:
    """A pytest plugin that records the marked tests and their outcomes."""

    def __init__(self) -> None:
        self.tests: Dict[str, MarkedTest] = {}
        self.module_titles: Dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: List[Any]) -> None:
        for item in items:
            marker = item.get_closest_marker("reliability")
            if marker is None:
                continue
            module = item.module.__name__.rsplit(".", 1)[-1]
            self.module_titles.setdefault(module, _title_of(item.module.__doc__, module))
            self.tests[item.nodeid] = _marked_test(item.nodeid, module, marker)

    def pytest_runtest_logreport(self, report: Any) -> None:
        test = self.tests.get(report.nodeid)
        if test is None:
            return
        if report.failed:
            test.outcome = "failed"
        elif report.skipped and test.outcome != "failed":
            test.outcome = "skipped"
        elif report.when == "call" and report.passed and test.outcome == "not run":
            test.outcome = "passed"


def _marked_test(nodeid: str, module: str, marker: Any) -> MarkedTest:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise MarkerError(f"{nodeid}: reliability() takes the row name as its one positional "
                          f"argument, got {marker.args!r}")
    unknown = set(marker.kwargs) - {*TEXT_FIELDS, "role"}
    if unknown:
        raise MarkerError(f"{nodeid}: unknown reliability() options {sorted(unknown)}; "
                          f"expected {', '.join(TEXT_FIELDS)} or role")
    role = marker.kwargs.get("role", "gluon_safe")
    if role not in ROLES:
        raise MarkerError(f"{nodeid}: role={role!r} is not one of {ROLES}")
    texts = {name: marker.kwargs[name] for name in TEXT_FIELDS if name in marker.kwargs}
    return MarkedTest(nodeid, module, marker.args[0], role, texts)


def _title_of(docstring: Optional[str], module: str) -> str:
    first = (docstring or module).strip().splitlines()[0].rstrip(".")
    if first.startswith("Reliability:"):
        first = first.split(":", 1)[1].strip()
    return first[:1].upper() + first[1:]


def build_rows(tests: Sequence[MarkedTest]) -> List[Row]:
    """Group the tests by row name, in collection order, and take each row's texts.

    Raises
    ------
    MarkerError
        If a row has no test with all three texts, or more than one test with texts.
    """
    rows: Dict[str, Row] = {}
    for test in tests:
        row = rows.setdefault(test.row, Row(test.row, test.module))
        row.tests.append(test)
        if not test.texts:
            continue
        if row.texts and test.texts != row.texts:
            raise MarkerError(f"row {test.row!r} has texts on more than one test, and they "
                              f"differ ({test.nodeid}); give them on one test only")
        row.texts = test.texts
    for row in rows.values():
        missing = [name for name in TEXT_FIELDS if name not in row.texts]
        if missing:
            raise MarkerError(f"row {row.name!r} lacks {', '.join(missing)}: one of its tests "
                              "must give input, mxnet and gluon_safe")
    return list(rows.values())


def _section_key(module: str) -> tuple[int, str]:
    if module in SECTION_ORDER:
        return SECTION_ORDER.index(module), module
    return len(SECTION_ORDER), module


def _result(row: Row) -> str:
    parts = []
    for role, label in (("gluon_safe", "gluon_safe"), ("mxnet", "MXNet shown")):
        tests = [test for test in row.tests if test.role == role]
        if not tests:
            if role == "mxnet":
                parts.append("MXNet not shown by a test")
            continue
        passed = sum(test.outcome == "passed" for test in tests)
        parts.append(f"{label}: {passed}/{len(tests)} passed")
        failed = [test.nodeid.split("::", 1)[-1] for test in tests if test.outcome != "passed"]
        if failed:
            parts.append("not passed: " + ", ".join(f"`{name}`" for name in failed))
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _test_names(row: Row) -> str:
    names: Dict[str, int] = {}
    for test in row.tests:
        function = test.nodeid.split("::", 1)[-1].split("[", 1)[0]
        names[function] = names.get(function, 0) + 1
    listed = [f"`{name}`" + (f" ({count} cases)" if count > 1 else "")
              for name, count in names.items()]
    return ", ".join(listed)


def render(rows: Sequence[Row], titles: Dict[str, str], *, mxnet_version: str) -> str:
    """Return the Markdown page for ``rows``, grouped by test module."""
    ordered = sorted(rows, key=lambda row: _section_key(row.module))
    total = sum(len(row.tests) for row in rows)
    passed = sum(test.outcome == "passed" for row in rows for test in row.tests)
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by scripts/reliability_report.py; do not edit by hand. -->",
        "",
        "Bad inputs tried and faults injected, each with what plain MXNet does and what "
        "gluon_safe does. Every row is backed by tests marked `reliability` under `tests/`; "
        "the result column says how those tests ended in the run that wrote this page. "
        "Tests marked as showing MXNet run plain MXNet on the same input and assert the "
        "behaviour described in the MXNet column. Where that column says \"not tried\", "
        "no test runs plain MXNet for the row.",
        "",
        f"Run: MXNet {mxnet_version}; {passed} of {total} tests passed.",
        "",
        "Regenerate with `python scripts/reliability_report.py`.",
    ]
    number = 0
    current_module = None
    for row in ordered:
        if row.module != current_module:
            current_module = row.module
            lines += ["", f"## {titles.get(row.module, row.module)}", "",
                      f"Tests: `tests/{row.module}.py`", "",
                      "| # | input | plain MXNet 1.9.1 | gluon_safe | result |",
                      "|---|---|---|---|---|"]
        number += 1
        texts = row.texts
        lines.append(f"| {number} | {_cell(texts['input'])} | {_cell(texts['mxnet'])} | "
                     f"{_cell(texts['gluon_safe'])} | {_cell(_result(row))} |")

    lines += ["", "## Tests behind each row", ""]
    for number, row in enumerate(ordered, start=1):
        lines.append(f"{number}. {row.name}: {_test_names(row)}")
    return "\n".join(lines) + "\n"


def run_tests(pytest_args: Sequence[str]) -> tuple[Collector, int]:
    """Run the marked tests under tests/ and return the collector and pytest's status."""
    collector = Collector()
    args = [str(REPO_ROOT / "tests"), "-m", "reliability", "-q", "-p", "no:cacheprovider",
            *pytest_args]
    status = pytest.main(args, plugins=[collector])
    return collector, int(status)


def _mxnet_version() -> str:
    # The tests have imported MXNet already; _compat silences its import-time warning.
    from gluon_safe._compat import mx

    return str(mx.__version__)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="the Markdown file to write (default: docs/reliability.md)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the file on disk instead of writing it")
    parser.add_argument("pytest_args", nargs="*", help="options passed on to pytest, after --")
    options = parser.parse_args(argv)

    collector, status = run_tests(options.pytest_args)
    if not collector.tests:
        print("no test carries the reliability marker", file=sys.stderr)
        return 2
    try:
        rows = build_rows(list(collector.tests.values()))
    except MarkerError as error:
        print(f"reliability markers are inconsistent: {error}", file=sys.stderr)
        return 2
    page = render(rows, collector.module_titles, mxnet_version=_mxnet_version())

    failed = any(test.outcome != "passed" for test in collector.tests.values())
    if options.check:
        current = options.output.read_text() if options.output.exists() else ""
        if current != page:
            print(f"{options.output} is out of date; run scripts/reliability_report.py",
                  file=sys.stderr)
            return 1
        return 1 if failed or status not in (0, 5) else 0
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(page)
    print(f"wrote {options.output}: {len(rows)} rows, "
          f"{sum(t.outcome == 'passed' for t in collector.tests.values())} of "
          f"{len(collector.tests)} tests passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
