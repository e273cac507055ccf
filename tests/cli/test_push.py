"""``--push`` through PushFileService, and ``--backend trio``: the real command, as a
subprocess, against loopback SSH hosts.

The hosts of one test server share its directory; the push tests run one server per
host instead, so each host has files of its own (one up to date, another stale)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ssh.conftest import start_asyncssh

from .conftest import TIMEOUT, Cli, ClientKey, Servers, cli_env, names, stdout_lines
from .test_command import summary_rows


@dataclass
class Apart:
    """Loopback hosts with a directory each (one test server per host)."""

    hosts: list[str]  # as targets: 127.0.0.1:PORT
    homes: dict[str, Path]  # host -> its directory (where relative remote paths go)
    client_key: Path
    known_hosts: Path


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Apart]:
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                start_asyncssh(tmp_path_factory.mktemp(f"push-host{i}"), client_key, hosts=1)
            )
            for i in range(3)
        ]
        known = tmp_path_factory.mktemp("push-known") / "known_hosts"
        known.write_text("".join(s.known_hosts.read_text() for s in started))
        homes = {names(s)[0]: s.known_hosts.parent for s in started}
        yield Apart(list(homes), homes, started[0].client_key, known)


def push_cli(apart: Apart, tmp_path: Path, backend: str = "asyncio") -> Cli:
    return Cli(
        [sys.executable, "-m", "jobgraph_ssh"],
        cli_env(tmp_path),
        [
            "-k", str(apart.client_key), "--known-hosts-file", str(apart.known_hosts),
            "--backend", backend,
        ],
    )  # fmt: skip


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def push_cells(stderr: str) -> dict[str, str]:
    """host -> the push column's words (the plain summary: after the duration)."""
    return {
        host: " ".join(row[next(i for i, c in enumerate(row) if c.endswith("s")) + 1 :])
        for host, row in summary_rows(stderr).items()
    }


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_second_push_of_the_same_files_skips_every_host(
    apart: Apart, tmp_path: Path, backend: str
) -> None:
    cli = push_cli(apart, tmp_path, backend)
    tool = tmp_path / "tool.bin"
    data = secrets.token_bytes(300_000)
    tool.write_bytes(data)
    tool.chmod(0o750)
    tree = tmp_path / "conf"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.ini").write_text("a = 1\n")
    (tree / "empty").mkdir()
    remote = unique("deploy")
    first = cli.run("-t", " ".join(apart.hosts), "--push", str(tool), str(tree), remote)
    assert first.returncode == 0, first.stderr
    assert push_cells(first.stderr) == dict.fromkeys(apart.hosts, "uploaded (2 files)")
    for host, home in apart.homes.items():
        assert (home / remote / "tool.bin").read_bytes() == data
        assert mode_of(home / remote / "tool.bin") == 0o750  # the local mode, kept
        assert (home / remote / "conf" / "sub" / "a.ini").read_text() == "a = 1\n"
        assert (home / remote / "conf" / "empty").is_dir()
        assert f"{host}: uploaded {remote}/tool.bin" in first.stdout
    inodes = {h: (home / remote / "tool.bin").stat().st_ino for h, home in apart.homes.items()}

    second = cli.run("-t", " ".join(apart.hosts), "--push", str(tool), str(tree), remote)
    assert second.returncode == 0, second.stderr
    cells = push_cells(second.stderr)
    assert cells == dict.fromkeys(apart.hosts, "skipped (up to date, 2 files)")
    assert stdout_lines(second) == sorted(
        f"{host}: skipped (up to date) {remote}/{path}"
        for host in apart.hosts
        for path in ("tool.bin", "conf/sub/a.ini")
    )
    for host, home in apart.homes.items():  # not rewritten
        assert (home / remote / "tool.bin").stat().st_ino == inodes[host]
        assert sorted(p.name for p in (home / remote).iterdir()) == ["conf", "tool.bin"]


