"""Connection state as engine events (NOTE) and in the run's report, per job and host."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import anyio
import asyncssh
import pytest
from rich.console import Console

import jobgraph as jg
from jobgraph.lowlevel import notes_of
from jobgraph_ssh import (
    AuthError,
    CaptureFormatter,
    ConnectError,
    Shell,
    SshJob,
    SshNode,
    close_all,
)

from .conftest import ClientKey, Servers, free_port, make_node, start_asyncssh

pytestmark = pytest.mark.anyio


def told(events: list[jg.JobEvent], job: jg.AbstractJob) -> list[tuple[str, dict[str, object]]]:
    return [
        (e.note, dict(e.data or {})) for e in events if e.kind is jg.EventKind.NOTE and e.job is job
    ]


async def test_connection_state_reaches_subscribers_and_the_report(servers: Servers) -> None:
    node = make_node(servers, 2, formatter=CaptureFormatter())
    first = SshJob(node, Shell("true"), label="first")
    second = SshJob(node, Shell("true"), label="second", requires=first)
    scheduler = jg.Scheduler(first, second)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    try:
        assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)
    assert told(events, first) == [
        ("connecting", {"host": node.name}),
        ("authenticated", {"host": node.name}),
    ]
    assert told(events, second) == [("authenticated", {"host": node.name, "reused": True})]
    # between the job's STARTED and FINISHED
    kinds = [e.kind for e in events if e.job is first]
    assert kinds.index(jg.EventKind.STARTED) < kinds.index(jg.EventKind.NOTE)
    assert kinds.index(jg.EventKind.NOTE) < kinds.index(jg.EventKind.FINISHED)
    entry = next(j for j in scheduler.report()["jobs"] if j["label"] == "first")
    assert [n["note"] for n in entry["notes"]] == ["connecting", "authenticated"]
    assert entry["notes"][0]["data"] == {"host": node.name}


async def test_gateway_is_named_when_connecting(servers: Servers, gateways: Servers) -> None:
    gateway = make_node(gateways, 0, formatter=CaptureFormatter())
    node = make_node(servers, 1, gateway=gateway, formatter=CaptureFormatter())
    job = SshJob(node, Shell("true"))
    scheduler = jg.Scheduler(job)  # keeps the notes of its jobs
    try:
        assert await scheduler.run()
    finally:
        await close_all(node)
    assert next((note, dict(data)) for _, note, data in notes_of(job)) == (
        "connecting",
        {"host": node.name, "via": gateway.name},
    )


async def test_refused_key_and_unreachable_host_are_told(servers: Servers, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    other.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    refused = SshJob(make_node(servers, 0, keys=[other]), Shell("true"), critical=False)
    dead_node = SshNode(
        "127.0.0.1", port=free_port(), keys=[servers.client_key], known_hosts=servers.known_hosts
    )
    dead = SshJob(dead_node, Shell("true"), critical=False)
    scheduler = jg.Scheduler(refused, dead)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    try:
        assert await scheduler.run()
    finally:
        await close_all(scheduler)
    assert isinstance(refused.exception, AuthError)
    assert [note for note, _ in told(events, refused)] == ["connecting", "auth-failed"]
    assert "authentication refused" in str(told(events, refused)[1][1]["error"])
    assert isinstance(dead.exception, ConnectError)
    assert [note for note, _ in told(events, dead)] == ["connecting", "connect-failed"]


async def test_a_dropped_connection_is_told(tmp_path: Path, client_key: ClientKey) -> None:
    with start_asyncssh(tmp_path, client_key) as doomed:
        node = make_node(doomed, formatter=CaptureFormatter())
        job = SshJob(node, Shell("echo started; sleep 2"), label="victim")

        async def kill_server() -> None:
            await anyio.sleep(0.5)
            os.kill(doomed.pid, signal.SIGKILL)

        scheduler = jg.Scheduler(job, jg.Job(kill_server))
        assert not await scheduler.run()
        await close_all(scheduler)
        assert [note for _, note, _ in notes_of(job)] == [
            "connecting",
            "authenticated",
            "disconnected",
        ]


async def test_closing_inside_the_run_is_told_per_host_and_gateway(
    servers: Servers, gateways: Servers
) -> None:
    gateway = make_node(gateways, 0, formatter=CaptureFormatter())
    behind = make_node(servers, 1, gateway=gateway, formatter=CaptureFormatter())
    direct = make_node(servers, 2, formatter=CaptureFormatter())
    work = [SshJob(node, Shell("true"), label=f"on {node.name}") for node in (behind, direct)]
    scheduler = jg.Scheduler(*work)

    async def close_connections() -> None:
        await close_all(scheduler)

    scheduler.add(jg.Job(close_connections, requires=work, label="close"))
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    try:
        assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)  # nothing left open: says nothing more
    closed = [(e.data or {})["host"] for e in events if e.note == "disconnected"]
    # remotest first: the node behind the gateway, then the direct one and the gateway
    assert closed[0] == behind.name
    assert sorted(closed) == sorted([behind.name, direct.name, gateway.name])
    assert all((e.data or {}).get("closed") for e in events if e.note == "disconnected")
    assert ("disconnected", {"host": direct.name, "closed": True}) in told(events, work[1])
    # the gateway's closing is told by the job that went through it
    assert ("disconnected", {"host": gateway.name, "closed": True}) in told(events, work[0])
    entry = next(j for j in scheduler.report()["jobs"] if j["label"] == f"on {direct.name}")
    assert [n["note"] for n in entry["notes"]][-1] == "disconnected"


async def test_closing_after_the_run_tells_the_formatter_only(servers: Servers) -> None:
    formatter = CaptureFormatter()
    node = make_node(servers, 3, formatter=formatter)
    job = SshJob(node, Shell("true"))
    scheduler = jg.Scheduler(job)
    assert await scheduler.run()
    await close_all(scheduler)
    # the run is over: its report keeps what was told during it, the formatter the rest
    assert [note for _, note, _ in notes_of(job)] == ["connecting", "authenticated"]
    assert formatter.events[-1] == (node.label, "disconnected")
    assert not node.is_connected()


async def test_progress_panel_shows_the_host_state_of_running_jobs(servers: Servers) -> None:
    node = make_node(servers, 3, formatter=CaptureFormatter())
    job = SshJob(node, Shell("sleep 0.8"), label="slow one")
    out = io.StringIO()
    screen = Console(file=out, width=160, force_terminal=True, color_system=None)
    scheduler = jg.Scheduler(job)
    try:
        with jg.Progress(scheduler, console=screen, live=True, refresh_per_second=20):
            assert await scheduler.run()
    finally:
        await close_all(node)
    assert "slow one" in out.getvalue()
    assert f"{node.name}: authenticated" in out.getvalue()
