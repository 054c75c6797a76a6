"""Tests for the gluon-safe command line (gluon_safe.cli, python -m gluon_safe)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import gluon_safe
from gluon_safe.cli import EXIT_BROKEN_PIPE, EXIT_USAGE, main


def test_main_version(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--version"])

    assert status == 0
    assert capsys.readouterr().out.strip() == f"gluon-safe {gluon_safe.__version__}"


def test_main_without_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main([])

    assert status == EXIT_USAGE == 2
    assert "COMMAND" in capsys.readouterr().err


def test_main_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["nonsense"])

    assert status == EXIT_USAGE
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "echoed"),
    [
        ("--epochs", "0", "invalid value '0'"),
        ("--epochs", "-3", "invalid value '-3'"),
        ("--epochs", "two", "invalid value 'two'"),
        ("--seed", "-1", "invalid value '-1'"),
        ("--seed", str(2**32), f"invalid value '{2**32}'"),
        ("--seed", "1.5", "invalid value '1.5'"),
    ],
    ids=["epochs-zero", "epochs-negative", "epochs-word", "seed-negative", "seed-too-large",
         "seed-fraction"],
)
def test_demo_invalid_option_is_usage_error(
    capsys: pytest.CaptureFixture[str], option: str, value: str, echoed: str
) -> None:
    status = main(["demo", option, value])

    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert option in err
    assert echoed in err


def test_demo_help_lists_options(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--help"])

    out = capsys.readouterr().out
    assert status == 0
    assert "--epochs" in out
    assert "--seed" in out


def test_main_runs_demo(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--epochs", "1", "--seed", "3"])

    out = capsys.readouterr().out
    assert status == 0
    assert "seed 3" in out
    assert out.count("Epoch: ") == 1


def test_python_m_gluon_safe_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gluon_safe", "--version"],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"gluon-safe {gluon_safe.__version__}"


def test_python_m_gluon_safe_usage_error_exits_2() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gluon_safe", "demo", "--epochs", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert completed.returncode == 2
    assert "invalid value '0'" in completed.stderr


def test_console_script_points_to_main() -> None:
    entry_points = metadata.distribution("gluon-safe").entry_points

    targets = [
        entry.value for entry in entry_points
        if entry.group == "console_scripts" and entry.name == "gluon-safe"
    ]

    assert targets == ["gluon_safe.cli:main"]


def test_demo_closed_stdout_exits_without_traceback() -> None:
    # Enough epochs that the demo is still writing when the pipe closes.
    process = subprocess.Popen(
        [sys.executable, "-m", "gluon_safe", "demo", "--epochs", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None

    first_line = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    status = process.wait(timeout=120)

    assert first_line.startswith("UCI Wine data:")
    assert status == EXIT_BROKEN_PIPE
    assert "Traceback" not in stderr


def test_main_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--help"])

    out = capsys.readouterr().out
    assert status == 0
    for command in ("demo", "run", "check-labels", "train", "predict"):
        assert command in out


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("run", ["SCRIPT", "ARGS"]),
        ("check-labels", ["--column", "--num-classes", "--format", "--json", "--min-samples"]),
        ("train", ["--label-column", "--epochs", "--hidden", "--test-size", "--seed", "--out"]),
        ("predict", ["DIR", "FILE"]),
    ],
)
def test_command_help_lists_options(
    capsys: pytest.CaptureFixture[str], command: str, options: list[str]
) -> None:
    status = main([command, "--help"])

    out = capsys.readouterr().out
    assert status == 0
    for option in options:
        assert option in out


@pytest.mark.slow
def test_python_m_check_labels_exit_codes(tmp_path: Path) -> None:
    clean = tmp_path / "clean.txt"
    clean.write_text("0\n1\n" * 5, encoding="utf-8")
    one_based = tmp_path / "one_based.txt"
    one_based.write_text("1\n2\n" * 5, encoding="utf-8")

    statuses = [
        subprocess.run(
            [sys.executable, "-m", "gluon_safe", "check-labels", str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        ).returncode
        for path in (clean, one_based, tmp_path / "missing.txt")
    ]

    assert statuses == [0, 1, 2]
