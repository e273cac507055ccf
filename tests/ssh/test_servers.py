"""The test servers themselves: they answer, count, and run real shells."""

from __future__ import annotations

import asyncio

import asyncssh

from .conftest import Servers


async def _run(servers: Servers, command: str, port_index: int = 0) -> asyncssh.SSHCompletedProcess:
    async with asyncssh.connect(
        servers.host,
        servers.ports[port_index],
        username=servers.username,
        client_keys=[str(servers.client_key)],
        known_hosts=str(servers.known_hosts),
        agent_path=None,
    ) as conn:
        return await conn.run(command)


def test_asyncssh_server_runs_shell_commands(servers: Servers) -> None:
    result = asyncio.run(_run(servers, "echo out; echo err >&2; exit 3", port_index=1))
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    stats = servers.stats()
    assert stats["auth_ok"] >= 1 and stats["handshakes_now"] == 0


def test_asyncssh_server_reports_signals(servers: Servers) -> None:
    result = asyncio.run(_run(servers, "kill -TERM $$"))
    assert result.exit_signal is not None and result.exit_signal[0] == "TERM"


def test_sshd_runs_commands_as_current_user(sshd: Servers) -> None:
    result = asyncio.run(_run(sshd, "echo $((6*7)); exit 4"))
    assert (result.exit_status, result.stdout) == (4, "42\n")
