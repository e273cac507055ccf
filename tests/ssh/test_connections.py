"""Connections: sharing, gateways, many hosts, limits, and every way connecting fails."""

from __future__ import annotations

import ipaddress
import math
import socket
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import jobgraph as jg
import jobgraph_ssh
from jobgraph_ssh import (
    AuthError,
    CaptureFormatter,
    ConnectError,
    HostKeyError,
    KeyFileError,
    Shell,
    SshJob,
    SshNode,
    set_limits,
)

from .conftest import (
    ClientKey,
    Servers,
    free_port,
    known_hosts_line,
    make_node,
    run_jobs,
    start_asyncssh,
)

pytestmark = pytest.mark.anyio


def fingerprint(public_key: str) -> str:
    return str(asyncssh.import_public_key(public_key).get_fingerprint("sha256"))


async def test_fifty_jobs_on_one_node_share_one_connection(servers: Servers) -> None:
    before = servers.stats()["connections"]
    node = make_node(servers, 0, formatter=CaptureFormatter())
    jobs = [SshJob(node, Shell(f"echo {i}")) for i in range(50)]
    assert await run_jobs(*jobs)
    assert [job.result()[0].stdout for job in jobs] == [f"{i}\n" for i in range(50)]
    assert servers.stats()["connections"] - before == 1  # one handshake for 50 jobs


async def test_a_hundred_hosts_in_one_scheduler(tmp_path: Path, client_key: ClientKey) -> None:
    with start_asyncssh(tmp_path, client_key, hosts=100) as many:
        capture = CaptureFormatter()
        nodes = [make_node(many, i, formatter=capture) for i in range(100)]
        jobs = [SshJob(node, Shell("echo up; exit 0")) for node in nodes]
        assert await run_jobs(*jobs)
        assert all(job.result()[0].stdout == "up\n" for job in jobs)
        assert {host for host, _, _ in capture.lines} == {node.label for node in nodes}
        assert many.stats()["auth_ok"] == 100


async def test_two_gateways_deep(servers: Servers, gateways: Servers) -> None:
    before = gateways.stats()["connections"]
    capture = CaptureFormatter()
    first = make_node(gateways, 0, formatter=capture, label="first")
    second = make_node(gateways, 1, gateway=first, formatter=capture, label="second")
    target = make_node(servers, 3, gateway=second, formatter=capture, label="target")
    assert target.depth == 2
    jobs = [SshJob(target, Shell("echo behind two")) for _ in range(3)]
    assert await run_jobs(*jobs)
    assert jobs[0].result()[0].stdout == "behind two\n"
    assert gateways.stats()["connections"] - before == 2  # one per gateway, shared
    # opened nearest first, closed remotest first
    assert capture.events == [
        ("first", "connecting"),
        ("first", "authenticated"),
        ("second", f"connecting (via gateway tester@127.0.0.1:{gateways.ports[0]})"),
        ("second", "authenticated"),
        ("target", f"connecting (via gateway tester@127.0.0.1:{gateways.ports[1]})"),
        ("target", "authenticated"),
        ("target", "disconnected"),
        ("second", "disconnected"),
        ("first", "disconnected"),
    ]


async def test_handshake_limit_limits_handshakes_in_flight(
    tmp_path: Path, client_key: ClientKey
) -> None:
    with start_asyncssh(tmp_path, client_key, hosts=10, auth_delay=0.2) as slow:

        async def max_handshakes(limit: int) -> int:
            slow.reset_maxima()
            old = set_limits()
            set_limits(handshakes=limit)
            try:
                nodes = [make_node(slow, i, formatter=CaptureFormatter()) for i in range(10)]
                assert await run_jobs(*(SshJob(node, Shell("true")) for node in nodes))
            finally:
                set_limits(handshakes=old.handshakes)
            return slow.stats()["handshakes_max"]

        assert await max_handshakes(3) <= 3
        assert await max_handshakes(10) > 3  # the server does see more when allowed


