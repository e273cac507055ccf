"""A stopped command that ignores SIGTERM is killed (SIGKILL after the node's grace).

OpenSSH's sshd leaves a command running when its channel closes, and the asyncssh test
server SIGKILLs it then: so these tests run against sshd (and the local node). Each
command traps TERM, HUP and INT, then sleeps with a unique duration (its marker); the
tests look in ``/proc`` (sshd runs here, as the same user) for a process holding it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    CommandTimeoutError,
    LocalNode,
    Node,
    Shell,
    SshJob,
    SshNode,
    close_all,
)
from jobgraph_ssh._asyncssh import _connection

from .conftest import Servers, make_node, node_for

pytestmark = pytest.mark.anyio

GRACE = 0.5  # the nodes' kill_grace in these tests (the CLI test uses the default)
_serial = itertools.count(1)


def stubborn(tmp_path: Path) -> tuple[str, str, Path]:
    """A command line ignoring TERM, HUP and INT, its marker, and the file it makes
    once started."""
    marker = f"301.{os.getpid()}{next(_serial):03d}"
    started = tmp_path / f"started-{marker}"
    line = f'trap "" TERM HUP INT; touch {started}; sleep {marker}; echo never'
    return line, marker, started


def holders(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def assert_all_gone(marker: str, started: Path, grace: float, *, was_started: bool = True) -> None:
    """The command did start (if ``was_started``), and none of its processes is left
    once the grace is over (polled for a few seconds more, for a loaded machine)."""
    assert started.exists() or not was_started, "the command never started"
    if wait_until(lambda: not holders(marker), grace + 8):
        return
    left = holders(marker)
    for pid in left:  # the test's own processes: leave nothing behind, then fail
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    pytest.fail(f"processes of the stopped command are left: {left}")


async def wait_started(started: Path) -> None:
    with anyio.fail_after(30):
        while not await anyio.Path(started).exists():  # noqa: ASYNC110 - a file, no event
            await anyio.sleep(0.05)


@pytest.fixture(params=["sshd", "local"])
def node(request: pytest.FixtureRequest) -> Node:
    return node_for(request, request.param, formatter=CaptureFormatter(), kill_grace=GRACE)


async def test_command_timeout_kills_a_command_ignoring_sigterm(node: Node, tmp_path: Path) -> None:
    line, marker, started = stubborn(tmp_path)
    job = SshJob(node, Shell(line, timeout=1.0))
    try:
        assert not await jg.Scheduler(job).run()
    finally:
        await close_all(node)
    assert isinstance(job.exception, CommandTimeoutError)
    assert_all_gone(marker, started, GRACE)


async def test_scheduler_timeout_kills_a_command_ignoring_sigterm(
    node: Node, tmp_path: Path
) -> None:
    line, marker, started = stubborn(tmp_path)
    scheduler = jg.Scheduler(SshJob(node, Shell(line)), timeout=1.5)
    try:
        assert not await scheduler.run()
    finally:
        await close_all(node)
    assert isinstance(scheduler.failure, jg.SchedulerTimeoutError)
    assert_all_gone(marker, started, GRACE)


async def test_cancellation_kills_a_command_ignoring_sigterm(node: Node, tmp_path: Path) -> None:
    line, marker, started = stubborn(tmp_path)
    scheduler = jg.Scheduler(SshJob(node, Shell(line)))
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(scheduler.run)
            await wait_started(started)
            group.cancel_scope.cancel()
    finally:
        await close_all(node)
    assert_all_gone(marker, started, GRACE)


@pytest.mark.parametrize("limit", [0.001, 0.05, 0.2])
async def test_a_command_stopped_before_its_pid_is_read_is_killed(
    sshd: Servers, tmp_path: Path, limit: float
) -> None:
    # stopped before its first stderr line (the pid) came back: the channel stays
    # open until that line comes, so the group is killed all the same
    line, marker, started = stubborn(tmp_path)
    node = make_node(sshd, formatter=CaptureFormatter(), kill_grace=GRACE)
    job = SshJob(node, Shell(line, timeout=limit))
    try:
        assert not await jg.Scheduler(job).run()
    finally:
        await close_all(node)
    assert isinstance(job.exception, CommandTimeoutError)
    # it may end before its trap is set: then nothing is left either
    wait_until(started.exists, 2)
    assert_all_gone(marker, started, GRACE, was_started=False)


async def test_a_command_that_ends_on_sigterm_is_not_waited_for(tmp_path: Path) -> None:
    # the grace is an upper bound: a command that obeys SIGTERM ends at once
    node = LocalNode(formatter=CaptureFormatter(), kill_grace=30)
    job = SshJob(node, Shell(f"touch {tmp_path / 'started'}; sleep 302.5"), timeout=0.5)
    begin = time.monotonic()
    assert not await jg.Scheduler(job).run()
    assert time.monotonic() - begin < 10
    assert not holders("302.5")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_kills_a_command_ignoring_sigterm(
    sshd: Servers, tmp_path: Path, backend: str
) -> None:
    line, marker, started = stubborn(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(_connection.__file__).parents[1])])
    env["JOBGRAPH_SSH_TARGETS"] = str(tmp_path / "user-targets")
    command = [
        sys.executable,
        "-m",
        "jobgraph_ssh",
        "-k",
        str(sshd.client_key),
        "--known-hosts-file",
        str(sshd.known_hosts),
        "--backend",
        backend,
        "-q",
        "-t",
        f"{sshd.username}@{sshd.host}:{sshd.ports[0]}",
        "--",
        line,
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_until(started.exists, 30), "the command never started"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert_all_gone(marker, started, _connection.KILL_GRACE)


def test_no_process_group_below_2_is_ever_killed() -> None:
    # a remote shell reporting pid 1 (or 0) would make "kill -- -1": every process
    for pid in (1, 0, -1):
        with pytest.raises(ValueError, match="refusing"):
            _connection.kill_line(pid, 1.0)
    collector = _connection.OutputCollector("host", CaptureFormatter(), None)
    collector.watch_pid = True
    collector.err(f"{_connection.PID_MARKER}1\n")
    assert collector.remote_pid is None
    line = _connection.kill_line(4242, 2.0)
    assert line.startswith("kill -s TERM -- -4242 ") and "kill -s KILL -- -4242" in line


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/usr/bin/dash"])
def test_the_kill_line_works_in_each_posix_shell(shell: str) -> None:
    # the remote login shell runs the kill line: dash refuses "kill -TERM -- -PGID"
    if not os.path.exists(shell):
        pytest.skip(f"{shell} not installed")
    marker = f"303.{os.getpid()}{next(_serial):03d}"
    stubborn_group = subprocess.Popen(
        ["/bin/sh", "-c", f'trap "" TERM HUP INT; sleep {marker}; echo never'],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: len(holders(marker)) == 1, 10)  # the sleep
        line = _connection.kill_line(stubborn_group.pid, 0.3)
        subprocess.run([shell, "-c", line], check=True, timeout=10)
        assert stubborn_group.wait(timeout=10) == -signal.SIGKILL
        assert wait_until(lambda: not holders(marker), 5), holders(marker)
    finally:
        if stubborn_group.poll() is None:
            os.killpg(stubborn_group.pid, signal.SIGKILL)
            stubborn_group.wait()


@pytest.mark.parametrize("grace", [-1, float("nan"), float("inf"), "2", True])
def test_bad_kill_grace_is_refused(grace: object) -> None:
    with pytest.raises(jg.InvalidOptionError, match="kill_grace"):
        SshNode("h", kill_grace=grace)
    with pytest.raises(jg.InvalidOptionError, match="kill_grace"):
        LocalNode(kill_grace=grace)  # type: ignore[arg-type]
