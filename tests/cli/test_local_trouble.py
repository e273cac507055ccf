"""Local trouble (issue 23 items 1-4, 6, 7; issue 22 items 10-12): a narrow stdout
encoding, a closed pipe, output paths that cannot be written, hints and messages. The
real command, as a subprocess, against loopback SSH hosts; never a host blamed for a
local problem, never a run's outcome lost."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import jobgraph

from .conftest import TIMEOUT, Cli, Servers, names, terminal_run
from .test_command import summary_rows

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_narrow_stdout_encoding_degrades_characters_and_fails_no_host(
    cli1: Cli, servers: Servers, backend: str
) -> None:
    cli1.env["PYTHONIOENCODING"] = "ascii"
    hosts = names(servers, [0, 1])
    result = cli1.run(
        "-t", " ".join(hosts), "--backend", backend, "echo héllo; echo ërr >&2"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"{h}: h\\xe9llo" for h in hosts)
    for host in hosts:
        assert f"{host}: \\xebrr" in result.stderr
    assert "2 ok of 2 hosts" in result.stderr
    assert "UnicodeEncodeError" not in result.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_closed_pipe_stops_output_quietly_and_keeps_the_outcome(
    cli1: Cli, servers: Servers, tmp_path: Path, backend: str
) -> None:
    """``jobgraph-ssh ... | head -1``: the run goes on to its end, --json and --mark
    say every host succeeded, no traceback, and the exit status is 141 (128 + SIGPIPE,
    what a shell shows for a Unix tool whose output pipe closed)."""
    hosts = names(servers, [0, 1, 2])
    report, marks = tmp_path / "report.json", tmp_path / "marks"
    process = cli1.popen(
        "-t", " ".join(hosts), "--backend", backend, "--json", str(report), "--mark", str(marks),
        "seq 1 20000", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        process.stdout.close()  # what `head -1` does
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert first.endswith(": 1\n")
    assert process.returncode == 141, err
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    assert "Exception ignored" not in err
    assert {row[0] for row in summary_rows(err).values()} == {"ok"}
    assert "3 ok of 3 hosts" in err
    entries = json.loads(report.read_text())
    assert [entry["status"] for entry in entries] == ["ok"] * 3
    assert all(entry["stdout"].count("\n") == 20000 for entry in entries)
    assert sorted(os.listdir(marks / "ok")) == sorted(hosts)
    assert os.listdir(marks / "ko") == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("option", "value", "culprit"),
    [
        (
            "--json",
            "/nonexistent/dir/x.json",
            "--json '/nonexistent/dir/x.json': no such directory",
        ),
        ("--json", "{tmp}", "--json '{tmp}': is a directory"),
        ("--mark", "/proc/forbidden", "--mark '/proc/forbidden': cannot write there"),
        ("-d", "/proc/forbidden", "-d '/proc/forbidden': cannot write there"),
        ("-d", "{file}", "-d '{file}': cannot write there"),
    ],
)
def test_output_paths_that_cannot_be_written_exit_2_before_connecting(
    cli1: Cli, servers: Servers, tmp_path: Path, backend: str, option: str, value: str,
    culprit: str,
) -> None:  # fmt: skip
    plain = tmp_path / "plain-file"
    plain.write_text("")

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path)).replace("{file}", str(plain))

    before = servers.stats()["connections"]
    result = cli1.run("-t", names(servers)[0], "--backend", backend, option, fill(value), "true")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("jobgraph-ssh: error: ")
    assert fill(culprit) in result.stderr
    assert servers.stats()["connections"] == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_result_files_failing_at_the_end_still_print_the_summary(
    cli1: Cli, servers: Servers, tmp_path: Path, backend: str
) -> None:
    hosts = names(servers, [0, 1])
    marks, report = tmp_path / "marks", tmp_path / "report.json"
    (marks / "ok" / hosts[0]).mkdir(parents=True)  # the mark of host 0 cannot be a file
    Path(f"{report}.tmp").mkdir()  # nor the JSON file's temporary
    result = cli1.run(
        "-t", " ".join(hosts), "--backend", backend, "--mark", str(marks), "--json", str(report),
        "echo hi",
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    rows = summary_rows(result.stderr)
    assert [rows[host][0] for host in hosts] == ["ok", "ok"]
    assert "2 ok of 2 hosts" in result.stderr
    last = result.stderr.splitlines()[-2:]
    assert last[0].startswith(f"jobgraph-ssh: could not write --json {str(report)!r}: ")
    assert last[1].startswith(f"jobgraph-ssh: could not write --mark {str(marks)!r}: ")
    assert (marks / "ok" / hosts[1]).is_file()  # the marks that could be written are


def test_unknown_host_key_hint_names_the_cli_option_in_full(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = names(servers)[0]
    result = cli1.run(
        "-k", str(servers.client_key), "--known-hosts-file", str(empty), "-t", host, "true",
        base=False,
    )  # fmt: skip
    assert result.returncode == 1
    row = " ".join(summary_rows(result.stderr)[host])
    assert row.endswith("(--known-hosts accept-new records new keys)"), row
    assert "host_key_policy" not in result.stderr


def test_summary_table_shows_remote_markup_as_text(cli1: Cli, servers: Servers) -> None:
    cli1.env["COLUMNS"] = "250"
    host = names(servers)[0]
    status, drawn, _ = terminal_run(
        cli1, "-t", host, "echo 'see [link=http://evil.example]here[/link] [/bold]' >&2; exit 3"
    )
    assert status == 1, drawn
    assert "MarkupError" not in drawn
    assert "see [link=http://evil.example]here[/link] [/bold]" in drawn
    assert "1 failed of 1 host " in drawn


def test_version_and_singular_host(cli1: Cli, servers: Servers) -> None:
    version = cli1.run("--version", base=False)
    assert version.returncode == 0
    assert version.stdout == f"jobgraph-ssh {jobgraph.__version__}\n"
    one = cli1.run("-t", names(servers)[0], "-q", "true")
    assert one.returncode == 0
    assert "1 ok of 1 host in " in one.stderr


@pytest.mark.parametrize("target", ["[..]", "[.]", "root@[..]:22", "[not-an-address]"])
def test_bracketed_targets_must_be_addresses(
    cli1: Cli, servers: Servers, tmp_path: Path, target: str
) -> None:
    before = servers.stats()["connections"]
    result = cli1.run("-t", target, "--mark", "marks", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"cannot parse host {target!r}" in result.stderr
    assert servers.stats()["connections"] == before


def test_a_bare_name_is_never_read_from_the_current_directory(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    """In a shared folder, someone else's file ``web1`` must not redirect ``-t web1``."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "web1").write_text(names(servers)[0] + "\n")  # planted by someone else
    before = servers.stats()["connections"]
    refused = cli1.run("-t", "web1", "true", cwd=shared)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "'web1' is a file in the current directory" in refused.stderr
    assert "./web1" in refused.stderr
    assert servers.stats()["connections"] == before
    # an explicit path reads the file; a list of names (a comma) is names
    explicit = cli1.run("-t", "./web1", "--dry-run", "true", cwd=shared)
    assert explicit.returncode == 0, explicit.stderr
    assert names(servers)[0] in explicit.stdout
    as_host = cli1.run("-t", "web1,", "--dry-run", "true", cwd=shared)
    assert as_host.returncode == 0, as_host.stderr
    assert "  web1 " in as_host.stdout


