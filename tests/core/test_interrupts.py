"""Cancellation that reaches a run from outside, whatever its kind: asyncio's own
(``task.cancel()``, ``asyncio.wait_for``), anyio or trio cancel scopes, Ctrl-C, and
``SystemExit`` raised in a job."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

import jobgraph as jg

SRC = str(Path(jg.__file__).resolve().parent.parent)


def sleepers(count: int = 8) -> list[jg.Job]:
    return [jg.Job(anyio.sleep, 30, label=f"sleeper{i}") for i in range(count)]


# -- item 1: cancellation from outside is not stubbornness ---------------------------


def check_cancelled_quickly(
    scheduler: jg.Scheduler, jobs: list[jg.Job], elapsed: float, caplog: pytest.LogCaptureFixture
) -> None:
    assert scheduler.stragglers == ()
    assert "ignores cancellation" not in caplog.text
    assert all(job.cancelled for job in jobs)
    assert scheduler.why() == "scheduler 'Scheduler' was cancelled from outside"
    assert elapsed < 0.9, elapsed  # shutdown_timeout is 1 s: no job waited it out


def test_asyncio_wait_for_stops_jobs_without_stragglers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="jobgraph")
    jobs = sleepers()
    scheduler = jg.Scheduler(*jobs)

    async def main() -> float:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(scheduler.run(), 0.5)
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert elapsed >= 0.5
    check_cancelled_quickly(scheduler, jobs, elapsed, caplog)


def test_asyncio_task_cancel_stops_jobs_without_stragglers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="jobgraph")
    jobs = sleepers()
    scheduler = jg.Scheduler(*jobs)

    async def main() -> float:
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.2)
        assert all(job.state is jg.JobState.RUNNING for job in jobs)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    check_cancelled_quickly(scheduler, jobs, elapsed, caplog)


def test_nested_scheduler_under_asyncio_cancel_has_no_stragglers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="jobgraph")
    jobs = sleepers(4)
    inner = jg.Scheduler(*jobs, label="inner")
    scheduler = jg.Scheduler(inner)

    async def main() -> float:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(scheduler.run(), 0.3)
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert inner.stragglers == () and scheduler.stragglers == ()
    assert "ignores cancellation" not in caplog.text
    assert all(job.cancelled for job in jobs)
    assert elapsed < 0.8, elapsed


@pytest.mark.anyio
async def test_cancel_scope_stops_jobs_without_stragglers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the anyio (and, under trio, the native) way: a cancel scope around the run
    caplog.set_level(logging.WARNING, logger="jobgraph")
    jobs = sleepers()
    scheduler = jg.Scheduler(*jobs)
    start = time.monotonic()
    with anyio.move_on_after(0.5):
        await scheduler.run()
    elapsed = time.monotonic() - start
    check_cancelled_quickly(scheduler, jobs, elapsed, caplog)
