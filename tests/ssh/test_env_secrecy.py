"""A command's environment variables never appear on a command line that other users
of the host read with ``ps`` (issue 22, item 6): on OpenSSH's sshd, on the asyncssh
test server and on LocalNode, whose processes all run on this machine."""

from __future__ import annotations

import secrets
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph_ssh import LocalNode, Node, Shell, SshJob, close_all

from .conftest import Servers, make_node

pytestmark = pytest.mark.anyio


def command_lines() -> list[bytes]:
    """Every process's command line, as ``ps`` shows it to any user."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes())
            except OSError:  # the process ended meanwhile
                continue
    return found


async def check_env_is_not_on_a_command_line(node: Node, tmp_path: Path) -> None:
    token = "tok-" + secrets.token_hex(16)
    started, scanned = tmp_path / "started", tmp_path / "scanned"
    job = SshJob(
        node,
        Shell(
            f"touch {started}; "
            f"for i in $(seq 600); do [ -f {scanned} ] && break; sleep 0.05; done; "
            'printf "%s|%s" "$API_TOKEN" "$OTHER"',
            env={"API_TOKEN": token, "OTHER": 'it\'s "quoted"\nand $multi line'},
        ),
    )
    seen: list[list[bytes]] = []

    async def scan() -> None:
        with anyio.fail_after(30):
            while not started.exists():  # noqa: ASYNC110 - a file the remote command makes
                await anyio.sleep(0.05)
        seen.append(command_lines())
        scanned.touch()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(scan)
            assert await jg.Scheduler(job).run()
    finally:
        await close_all(job)
    lines = seen[0]
    # the scan saw the running command (its wait loop names the marker file)...
    assert any(str(scanned).encode() in line for line in lines)
    # ...but nowhere the value of its variable
    assert not [line for line in lines if token.encode() in line]
    # and the command saw its variables, exactly
    assert job.result()[0].stdout == f'{token}|it\'s "quoted"\nand $multi line'


async def test_env_values_are_not_on_the_command_line_with_openssh(
    sshd: Servers, tmp_path: Path
) -> None:
    await check_env_is_not_on_a_command_line(make_node(sshd, 0), tmp_path)


async def test_env_values_are_not_on_the_command_line_with_asyncssh(
    servers: Servers, tmp_path: Path
) -> None:
    await check_env_is_not_on_a_command_line(make_node(servers, 0), tmp_path)


async def test_env_values_are_not_on_the_command_line_locally(tmp_path: Path) -> None:
    await check_env_is_not_on_a_command_line(LocalNode(), tmp_path)
