"""Tests of the launch plans, the host file and the ``gluon-safe launch`` arguments.

The ssh launcher is tested through ``--dry-run`` only: nothing here connects anywhere.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_safe import LaunchError
from gluon_safe.launch import describe, free_port, local_plan, main, read_hostfile, ssh_plan
from gluon_safe.launch._plan import SERVER_CODE

COMMAND = ["python", "train.py", "--lr", "0.1"]


def env_of(spec):
    return {**spec.env}


def test_local_plan_roles_and_commands():
    specs = local_plan(COMMAND, num_workers=3, num_servers=2, port=9999, python="/py")
    assert [spec.label for spec in specs] == [
        "scheduler", "server 0", "server 1", "worker 0", "worker 1", "worker 2"]
    assert [spec.argv for spec in specs[:3]] == [["/py", "-c", SERVER_CODE]] * 3
    assert all(spec.argv == COMMAND for spec in specs[3:])
    assert {spec.host for spec in specs} == {"127.0.0.1"}


def test_local_plan_environment():
    specs = local_plan(COMMAND, num_workers=2, num_servers=1, port=9999)
    for spec in specs:
        env = env_of(spec)
        assert env["DMLC_ROLE"] == spec.role
        assert env["DMLC_PS_ROOT_URI"] == "127.0.0.1"
        assert env["DMLC_NODE_HOST"] == "127.0.0.1"
        assert env["DMLC_PS_ROOT_PORT"] == "9999"
        assert env["DMLC_NUM_WORKER"] == "2"
        assert env["DMLC_NUM_SERVER"] == "1"
        assert env["PYTHONUNBUFFERED"] == "1"


def remote_parts(spec):
    """Split an ssh spec's remote script into (directory, environment, command)."""
    assert spec.argv[:3] == ["ssh", "-o", "BatchMode=yes"]
    assert spec.argv[3] == spec.host
    words = shlex.split(spec.argv[4])
    assert words[0] == "cd"
    assert words[2:4] == ["&&", "env"]
    assignments = [word for word in words[4:] if "=" in word and word.split("=")[0].isupper()]
    env = dict(word.split("=", 1) for word in assignments)
    return words[1], env, words[4 + len(assignments):]


def test_ssh_plan_round_robin_and_environment():
    hosts = ["node1", "me@10.0.0.2"]
    specs = ssh_plan(["python3", "train.py", "--name", "a b"], hosts, num_workers=3,
                     num_servers=2, port=9091, cwd="/data/my project")
    assert [(spec.label, spec.host) for spec in specs] == [
        ("scheduler", "node1"), ("server 0", "node1"), ("server 1", "me@10.0.0.2"),
        ("worker 0", "node1"), ("worker 1", "me@10.0.0.2"), ("worker 2", "node1")]
    for spec in specs:
        directory, env, command = remote_parts(spec)
        assert directory == "/data/my project"
        assert env["DMLC_ROLE"] == spec.role
        assert env["DMLC_PS_ROOT_URI"] == "node1"
        assert env["DMLC_PS_ROOT_PORT"] == "9091"
        assert env["DMLC_NODE_HOST"] == spec.host.split("@")[-1]
        assert env["DMLC_NUM_WORKER"] == "3"
        assert env["DMLC_NUM_SERVER"] == "2"
        expected = (["python3", "train.py", "--name", "a b"] if spec.role == "worker"
                    else ["python3", "-c", SERVER_CODE])
        assert command == expected
        assert spec.env == {}


def test_ssh_plan_non_python_command():
    specs = ssh_plan(["./train.sh"], ["node1"], num_workers=1, num_servers=1, port=1,
                     cwd="/")
    assert remote_parts(specs[1])[2] == ["python3", "-c", SERVER_CODE]
    assert remote_parts(specs[2])[2] == ["./train.sh"]


def test_read_hostfile_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# cluster\nnode1\n\n  user@10.0.0.2   # gpu\nnode-3.example.org\n")
    assert read_hostfile(str(path)) == ["node1", "user@10.0.0.2", "node-3.example.org"]


@pytest.mark.parametrize("line", ["-oProxyCommand=x", "node 1", "a;b"])
def test_read_hostfile_rejects_non_host(tmp_path, line):
    path = tmp_path / "hosts"
    path.write_text(f"node1\n{line}\n")
    with pytest.raises(LaunchError, match=f"line 2: {line!r} is not a host name"):
        read_hostfile(str(path))