def test_a_stale_file_is_replaced_and_json_tells_each_host(apart: Apart, tmp_path: Path) -> None:
    cli = push_cli(apart, tmp_path)
    app = tmp_path / "app.conf"
    app.write_text("version = 2\n")
    app.chmod(0o640)
    notes = tmp_path / "notes.txt"
    notes.write_text("read me\n")
    remote = unique("etc")
    fresh, stale, blocked = apart.hosts
    first = cli.run("-t", " ".join(apart.hosts), "-q", "--push", str(app), str(notes), remote)
    assert first.returncode == 0, first.stderr
    # one host gets an old app.conf; on another, notes.txt cannot be replaced (a directory
    # is in its way); one host cannot be reached at all
    (apart.homes[stale] / remote / "app.conf").write_text("version = 1\n")
    (apart.homes[blocked] / remote / "notes.txt").unlink()
    (apart.homes[blocked] / remote / "notes.txt" / "in-the-way").mkdir(parents=True)
    dead = "127.0.0.1:1"
    report = tmp_path / "report.json"
    targets = [*apart.hosts, dead]
    again = cli.run(
        "-t", " ".join(targets), "--json", str(report), "--push", str(app), str(notes), remote
    )
    assert again.returncode == 1
    entries = {entry["host"]: entry for entry in json.loads(report.read_text())}
    assert list(entries) == targets

    def actions(host: str) -> dict[str, str]:
        return {Path(f["remote"]).name: f["action"] for f in entries[host]["push"]["files"]}

    assert entries[fresh]["status"] == "ok"
    assert entries[fresh]["push"]["result"] == "skipped"
    assert actions(fresh) == {"app.conf": "skipped", "notes.txt": "skipped"}

    assert entries[stale]["status"] == "ok"
    assert entries[stale]["push"]["result"] == "uploaded"
    assert (entries[stale]["push"]["uploaded"], entries[stale]["push"]["skipped"]) == (1, 1)
    assert actions(stale) == {"app.conf": "uploaded", "notes.txt": "skipped"}
    replaced = apart.homes[stale] / remote / "app.conf"
    assert replaced.read_text() == "version = 2\n"
    assert mode_of(replaced) == 0o640

    assert entries[blocked]["status"] == "failed"
    assert entries[blocked]["push"]["result"] == "failed"
    assert actions(blocked) == {"app.conf": "skipped", "notes.txt": "failed"}
    [failure] = [f for f in entries[blocked]["push"]["files"] if f["action"] == "failed"]
    assert failure["error"] and "notes.txt" in failure["error"]
    assert "notes.txt" in entries[blocked]["error"]
    leftovers = [p.name for p in (apart.homes[blocked] / remote).iterdir()]
    assert sorted(leftovers) == ["app.conf", "notes.txt"]  # no temporary file left

    assert entries[dead]["status"] == "unreachable"
    assert entries[dead]["push"] == {
        "result": "failed", "uploaded": 0, "mode": 0, "skipped": 0, "failed": 2, "files": [],
    }  # fmt: skip

    cells = push_cells(again.stderr)
    assert cells[fresh] == "skipped (up to date, 2 files)"
    assert cells[stale] == "uploaded (1 uploaded, 1 up to date)"
    assert cells[blocked].startswith("failed (1 up to date, 1 failed)")


def test_a_run_under_trio_gives_the_same_summary(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    dead = "127.0.0.1:1"
    targets = " ".join([*names(servers, [0, 1]), dead])
    runs = {}
    reports = {}
    for backend in ("asyncio", "trio"):
        report = tmp_path / f"{backend}.json"
        runs[backend] = cli1.run(
            "-t", targets, "--backend", backend, "--json", str(report),
            "echo hi; echo err >&2; exit 3",
        )  # fmt: skip
        reports[backend] = [
            {key: entry[key] for key in ("host", "status", "exit_status", "error", "stdout")}
            for entry in json.loads(report.read_text())
        ]
    for result in runs.values():
        assert result.returncode == 1
        assert stdout_lines(result) == sorted(f"{h}: hi" for h in names(servers, [0, 1]))
    rows = {
        backend: {host: row[0] for host, row in summary_rows(result.stderr).items()}
        for backend, result in runs.items()
    }
    assert rows["trio"] == rows["asyncio"]
    assert reports["trio"] == reports["asyncio"]
    assert summary_rows(runs["trio"].stderr)[names(servers)[0]][:2] == ["failed", "3"]
    assert rows["trio"][dead] == "unreachable"
    ok = cli1.run("-t", " ".join(names(servers)), "--backend", "trio", "-q", "true")
    assert ok.returncode == 0, ok.stderr
    assert "4 ok of 4 hosts" in ok.stderr


def test_interrupt_under_trio_stops_remote_commands(cli1: Cli, servers: Servers) -> None:
    assert servers.wait_stats("processes_now", 0)["processes_now"] == 0
    process = cli1.popen(
        "-t", " ".join(names(servers)), "--backend", "trio", "sleep 30",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert servers.wait_stats("processes_now", 4, timeout=20)["processes_now"] == 4
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert {row[0] for row in summary_rows(err).values()} == {"interrupted"}
    assert servers.wait_stats("processes_now", 0)["processes_now"] == 0


def test_bad_backend_is_a_usage_error(cli1: Cli) -> None:
    result = cli1.run("-t", "somewhere", "--backend", "curio", "true")
    assert result.returncode == 2
    assert "--backend" in result.stderr


def test_a_destination_that_cannot_be_made_fails_the_host(apart: Apart, tmp_path: Path) -> None:
    cli = push_cli(apart, tmp_path)
    local = tmp_path / "f.txt"
    local.write_text("f\n")
    remote = unique("taken")
    host = apart.hosts[0]
    (apart.homes[host] / remote).write_text("a file, not a directory\n")
    result = cli.run("-t", host, "--json", "-", "--push", str(local), remote)
    assert result.returncode == 1
    [entry] = json.loads(result.stdout)
    assert entry["status"] == "failed"
    assert f"cannot make {remote}" in entry["error"]
    assert entry["push"]["result"] == "failed"
    assert [f["action"] for f in entry["push"]["files"]] == ["failed"]
    assert f"cannot make {remote}" in entry["push"]["files"][0]["error"]
    assert (apart.homes[host] / remote).read_text() == "a file, not a directory\n"
