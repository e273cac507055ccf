"""Connection life: synchronous runs, reuse, connection events, a connection that drops."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    ConnectionLostError,
    Shell,
    SshJob,
    close_all,
)

from .conftest import ClientKey, Servers, make_node, start_asyncssh


def test_sync_asyncio_run_returns_at_once_and_leaves_no_connection(servers: Servers) -> None:
    node = make_node(servers, 0, formatter=CaptureFormatter())
    before = servers.stats()["connections_now"]
    start = time.monotonic()
    assert jg.run(jg.Scheduler(SshJob(node, Shell("true"))), backend="asyncio")
    assert time.monotonic() - start < 5
    # the loop closed the connection as it ended (no ResourceWarning: warnings are errors)
    assert servers.wait_stats("connections_now", before, timeout=2)["connections_now"] == before


def test_sync_trio_runs_share_the_background_connection(servers: Servers) -> None:
    node = make_node(servers, 1, formatter=CaptureFormatter())
    before = servers.stats()["connections"]
    for _ in range(2):
        assert jg.run(jg.Scheduler(SshJob(node, Shell("true"))), backend="trio")
    assert servers.stats()["connections"] - before == 1  # the second run reused it
    anyio.run(close_all, node, backend="trio")


@pytest.mark.anyio
async def test_connection_events_reach_the_formatter(servers: Servers) -> None:
    capture = CaptureFormatter()
    node = make_node(servers, 2, formatter=capture)
    assert await jg.Scheduler(SshJob(node, Shell("true"))).run()
    await close_all(node)
    assert [message for _, message in capture.events] == [
        "connecting",
        "authenticated",
        "disconnected",
    ]


@pytest.mark.anyio
async def test_connection_dropped_mid_command(tmp_path: Path, client_key: ClientKey) -> None:
    with start_asyncssh(tmp_path, client_key) as doomed:
        node = make_node(doomed, formatter=CaptureFormatter())
        job = SshJob(node, Shell("echo started; sleep 2"), label="victim")

        async def kill_server() -> None:
            await anyio.sleep(0.5)
            os.kill(doomed.pid, signal.SIGKILL)

        scheduler = jg.Scheduler(job, jg.Job(kill_server))
        start = time.monotonic()
        assert not await scheduler.run()
        await close_all(scheduler)
        assert time.monotonic() - start < 2  # did not wait for the command's end
        assert isinstance(job.exception, ConnectionLostError)
        assert "victim" in str(job.exception) and node.name in str(job.exception)
