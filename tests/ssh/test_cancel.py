"""Stopping remote commands: command timeouts, job timeouts, critical aborts, outside cancels.

The remote command must be gone, and its channel free, within a second.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph_ssh import CaptureFormatter, CommandTimeoutError, LocalNode, Shell, SshJob, close_all

from .conftest import Servers, make_node

pytestmark = pytest.mark.anyio


def assert_stopped_soon(servers: Servers) -> None:
    """The server's processes and sessions are back to none within 1 s."""
    stats = servers.wait_stats("processes_now", 0, timeout=1.0)
    assert stats["processes_now"] == 0, stats
    stats = servers.wait_stats("sessions_now", 0, timeout=1.0)
    assert stats["sessions_now"] == 0, stats


async def test_command_timeout_stops_the_command(servers: Servers) -> None:
    signals = servers.stats()["signals"]
    job = SshJob(make_node(servers), Shell("sleep 30", timeout=0.3), Shell("echo never"))
    scheduler = jg.Scheduler(job)
    start = time.monotonic()
    assert not await scheduler.run()
    await close_all(scheduler)
    assert time.monotonic() - start < 5
    assert isinstance(job.exception, CommandTimeoutError)
    assert isinstance(job.exception, TimeoutError)
    assert "sleep 30" in str(job.exception) and "0.3 s" in str(job.exception)
    assert_stopped_soon(servers)
    assert servers.stats()["signals"] > signals  # stopped by a signal, not only by closing


async def test_job_timeout_cancels_the_remote_command(servers: Servers) -> None:
    node = make_node(servers, formatter=CaptureFormatter())
    job = SshJob(node, Shell("echo started; sleep 30"), timeout=0.5, critical=False)
    other = SshJob(node, Shell("echo ok"))
    scheduler = jg.Scheduler(job, other)
    assert await scheduler.run()
    try:
        assert isinstance(job.exception, jg.JobTimeoutError)
        assert other.result()[0].stdout == "ok\n"
        assert_stopped_soon(servers)
        # the connection is still usable: the channel was freed, not the connection
        again = SshJob(node, Shell("echo again"))
        assert await jg.Scheduler(again).run()
        assert again.result()[0].stdout == "again\n"
    finally:
        await close_all(node)


async def test_critical_failure_aborts_running_remote_commands(servers: Servers) -> None:
    node = make_node(servers, 1, formatter=CaptureFormatter())
    slow = [SshJob(node, Shell("sleep 30")) for _ in range(3)]
    failing = SshJob(node, Shell("sleep 0.3; exit 9"))
    scheduler = jg.Scheduler(*slow, failing)
    start = time.monotonic()
    assert not await scheduler.run()
    await close_all(scheduler)
    assert time.monotonic() - start < 5
    assert all(job.cancelled for job in slow)
    assert_stopped_soon(servers)


async def test_outside_cancel_stops_remote_commands(servers: Servers) -> None:
    node = make_node(servers, 2, formatter=CaptureFormatter())
    scheduler = jg.Scheduler(*(SshJob(node, Shell("sleep 30")) for _ in range(4)))
    with anyio.move_on_after(0.5) as scope:
        await scheduler.run()
    assert scope.cancelled_caught
    await close_all(scheduler)
    assert_stopped_soon(servers)


def pid_gone_within(pid_file: Path, seconds: float) -> bool:
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state == "Z":  # dead, not yet reaped (a container's init may never reap it)
            return True
        time.sleep(0.02)
    return False


async def test_job_timeout_kills_the_command_on_openssh_sshd(sshd: Servers, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    node = make_node(sshd, formatter=CaptureFormatter())
    job = SshJob(node, Shell(f"echo $$ > {pid_file}; exec sleep 30"), timeout=1.0)
    scheduler = jg.Scheduler(job)
    assert not await scheduler.run()
    await close_all(scheduler)
    assert isinstance(job.exception, jg.JobTimeoutError)
    assert pid_gone_within(pid_file, 1.0)


async def test_job_timeout_kills_a_local_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    job = SshJob(LocalNode(), Shell(f"echo $$ > {pid_file}; exec sleep 30"), timeout=0.5)
    assert not await jg.Scheduler(job).run()
    assert isinstance(job.exception, jg.JobTimeoutError)
    assert pid_gone_within(pid_file, 1.0)