def test_read_hostfile_empty(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# nothing\n\n")
    with pytest.raises(LaunchError, match="lists no host"):
        read_hostfile(str(path))


def test_read_hostfile_missing(tmp_path):
    with pytest.raises(LaunchError, match=r"cannot read the host file .*missing"):
        read_hostfile(str(tmp_path / "missing"))


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    assert 0 < port < 65536


def test_describe_local_and_ssh():
    local = local_plan(["python", "a b.py"], num_workers=1, num_servers=1, port=5,
                       python="/py")
    line = describe(local[2])
    assert line.startswith("worker 0 on 127.0.0.1: env ")
    assert "DMLC_ROLE=worker" in line
    assert line.endswith("python 'a b.py'")
    remote = ssh_plan(["python", "t.py"], ["n1"], num_workers=1, num_servers=1, port=5,
                      cwd="/w")
    assert describe(remote[0]).startswith("scheduler on n1: ssh -o BatchMode=yes n1 ")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "gluon_safe.launch", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_dry_run_local():
    result = run_cli("-n", "2", "-s", "1", "--port", "9123", "--dry-run", "--", "python",
                     "train.py", "--epochs", "3")
    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert [line.split(":")[0] for line in lines] == [
        "scheduler on 127.0.0.1", "server 0 on 127.0.0.1", "worker 0 on 127.0.0.1",
        "worker 1 on 127.0.0.1"]
    assert all("DMLC_PS_ROOT_PORT=9123" in line for line in lines)
    assert lines[-1].endswith("python train.py --epochs 3")


def test_cli_dry_run_ssh(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("node1\nnode2\n")
    result = run_cli("-n", "2", "-s", "2", "--launcher", "ssh", "-H", str(hosts),
                     "--dry-run", "--", "python", "train.py")
    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert [line.split(":")[0] for line in lines] == [
        "scheduler on node1", "server 0 on node1", "server 1 on node2", "worker 0 on node1",
        "worker 1 on node2"]
    assert all(" ssh -o BatchMode=yes " in line for line in lines)
    assert all("DMLC_PS_ROOT_URI=node1" in line for line in lines)
    assert all("DMLC_PS_ROOT_PORT=9091" in line for line in lines)


@pytest.mark.parametrize("args, message", [
    (["-n", "2"], "no command to run"),
    (["-n", "2", "--"], "no command to run"),
    (["-n", "2", "-H", "hosts", "--", "python", "t.py"], "--hostfile is for --launcher ssh"),
    (["-n", "2", "--launcher", "ssh", "--", "python", "t.py"], "--launcher ssh needs --hostfile"),
    (["-n", "0", "--", "python", "t.py"], "invalid value '0': expected an integer >= 1"),
    (["-n", "2", "--timeout", "-1", "--", "python"], "invalid time-out '-1'"),
    (["-n", "2", "--timeout", "nan", "--", "python"], "invalid time-out 'nan'"),
    (["-n", "2", "--port", "70000", "--", "python"], "invalid port '70000'"),
    (["--", "python", "t.py"], "required: -n/--num-workers"),
], ids=["no-command", "empty-command", "hostfile-local", "ssh-no-hostfile", "zero-workers",
        "negative-timeout", "nan-timeout", "port-range", "no-workers"])
def test_cli_usage_errors(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_help_names_exit_statuses(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "124 on time-out" in text
    assert "-- COMMAND" in text


DOCS = Path(__file__).resolve().parent.parent / "docs" / "distributed.md"


def test_docs_launch_commands_parse(tmp_path):
    # Every `gluon-safe launch` command of the page, run with --dry-run in a directory
    # with the page's host file.
    text = DOCS.read_text(encoding="utf-8")
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
                for line in block.splitlines() if line.startswith("gluon-safe launch ")]
    (tmp_path / "hosts").write_text("node1\nnode2\n")
    assert len(commands) == 2
    for command in commands:
        args = shlex.split(command)[2:]
        if "--dry-run" not in args:
            args.insert(0, "--dry-run")
        result = subprocess.run([sys.executable, "-m", "gluon_safe.launch", *args],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert [line.split(" on ")[0] for line in result.stdout.splitlines()
                if line.startswith("worker ")] == ["worker 0", "worker 1"]


def test_add_parser_as_subcommand(capsys):
    import argparse

    from gluon_safe.launch import add_parser

    parser = argparse.ArgumentParser(prog="gluon-safe")
    commands = parser.add_subparsers(dest="command")
    add_parser(commands)
    args = parser.parse_args(["launch", "-n", "1", "--port", "9000", "--dry-run", "--",
                              "python", "train.py", "--lr", "0.1"])

    assert args.command == "launch"
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[-1].endswith("python train.py --lr 0.1")
