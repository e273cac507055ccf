"""The command through gateways, and against OpenSSH's sshd."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ssh.conftest import start_asyncssh

from .conftest import Cli, ClientKey, Servers, cli_env, names
from .test_command import summary_rows


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """Two loopback hosts that forward connections (to act as gateways)."""
    directory = tmp_path_factory.mktemp("cli-gateways")
    with start_asyncssh(directory, client_key, hosts=2, forwarding=True) as running:
        yield running


def test_gateway_chain(servers: Servers, gateways: Servers, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(servers.known_hosts.read_text() + gateways.known_hosts.read_text())
    cli = Cli(
        [sys.executable, "-m", "jobgraph_ssh"],
        cli_env(tmp_path),
        ["-k", str(servers.client_key), "--known-hosts-file", str(known)],
    )
    before = gateways.stats()["connections"]
    one, two = names(gateways)
    result = cli.run("-t", " ".join(names(servers)), "-g", one, "-g", f"ops@{two}", "echo via")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"{h}: via" for h in names(servers))
    # one connection to each gateway, shared by the four hosts
    assert gateways.stats()["connections"] == before + 2


def pids_of(pattern: str) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-f", f"^{pattern}$"], capture_output=True, text=True, check=False
    )
    return found.stdout.split()


def test_openssh_server_run_and_interrupt(sshd: Servers, tmp_path: Path) -> None:
    cli = Cli(
        [sys.executable, "-m", "jobgraph_ssh"],
        cli_env(tmp_path),
        ["-k", str(sshd.client_key), "--known-hosts-file", str(sshd.known_hosts)],
    )
    host = f"{sshd.username}@{names(sshd)[0]}"
    result = cli.run("-t", host, "--json", "-", "id -un")
    assert result.returncode == 0, result.stderr
    assert '"stdout": "' + sshd.username + '\\n"' in result.stdout
    marker = "sleep 3141"  # the remote process; pgrep matches "^sleep 3141$" only
    process = cli.popen(
        "-t", host, marker, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not pids_of(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids_of(marker), "the remote command did not start"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert summary_rows(err)[host][0] == "interrupted"
    deadline = time.monotonic() + 5
    while pids_of(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_of(marker) == []


@pytest.fixture(scope="module")
def slow_logins(
    tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey
) -> Iterator[Servers]:
    """Four hosts whose logins take 0.3 s, so that handshakes overlap."""
    directory = tmp_path_factory.mktemp("cli-slow")
    with start_asyncssh(directory, client_key, hosts=4, auth_delay=0.3) as running:
        yield running


def test_handshakes_in_flight_are_bounded(slow_logins: Servers, tmp_path: Path) -> None:
    cli = Cli(
        [sys.executable, "-m", "jobgraph_ssh"],
        cli_env(tmp_path),
        ["-k", str(slow_logins.client_key), "--known-hosts-file", str(slow_logins.known_hosts)],
    )
    targets = " ".join(names(slow_logins))
    slow_logins.reset_maxima()
    bounded = cli.run("-t", targets, "--handshakes", "2", "true")
    assert bounded.returncode == 0, bounded.stderr
    assert slow_logins.stats()["handshakes_max"] == 2
    slow_logins.reset_maxima()
    default = cli.run("-t", targets, "true")
    assert default.returncode == 0, default.stderr
    assert slow_logins.stats()["handshakes_max"] == 4