async def test_channel_limit_limits_sessions_per_connection(servers: Servers) -> None:
    async def max_sessions(limit: int) -> int:
        servers.reset_maxima()
        node = make_node(servers, 1, max_channels=limit, formatter=CaptureFormatter())
        assert await run_jobs(*(SshJob(node, Shell("sleep 0.2")) for _ in range(6)))
        return servers.stats()["sessions_max"]

    assert await max_sessions(2) <= 2
    assert await max_sessions(6) > 2


async def test_unreachable_host_fails_clearly_and_other_results_are_kept(
    servers: Servers,
) -> None:
    port = free_port()  # nothing listens there
    dead = SshNode(
        "127.0.0.1", port=port, keys=[servers.client_key], known_hosts=servers.known_hosts
    )
    bad = SshJob(dead, Shell("true"), critical=False, label="dead")
    good = SshJob(make_node(servers, 0, formatter=CaptureFormatter()), Shell("echo fine"))
    assert await run_jobs(bad, good)
    assert isinstance(bad.exception, ConnectError)
    message = str(bad.exception)
    assert f"127.0.0.1:{port}" in message and "dead" in message
    assert good.result()[0].stdout == "fine\n"


async def test_refused_key_gives_auth_error(servers: Servers, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    other.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    job = SshJob(make_node(servers, 0, keys=[other]), Shell("true"))
    assert not await run_jobs(job)
    assert isinstance(job.exception, AuthError)
    assert "authentication refused" in str(job.exception)


async def test_unknown_host_key_is_refused_with_its_fingerprint(
    servers: Servers, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    node = make_node(servers, 2, known_hosts=empty)
    job = SshJob(node, Shell("true"))
    assert not await run_jobs(job)
    error = job.exception
    assert isinstance(error, HostKeyError) and not error.changed
    assert error.fingerprint == fingerprint(servers.host_keys[2])
    assert error.fingerprint in str(error) and node.name in str(error)


async def test_accept_new_records_the_key_then_strict_accepts_it(
    servers: Servers, tmp_path: Path
) -> None:
    path = tmp_path / "sub" / "known_hosts"  # not there yet
    first = make_node(servers, 2, known_hosts=path, host_key_policy="accept-new")
    assert await run_jobs(SshJob(first, Shell("true")))
    assert path.read_text() == known_hosts_line("127.0.0.1", servers.ports[2], servers.host_keys[2])
    again = make_node(servers, 2, known_hosts=path)  # strict
    assert await run_jobs(SshJob(again, Shell("true")))


async def test_changed_host_key_is_refused_even_with_accept_new(
    servers: Servers, tmp_path: Path
) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts_line("127.0.0.1", servers.ports[1], impostor))
    for policy in ("strict", "accept-new"):
        job = SshJob(make_node(servers, 1, known_hosts=path, host_key_policy=policy), Shell("true"))
        assert not await run_jobs(job)
        error = job.exception
        assert isinstance(error, HostKeyError) and error.changed, policy
        assert "CHANGED" in str(error) and fingerprint(servers.host_keys[1]) in str(error)


@pytest.mark.parametrize("known", ["missing", "empty", "changed"])
async def test_ignore_policy_skips_the_check(servers: Servers, tmp_path: Path, known: str) -> None:
    """``host_key_policy="ignore"``: no check at all (an unknown key, even a key that
    changed, is let through) and nothing recorded (known_hosts left as it was)."""
    path = tmp_path / "known_hosts"
    if known == "empty":
        path.write_text("")
    elif known == "changed":
        impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
        path.write_text(known_hosts_line("127.0.0.1", servers.ports[1], impostor.strip()))
    before = path.read_text() if path.exists() else None
    capture = CaptureFormatter()
    node = make_node(servers, 1, known_hosts=path, host_key_policy="ignore", formatter=capture)
    job = SshJob(node, Shell("echo through"))
    assert await run_jobs(job), job.exception
    assert job.result()[0].stdout == "through\n"  # the command really ran there
    after = path.read_text() if path.exists() else None
    assert after == before, "the ignore policy recorded a key"
    # the same files refuse the host under the strict policy: the check was skipped
    strict = SshJob(make_node(servers, 1, known_hosts=path), Shell("true"))
    assert not await run_jobs(strict)
    assert isinstance(strict.exception, HostKeyError)
    assert strict.exception.changed is (known == "changed") or known == "missing"


async def test_encrypted_key_needs_its_passphrase(
    servers: Servers, client_key: ClientKey, tmp_path: Path
) -> None:
    encrypted = tmp_path / "encrypted"
    key = asyncssh.read_private_key(client_key.private)
    encrypted.write_bytes(key.export_private_key(passphrase="s3cret", rounds=50))  # faster KDF
    job = SshJob(make_node(servers, 0, keys=[encrypted]), Shell("true"))
    assert not await run_jobs(job)
    assert isinstance(job.exception, KeyFileError)
    assert job.exception.path == str(encrypted) and "passphrase" in str(job.exception)
    unlocked = make_node(servers, 0, keys=[encrypted], passphrase="s3cret")
    assert await run_jobs(SshJob(unlocked, Shell("true")))


async def test_missing_key_file_is_named(servers: Servers, tmp_path: Path) -> None:
    job = SshJob(make_node(servers, 0, keys=[tmp_path / "nope"]), Shell("true"))
    assert not await run_jobs(job)
    assert isinstance(job.exception, KeyFileError)
    assert str(tmp_path / "nope") in str(job.exception)


def test_bad_node_options_are_refused() -> None:
    with pytest.raises(jg.InvalidOptionError, match="host_key_policy"):
        SshNode("h", host_key_policy="yolo")
    with pytest.raises(jg.InvalidOptionError, match="port"):
        SshNode("h", port=0)
    with pytest.raises(jg.InvalidOptionError, match="handshakes"):
        jobgraph_ssh.set_limits(handshakes=0)


@pytest.mark.parametrize("hostname", [None, "", "  ", 22])
def test_a_missing_or_empty_hostname_is_refused_at_once(hostname: object) -> None:
    # it used to fail only when run, as "job 'None: true' on None"
    with pytest.raises(jg.InvalidOptionError, match="hostname must be a host name or address"):
        SshNode(hostname)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("connect_timeout", -1),
        ("connect_timeout", 0),
        ("connect_timeout", math.nan),
        ("connect_timeout", math.inf),
        ("connect_timeout", "10"),
        ("connect_timeout", True),
        ("keepalive_interval", -1),
        ("keepalive_interval", math.nan),
        ("keepalive_interval", math.inf),
        ("keepalive_interval", None),
        ("keepalive_interval", "30"),
    ],
)
def test_node_durations_that_mean_nothing_are_refused(option: str, value: object) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(jg.InvalidOptionError) as info:
        SshNode("h", **options)
    assert str(info.value).startswith(f"SshNode 'h': {option} must be a number of seconds > 0")
    assert str(info.value).endswith(f", not {value!r}")


