"""Hardening from a new user's trial (issue 11): messages that name the culprit, nested
requirements, type hints, outcomes at a glance, readable reprs and event times."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

import jobgraph as jg


async def noop() -> None:
    await anyio.lowlevel.checkpoint()


# -- item 4: jobgraph.run() inside a running event loop --------------------------------


@pytest.mark.anyio
async def test_run_entry_inside_a_running_loop_says_to_await_run() -> None:
    scheduler = jg.Scheduler(jg.Job(noop), label="nightly")
    with pytest.raises(jg.RunStateError) as info:
        jg.run(scheduler)
    message = str(info.value)
    assert "already running in this thread" in message
    assert "'await scheduler.run()'" in message and "'nightly'" in message
    assert scheduler.state is jg.JobState.IDLE
    assert await scheduler.run()  # the advice works
