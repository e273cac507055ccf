"""The real command, as a subprocess, against loopback SSH hosts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import asyncssh
import pytest

from tests.ssh.conftest import free_port

from .conftest import TIMEOUT, Cli, Servers, names, stdout_lines, terminal_run


def summary_rows(stderr: str) -> dict[str, list[str]]:
    """host -> [status, exit, ...] from the plain summary table on stderr."""
    lines = stderr.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("HOST "))
    rows = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if len(cells) >= 2 and ":" in cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def test_file_of_targets_runs_everywhere(cli: Cli, servers: Servers, tmp_path: Path) -> None:
    listing = tmp_path / "hosts.txt"
    listing.write_text("# lab\n" + "\n".join(names(servers)) + "\n")
    result = cli.run("-t", str(listing), "echo", "hello;", "echo", "oops", ">&2")
    assert result.returncode == 0, result.stderr
    assert stdout_lines(result) == sorted(f"{host}: hello" for host in names(servers))
    assert "hello" not in result.stderr
    for host in names(servers):
        assert f"{host}: oops" in result.stderr
    rows = summary_rows(result.stderr)
    assert {host: row[:2] for host, row in rows.items()} == {
        host: ["ok", "0"] for host in names(servers)
    }
    assert "4 ok of 4 hosts" in result.stderr


def test_directory_of_targets_and_exclusion(cli1: Cli, servers: Servers, tmp_path: Path) -> None:
    directory = tmp_path / "lab"
    directory.mkdir()
    for host in names(servers):
        (directory / host).write_text("")
    excluded = names(servers, [1, 3])
    result = cli1.run("-t", str(directory), "-x", " ".join(excluded), "--format", "raw", "echo x")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "x\nx\n"
    assert set(summary_rows(result.stderr)) == set(names(servers, [0, 2]))


def test_targets_found_in_the_user_directory(cli1: Cli, servers: Servers) -> None:
    user_dir = Path(cli1.env["JOBGRAPH_SSH_TARGETS"])
    user_dir.mkdir()
    (user_dir / "lab").write_text(names(servers)[2] + "\n")
    result = cli1.run("-t", "lab", "true")
    assert result.returncode == 0, result.stderr
    assert list(summary_rows(result.stderr)) == names(servers, [2])


def test_script_with_includes_and_arguments(cli: Cli, servers: Servers, tmp_path: Path) -> None:
    script = tmp_path / "greet.sh"
    script.write_text('#!/bin/sh\n. "$(dirname "$0")/lib.sh"\ngreet "$1" "$2"\n')
    library = tmp_path / "lib.sh"
    library.write_text('greet() { echo "hello $1 and $2"; }\n')
    result = cli.run(
        "-t", names(servers)[0], "-s", str(script), "-i", str(library), "world", "two words"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{names(servers)[0]}: hello world and two words\n"


def test_window_bounds_the_hosts_at_once(cli1: Cli, servers: Servers) -> None:
    servers.reset_maxima()
    result = cli1.run("-t", " ".join(names(servers)), "-w", "2", "sleep 0.4")
    assert result.returncode == 0, result.stderr
    stats = servers.stats()
    assert stats["sessions_max"] == 2
    servers.reset_maxima()
    result = cli1.run("-t", " ".join(names(servers)), "sleep 0.4")
    assert result.returncode == 0, result.stderr
    assert servers.stats()["sessions_max"] == 4


def test_mark_directories_serve_as_targets(cli1: Cli, servers: Servers, tmp_path: Path) -> None:
    lock = f"lock-{os.getpid()}-{time.monotonic_ns()}"  # in the server's directory
    marks = tmp_path / "marks"
    # exactly one host makes the directory; the others fail with status 3
    first = cli1.run(
        "-t", " ".join(names(servers)), "--mark", str(marks), f"mkdir {lock} || exit 3"
    )
    assert first.returncode == 1
    ok, ko = sorted(os.listdir(marks / "ok")), sorted(os.listdir(marks / "ko"))
    assert len(ok) == 1 and len(ko) == 3
    assert sorted(ok + ko) == sorted(names(servers))
    assert (marks / "ko" / ko[0]).read_text().startswith("failed 3")
    # retry the failed ones: they now succeed, and move from ko/ to ok/
    second = cli1.run("-t", str(marks / "ko"), "--mark", str(marks), f"rmdir {lock} || true")
    assert second.returncode == 0, second.stderr
    assert sorted(summary_rows(second.stderr)) == ko
    assert sorted(os.listdir(marks / "ok")) == sorted(names(servers))
    assert os.listdir(marks / "ko") == []
    third = cli1.run("-t", str(marks / "ok"), "-q", "true")
    assert third.returncode == 0
    assert sorted(summary_rows(third.stderr)) == sorted(names(servers))


def test_output_directory_has_a_file_per_host(cli1: Cli, servers: Servers, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli1.run("-t", " ".join(names(servers)), "-d", str(out), "echo a; echo b >&2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    for host in names(servers):
        assert (out / f"{host}.out").read_text() == "a\n"
        assert (out / f"{host}.err").read_text() == "b\n"


def test_json_output_per_host(cli: Cli, servers: Servers, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    dead = "127.0.0.1:1"
    targets = [*names(servers, [0, 1]), dead]
    result = cli.run("-t", " ".join(targets), "--json", str(report), "echo out; echo err >&2")
    assert result.returncode == 1
    entries = {entry["host"]: entry for entry in json.loads(report.read_text())}
    assert list(entries) == targets
    for host in names(servers, [0, 1]):
        entry = entries[host]
        assert entry["status"] == "ok"
        assert entry["exit_status"] == 0
        assert entry["stdout"] == "out\n"
        assert entry["stderr"] == "err\n"
        assert 0 < entry["duration"] < TIMEOUT
        assert entry["error"] is None
    assert entries[dead]["status"] == "unreachable"
    assert entries[dead]["exit_status"] is None
    assert "cannot connect" in entries[dead]["error"]


def test_json_to_stdout_replaces_the_output_lines(cli1: Cli, servers: Servers) -> None:
    result = cli1.run("-t", " ".join(names(servers)), "--json", "-", "exit 4")
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [entry["exit_status"] for entry in entries] == [4] * 4
    assert {entry["status"] for entry in entries} == {"failed"}


def test_push_then_pull_per_host(cli: Cli, servers: Servers, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "data.txt").write_text("payload\n")
    single = tmp_path / "single.txt"
    single.write_text("one\n")
    remote = f"pushed-{os.getpid()}-{time.monotonic_ns()}"
    targets = " ".join(names(servers, [0, 1]))
    # the hosts share the server's directory: one at a time (asyncssh's makedirs and
    # recursive put check, then create: two pushes of one tree at once may collide)
    pushed = cli.run("-t", targets, "-w", "1", "--push", str(tree), str(single), remote)
    assert pushed.returncode == 0, pushed.stderr
    home = servers.known_hosts.parent  # the server's working directory
    assert (home / remote / "tree" / "sub" / "data.txt").read_text() == "payload\n"
    assert (home / remote / "single.txt").read_text() == "one\n"
    local = tmp_path / "pulled"
    pulled = cli.run("-t", targets, "--pull", f"{remote}/tree", f"{remote}/single.txt", str(local))
    assert pulled.returncode == 0, pulled.stderr
    for host in names(servers, [0, 1]):
        assert (local / host / "tree" / "sub" / "data.txt").read_text() == "payload\n"
        assert (local / host / "single.txt").read_text() == "one\n"
    missing = cli.run("-t", targets, "--pull", f"{remote}/nothing-here", str(local))
    assert missing.returncode == 1
    assert {row[0] for row in summary_rows(missing.stderr).values()} == {"failed"}


def test_some_failed_exits_1_and_names_the_failures(cli1: Cli, servers: Servers) -> None:
    result = cli1.run("-t", " ".join(names(servers, [0])), "-t", "127.0.0.1:1", "true")
    assert result.returncode == 1
    rows = summary_rows(result.stderr)
    assert rows[names(servers)[0]][:2] == ["ok", "0"]
    assert rows["127.0.0.1:1"][0] == "unreachable"
    failed = cli1.run("-t", names(servers)[0], "echo no such thing >&2; exit 7")
    assert failed.returncode == 1
    row = summary_rows(failed.stderr)[names(servers)[0]]
    assert row[:2] == ["failed", "7"]
    assert "no such thing" in " ".join(row)


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (
            ["-t", "missing/hosts.txt", "true"],
            "no such target file or directory: 'missing/hosts.txt'",
        ),
        (["-t", "n1 n2:notaport", "true"], "cannot parse host 'n2:notaport'"),
        (
            ["-t", "{host}", "-k", "/nonexistent/key", "true"],
            "cannot read key file '/nonexistent/key'",
        ),
        (["true"], "no targets"),
        (["-t", "{host}", "-x", "{host}", "true"], "no targets (after exclusions)"),
        (["-t", "{host}"], "nothing to run"),
        (["-t", "{host}", "-s", "/nonexistent.sh"], "no such local file: '/nonexistent.sh'"),
        (["-t", "{host}", "--known-hosts", "ign", "true"], "--known-hosts"),
        (["-t", "{host}", "--push", "only-one"], "--push needs LOCAL... REMOTE_DIR"),
        (["-t", "{host}", "-w", "-1", "true"], "--window must be 0 (no limit) or positive"),
        (["-t", "{host}", "-u", "", "true"], "--user must not be empty"),
    ],
)
def test_bad_usage_exits_2_with_one_line_before_connecting(
    cli1: Cli, servers: Servers, args: list[str], culprit: str
) -> None:
    before = servers.stats()["connections"]
    host = names(servers)[0]
    result = cli1.run(*(arg.replace("{host}", host) for arg in args))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("jobgraph-ssh: error: ")
    assert culprit in result.stderr
    assert servers.stats()["connections"] == before


def test_unreadable_or_bad_key_is_a_usage_error(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    not_a_key = tmp_path / "id_bogus"
    not_a_key.write_text("hello\n")
    result = cli1.run("-t", names(servers)[0], "-k", str(not_a_key), "true")
    assert result.returncode == 2
    assert f"key file '{not_a_key}' is not a private key" in result.stderr
    encrypted = tmp_path / "id_encrypted"
    key = asyncssh.generate_private_key("ssh-ed25519")
    encrypted.write_bytes(key.export_private_key("openssh", passphrase="secret"))
    result = cli1.run("-t", names(servers)[0], "-k", str(encrypted), "true")
    assert result.returncode == 2
    assert f"key file '{encrypted}' is encrypted" in result.stderr


def test_interrupt_stops_remote_commands_and_prints_the_summary(cli: Cli, servers: Servers) -> None:
    assert servers.wait_stats("processes_now", 0)["processes_now"] == 0
    process = cli.popen(
        "-t", " ".join(names(servers)), "sleep 30", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert servers.wait_stats("processes_now", 4, timeout=20)["processes_now"] == 4
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    rows = summary_rows(err)
    assert {row[0] for row in rows.values()} == {"interrupted"}
    assert set(rows) == set(names(servers))
    assert "4 interrupted of 4 hosts" in err
    assert servers.wait_stats("processes_now", 0)["processes_now"] == 0
    assert servers.wait_stats("sessions_now", 0)["sessions_now"] == 0


def test_run_timeout_stops_hosts(cli1: Cli, servers: Servers) -> None:
    started = time.monotonic()
    result = cli1.run("-t", " ".join(names(servers, [0, 1])), "--timeout", "1", "sleep 30")
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert {row[0] for row in summary_rows(result.stderr).values()} == {"timeout"}
    assert servers.wait_stats("processes_now", 0)["processes_now"] == 0


def test_command_timeout_per_host(cli1: Cli, servers: Servers) -> None:
    result = cli1.run("-t", names(servers)[0], "--command-timeout", "0.5", "sleep 30")
    assert result.returncode == 1
    row = summary_rows(result.stderr)[names(servers)[0]]
    assert row[0] == "timeout"
    assert "timed out after 0.5 s" in " ".join(row)


def test_unknown_host_key_is_refused_unless_asked(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = names(servers)[0]
    key = ["-k", str(servers.client_key)]
    strict = cli1.run(*key, "--known-hosts-file", str(empty), "-t", host, "true", base=False)
    assert strict.returncode == 1
    assert "unreachable" in strict.stderr
    assert "host key" in strict.stderr.lower()
    ignore = cli1.run(*key, "--known-hosts", "ignore", "-t", host, "true", base=False)
    assert ignore.returncode == 0, ignore.stderr
    accept = cli1.run(
        *key, "--known-hosts-file", str(empty), "--known-hosts", "accept-new", "-t", host, "true",
        base=False,
    )  # fmt: skip
    assert accept.returncode == 0, accept.stderr
    assert str(servers.ports[0]) in empty.read_text()


def test_dry_run_connects_to_nothing(cli1: Cli, servers: Servers) -> None:
    before = servers.stats()["connections"]
    result = cli1.run(
        "-t", " ".join(names(servers)), "-u", "root", "-g", "ops@bastion:2222", "-g", "inner",
        "--dry-run", "uname", "-r",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "gateways: ops@bastion:2222 -> root@inner:22" in result.stdout
    assert "run: uname -r" in result.stdout
    for port in servers.ports:
        assert f"root@127.0.0.1:{port}" in result.stdout
    assert servers.stats()["connections"] == before


def test_help_shows_examples(cli: Cli) -> None:
    result = cli.run("--help", base=False)
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "jobgraph-ssh -t ./hosts.txt --mark marks uptime" in result.stdout
    assert cli.env["JOBGRAPH_SSH_TARGETS"] in result.stdout


def test_progress_lines_stay_off_piped_stdout(cli1: Cli, servers: Servers) -> None:
    result = cli1.run("-t", " ".join(names(servers)), "echo one; echo two")
    assert result.returncode == 0
    expected = sorted(f"{host}: {word}" for host in names(servers) for word in ("one", "two"))
    assert stdout_lines(result) == expected
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 4
    assert all(re.match(r"\[[1-4]/4\] ok ", line) for line in progress)


def test_live_progress_on_a_terminal_leaves_piped_stdout_alone(cli1: Cli, servers: Servers) -> None:
    """stderr is a terminal (the rich panel is drawn there), stdout a pipe."""
    status, text, out = terminal_run(
        cli1, "-t", " ".join(names(servers)), "echo one; sleep 0.6; echo two",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert status == 0
    expected = sorted(f"{host}: {word}" for host in names(servers) for word in ("one", "two"))
    assert sorted(out.splitlines()) == expected
    assert "\x1b[" not in out
    assert "running" in text  # the live panel was drawn on the terminal
    assert "4 ok of 4 hosts" in text  # and then the summary


def test_formats_quiet_and_default_port(cli1: Cli, servers: Servers) -> None:
    host = names(servers)[0]
    raw = cli1.run("-t", host, "-f", "raw", "echo plain")
    assert raw.stdout == "plain\n"
    timed = cli1.run("-t", host, "--format", "time", "echo stamped")
    assert re.fullmatch(rf"\d\d:\d\d:\d\d {re.escape(host)}: stamped\n", timed.stdout)
    quiet = cli1.run("-t", host, "-q", "echo hidden")
    assert quiet.returncode == 0
    assert quiet.stdout == ""
    assert not any(line.startswith("[") for line in quiet.stderr.splitlines())
    assert "1 ok of 1 host in" in quiet.stderr
    # -p and -u apply to hosts that give no port or user of their own
    port = str(servers.ports[1])
    by_option = cli1.run("-t", servers.host, "-p", port, "-u", "someone", "echo p")
    assert by_option.returncode == 0, by_option.stderr
    assert by_option.stdout == f"{servers.host}: p\n"


def test_verbose_shows_connection_events(cli1: Cli, servers: Servers) -> None:
    result = cli1.run("-t", names(servers)[0], "-v", "true")
    assert result.returncode == 0
    assert f"{names(servers)[0]}: [connecting" in result.stderr


def test_window_zero_means_no_limit(cli1: Cli, servers: Servers) -> None:
    """Bug: ``-w 0`` passed on as a window of 0 rather than "no limit": the run never
    started, or stalled."""
    servers.reset_maxima()
    result = cli1.run("-t", " ".join(names(servers)), "-w", "0", "sleep 0.4; echo slept")
    assert result.returncode == 0, result.stderr
    assert stdout_lines(result) == sorted(f"{name}: slept" for name in names(servers))
    assert servers.stats()["sessions_max"] == 4  # all at once


def test_port_option_leaves_a_host_s_own_port_alone(cli1: Cli, servers: Servers) -> None:
    """Bug: ``-p`` overrode the port a host gives itself (``host:port``): the command
    connected to the wrong port. Nothing listens on the ``-p`` port here."""
    closed = str(free_port())
    own = names(servers)[0]
    result = cli1.run("-t", own, "-p", closed, "echo own port")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{own}: own port\n"
    # likewise -u for a host that names its user (the dry run shows where each goes)
    targets = f"{own} {servers.host} someone@{servers.host}"
    dry = cli1.run("-t", targets, "-p", closed, "-u", "me", "--dry-run", "true")
    assert dry.returncode == 0, dry.stderr
    assert f"me@{own}" in dry.stdout  # its own port
    assert f"me@{servers.host}:{closed}" in dry.stdout  # no port of its own: -p
    assert f"someone@{servers.host}:{closed}" in dry.stdout  # its own user


def test_resume_runs_again_only_the_hosts_that_failed(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    journal, log, flag, lock = (tmp_path / name for name in ("runs.db", "log", "flag", "lock"))
    command = f"echo run >> {log}; test -e {flag} || mkdir {lock} || exit 3"
    targets = " ".join(names(servers))
    first = cli1.run("-t", targets, "--journal", str(journal), command)
    assert first.returncode == 1, first.stderr  # one host took the lock, three failed
    assert len(log.read_text().splitlines()) == 4
    flag.touch()
    second = cli1.run("-t", targets, "--journal", str(journal), "--resume", command)
    assert second.returncode == 0, second.stderr
    assert "--resume: 1 host skipped as done" in second.stderr
    assert len(log.read_text().splitlines()) == 7  # only the three failed hosts ran again
    assert "4 ok of 4 hosts" in second.stderr
    # another command (or other targets) resumes nothing
    third = cli1.run("-t", targets, "--journal", str(journal), "--resume", command + " ")
    assert "--resume: 0 hosts skipped" in third.stderr
    assert len(log.read_text().splitlines()) == 11
    usage = cli1.run("-t", targets, "--resume", "true")
    assert usage.returncode == 2 and "--resume needs --journal" in usage.stderr
