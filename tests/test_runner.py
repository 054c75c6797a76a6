"""Tests for ``gluon-safe run`` (gluon_safe.runner): unmodified scripts under patch()."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gluon_safe
from gluon_safe import patching
from gluon_safe.cli import main
from gluon_safe.runner import find_script_frame, run_script

# A plain Gluon training script as users write it: MXNet's own loss and metric. The
# label line differs between the three scripts below.
TRAINING_SCRIPT = '''\
import sys

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

mx.random.seed(7)
rng = np.random.RandomState(7)
classes = np.repeat(np.arange(3), 20)
features = rng.normal(size=(60, 4)).astype("float32") + classes[:, None]
{label_line}

net = gluon.nn.Dense(3)
net.initialize(mx.init.Xavier())
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(net.collect_params(), "sgd", {{"learning_rate": 0.1}})
metric = mx.metric.Accuracy()

print("args", sys.argv[1:], __name__)
for epoch in range(3):
    metric.reset()
    for start in range(0, 60, 20):
        data = nd.array(features[start:start + 20])
        label = nd.array(labels[start:start + 20])
        with autograd.record():
            output = net(data)
            loss = loss_fn(output, label)  # the loss line
        loss.backward()
        trainer.step(20)
        metric.update([label], [output])
    print("epoch", epoch, repr(float(loss.mean().asscalar())), metric.get())
'''

LABEL_LINES = {
    "normalized": "labels = classes / 2.0",
    "one_based": "labels = classes + 1",
    "correct": "labels = classes",
}

RUN_TIMEOUT = 120


def _write_script(directory: Path, kind: str) -> Path:
    path = directory / f"train_{kind}.py"
    path.write_text(TRAINING_SCRIPT.format(label_line=LABEL_LINES[kind]), encoding="utf-8")
    return path


def _line_of(path: Path, marker: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if marker in line)


def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT, check=False,
    )


@pytest.fixture(autouse=True)
def _always_unpatched() -> None:
    gluon_safe.unpatch()


@pytest.mark.parametrize(
    ("kind", "error", "echoed"),
    [
        ("normalized", "NonIntegerLabelError", "look normalized"),
        ("one_based", "LabelRangeError", "look 1-based"),
    ],
)
def test_run_stops_bad_script_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, error: str, echoed: str
) -> None:
    script = _write_script(tmp_path, kind)

    status = main(["run", str(script), "--flag"])

    err = capsys.readouterr().err
    line = _line_of(script, "the loss line")
    assert status == 1
    assert f"gluon-safe run: {error} at {script}, line {line}, in <module>" in err
    assert "loss = loss_fn(output, label)" in err
    assert echoed in err
    assert "runpy" not in err
    assert not patching.is_patched()


def test_run_correct_script_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _write_script(tmp_path, "correct")
    argv = sys.argv[:]

    status = main(["run", str(script), "--flag", "value"])

    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "args ['--flag', 'value'] __main__" in captured.out
    assert captured.out.count("epoch ") == 3
    assert sys.argv == argv
    assert not patching.is_patched()


def test_run_correct_script_matches_plain_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _write_script(tmp_path, "correct")
    monkeypatch.setattr(sys, "argv", [str(script), "x"])

    runpy.run_path(str(script), run_name="__main__")
    plain = capsys.readouterr().out
    status = main(["run", str(script), "x"])
    checked = capsys.readouterr().out

    assert status == 0
    assert checked == plain
    assert plain.count("epoch ") == 3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "error"),
    [("normalized", "NonIntegerLabelError"), ("one_based", "LabelRangeError")],
)
def test_run_subprocess_stops_script_that_trains_plainly(
    tmp_path: Path, kind: str, error: str
) -> None:
    script = _write_script(tmp_path, kind)

    plain = _subprocess(str(script), cwd=tmp_path)
    checked = _subprocess("-m", "gluon_safe", "run", str(script), cwd=tmp_path)

    # Plain MXNet trains on the bad labels without a complaint.
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count("epoch ") == 3
    assert checked.returncode == 1
    assert checked.stdout == "args [] __main__\n"
    line = _line_of(script, "the loss line")
    assert f"gluon-safe run: {error} at {script}, line {line}, in <module>" in checked.stderr


@pytest.mark.slow
def test_run_subprocess_correct_script_prints_same_results(tmp_path: Path) -> None:
    script = _write_script(tmp_path, "correct")

    plain = _subprocess(str(script), "a", "--b", cwd=tmp_path)
    checked = _subprocess("-m", "gluon_safe", "run", str(script), "a", "--b", cwd=tmp_path)

    assert plain.returncode == 0, plain.stderr
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == plain.stdout
    assert plain.stdout.count("epoch ") == 3
    assert plain.stdout.startswith("args ['a', '--b'] __main__\n")


@pytest.mark.parametrize(
    ("body", "expected_status", "expected_err"),
    [
        ("import sys\nsys.exit(3)\n", 3, ""),
        ("import sys\nsys.exit()\n", 0, ""),
        ("import sys\nsys.exit('stopped early')\n", 1, "stopped early"),
        ("raise KeyError('no such column')\n", 1, "KeyError: 'no such column'"),
    ],
    ids=["exit-3", "exit-none", "exit-message", "uncaught-error"],
)
def test_run_keeps_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected_status: int,
    expected_err: str,
) -> None:
    script = tmp_path / "script.py"
    script.write_text(body, encoding="utf-8")

    status = main(["run", str(script)])

    err = capsys.readouterr().err
    assert status == expected_status
    assert expected_err in err
    assert "gluon-safe run: " not in err


def test_run_traceback_starts_at_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text("def fail():\n    raise ValueError('bad value 42')\n\nfail()\n",
                      encoding="utf-8")

    status = main(["run", str(script)])

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("Traceback (most recent call last):\n")
    assert f'File "{script}", line 4, in <module>' in err
    assert "runner.py" not in err
    assert err.rstrip().endswith("ValueError: bad value 42")


def test_run_syntax_error_shows_only_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "broken.py"
    script.write_text("x = (1,\n", encoding="utf-8")

    status = main(["run", str(script)])

    err = capsys.readouterr().err
    assert status == 1
    assert "SyntaxError" in err
    assert "runpy" not in err


def test_run_script_directory_is_on_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "helper_for_run_test.py").write_text("VALUE = 'from helper'\n",
                                                     encoding="utf-8")
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\nimport helper_for_run_test\n"
        "print(helper_for_run_test.VALUE, sys.path[0], sys.argv[0])\n",
        encoding="utf-8",
    )
    path_before = sys.path[:]

    try:
        status = main(["run", str(script)])
    finally:
        sys.modules.pop("helper_for_run_test", None)

    out = capsys.readouterr().out
    assert status == 0
    assert out.strip() == f"from helper {tmp_path.resolve()} {script}"
    assert sys.path == path_before


def test_run_script_sees_patched_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import mxnet as mx\nfrom mxnet import gluon\n"
        "print(type(mx.metric.create('acc')).__name__, gluon.loss.SoftmaxCELoss.__name__)\n",
        encoding="utf-8",
    )

    status = main(["run", str(script)])

    assert status == 0
    assert capsys.readouterr().out.strip() == "SafeAccuracy SafeSoftmaxCrossEntropyLoss"
    assert not patching.is_patched()


@pytest.mark.parametrize(
    ("make_path", "echoed"),
    [
        (lambda d: d / "missing.py", "no such file"),
        (lambda d: d, "it is a directory"),
    ],
    ids=["missing", "directory"],
)
def test_run_unreadable_script_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_path: object, echoed: str
) -> None:
    path = make_path(tmp_path)  # type: ignore[operator]

    status = main(["run", str(path)])

    err = capsys.readouterr().err
    assert status == 2
    assert f"gluon-safe run: cannot open script '{path}': {echoed}" in err


def test_run_without_script_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run"])

    assert status == 2
    assert "SCRIPT" in capsys.readouterr().err


def test_run_script_label_error_outside_script_lines(tmp_path: Path) -> None:
    helper = tmp_path / "labels_helper.py"
    helper.write_text(
        "import mxnet as mx\n\ndef check():\n"
        "    mx.metric.create('acc').update([mx.nd.array([0.5])], [mx.nd.ones((1, 2))])\n",
        encoding="utf-8",
    )
    script = tmp_path / "script.py"
    script.write_text("import labels_helper\n\nlabels_helper.check()\n", encoding="utf-8")
    reports: list[str] = []

    try:
        status = run_script(str(script), write_error=reports.append)
    finally:
        sys.modules.pop("labels_helper", None)

    assert status == 1
    assert reports[-1] == (
        f"gluon-safe run: NonIntegerLabelError at {script}, line 3, in <module>\n"
        "    labels_helper.check()"
    )


def test_find_script_frame_without_traceback() -> None:
    assert find_script_frame(None, "script.py") is None


def test_run_relative_script_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "script.py").write_text(
        textwrap.dedent("""\
            import mxnet as mx
            metric = mx.metric.Accuracy()
            metric.update([mx.nd.array([1, 2])], [mx.nd.ones((2, 2))])
        """),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    status = main(["run", "script.py"])

    err = capsys.readouterr().err
    assert status == 1
    assert "gluon-safe run: LabelRangeError at script.py, line 3, in <module>" in err