def test_node_durations_that_mean_something_are_taken() -> None:
    assert SshNode("h", connect_timeout=None).connect_timeout is None  # no limit
    assert SshNode("h", connect_timeout=2).connect_timeout == 2
    assert SshNode("h", keepalive_interval=0).keepalive_interval == 0  # none
    assert SshNode("h", keepalive_interval=0.5).keepalive_interval == 0.5
    address: Any = ipaddress.ip_address("127.0.0.1")
    assert SshNode(address).hostname == "127.0.0.1"


async def test_retried_job_runs_its_commands_again(servers: Servers, tmp_path: Path) -> None:
    marker = tmp_path / "tried"
    flaky = Shell(f"if [ -e {marker} ]; then echo second; else touch {marker}; exit 1; fi")
    job = SshJob(make_node(servers, 0, formatter=CaptureFormatter()), flaky, retry=2)
    assert await run_jobs(job)
    assert job.attempts == 2 and job.result()[0].stdout == "second\n"


async def test_silent_host_times_out_naming_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP (backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        node = SshNode("127.0.0.1", port=port, connect_timeout=0.5, known_hosts=tmp_path / "kh")
        job = SshJob(node, Shell("true"))
        start = time.monotonic()
        assert not await run_jobs(job)
        assert time.monotonic() - start < 5
    assert isinstance(job.exception, ConnectError)
    assert "timed out after 0.5 s" in str(job.exception)
