"""``python -m jobgraph_ssh.sandbox``: loopback hosts to try the command and the library
on, started and stopped as a user would (a subprocess, Ctrl-C)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

import jobgraph as jg
from jobgraph_ssh import Run, SshJob, close_all
from jobgraph_ssh.sandbox import Sandbox

from .conftest import ROOT, TIMEOUT, cli_env


@pytest.fixture(scope="module")
def sandbox_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A sandbox of 3 hosts started in a directory named relatively: (cwd, what it printed)."""
    cwd = tmp_path_factory.mktemp("sandbox-user")
    env = cli_env(cwd)
    process = subprocess.Popen(
        [sys.executable, "-m", "jobgraph_ssh.sandbox", "--hosts", "3", "--dir", "try-me"],
        cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    try:
        for line in process.stdout:  # bounded: the sandbox prints a few lines, then waits
            printed.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C stops"):
                break
        assert printed and printed[-1].startswith("Ctrl-C stops"), printed
        yield cwd, printed
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0
    assert err == "sandbox: stopped\n"


def refused(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_sandbox_prints_a_command_that_runs_as_printed(
    sandbox_run: tuple[Path, list[str]],
) -> None:
    cwd, printed = sandbox_run
    commands = [line.strip() for line in printed if line.startswith("    ")]
    assert commands == [". try-me/env.sh && jobgraph-ssh -t lab uname -a"]
    env = cli_env(cwd)
    env["PYTHONPATH"] = f"{ROOT / 'src'}"
    done = subprocess.run(
        ["/bin/sh", "-c", commands[0]], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 ok of 3 hosts" in done.stderr
    assert len(done.stdout.splitlines()) == 3
    sandbox = Sandbox.load(cwd / "try-me")
    assert sandbox.host == "127.0.0.1"
    assert {line.rsplit(": ", 1)[0] for line in done.stdout.splitlines()} == set(sandbox.names())


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sandbox_nodes_from_python_with_a_gateway(
    sandbox_run: tuple[Path, list[str]], backend: str
) -> None:
    cwd, _ = sandbox_run
    sandbox = Sandbox.load(cwd / "try-me")
    gateway = sandbox.node(0)
    nodes = [sandbox.node(index, gateway=gateway) for index in (1, 2)]
    jobs = [SshJob(node, Run("echo", "hi from", node.label), label=node.label) for node in nodes]
    scheduler = jg.Scheduler(*jobs)
    try:
        assert jg.run(scheduler, backend=backend)
    finally:
        jg.run(jg.Scheduler(jg.Job(close_all, scheduler)), backend=backend)
    assert [job.result()[0].stdout for job in jobs] == ["hi from node2\n", "hi from node3\n"]


def test_sandbox_files_and_stop(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "jobgraph_ssh.sandbox", "--hosts", "2", "--json", "--dir", "sb"],
        cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        directory = tmp_path / "sb"
        assert ready["directory"] == str(directory)
        assert (directory / "id_ed25519").stat().st_mode & 0o077 == 0
        assert (directory / "targets").read_text().split() == [
            f"127.0.0.1:{port}" for port in ready["ports"]
        ]
        assert len((directory / "known_hosts").read_text().splitlines()) == 2
        assert not any(refused(port) for port in ready["ports"])
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0
        assert all(refused(port) for port in ready["ports"])
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_sandbox_load_without_a_sandbox_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m jobgraph_ssh\.sandbox --dir"):
        Sandbox.load(tmp_path / "nothing")


def test_test_server_takes_a_relative_stats_path(tmp_path: Path) -> None:
    """tests/ssh/_server.py changes directory to --cwd: a relative --stats path is the
    caller's."""
    (tmp_path / "home").mkdir()
    public = tmp_path / "key.pub"
    public.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh"))
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "ssh" / "_server.py"), "--authorized-keys",
         "key.pub", "--stats", "stats.json", "--cwd", "home"],
        cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line  # ready
        assert json.loads((tmp_path / "stats.json").read_text())["connections"] == 0
    finally:
        process.terminate()
        _, err = process.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err