def test_a_missing_file_name_is_taken_as_a_host_with_a_note(cli1: Cli, tmp_path: Path) -> None:
    result = cli1.run("-t", "missing.txt", "--dry-run", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "jobgraph-ssh: note: 'missing.txt': no such file; taken as a host name" in (
        result.stderr
    )
    assert "  missing.txt " in result.stdout
    plain = cli1.run("-t", "node1.lab.example", "--dry-run", "true", cwd=tmp_path)
    assert plain.stderr == ""


def test_gateway_named_by_a_file_of_the_targets_directory(cli1: Cli, tmp_path: Path) -> None:
    """What the sandbox's ``targets.d/node1`` allows: ``-g node1``."""
    targets = Path(cli1.env["JOBGRAPH_SSH_TARGETS"])
    targets.mkdir()
    (targets / "node1").write_text("ops@127.0.0.1:2201\n")
    (targets / "pair").write_text("a b\n")
    result = cli1.run("-g", "node1", "-t", "inner", "--dry-run", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "gateways: ops@127.0.0.1:2201\n" in result.stdout
    two = cli1.run("-g", "pair", "-t", "inner", "--dry-run", "true", cwd=tmp_path)
    assert two.returncode == 2
    assert "--gateway 'pair'" in two.stderr
    assert "lists 2 hosts, not one" in two.stderr
