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


# -- items 2 and 3: Ctrl-C and SystemExit leave as themselves, and the record says so -


CHILD = """
import json, sys
import anyio
import jobgraph as jg

backend, progress = sys.argv[1], sys.argv[2] == "progress"
jobs = [jg.Job(anyio.sleep, 30, label=f"j{i}") for i in range(20)]
scheduler = jg.Scheduler(*jobs, jobs_window=5, label="main")
started = []

def on_event(event):
    if event.kind is jg.EventKind.STARTED:
        started.append(event.job)
        if len(started) == 5:
            print("started", flush=True)

scheduler.subscribe(on_event)
try:
    jg.run(scheduler, backend=backend, progress=progress)
except KeyboardInterrupt:
    print("caught KeyboardInterrupt", flush=True)
print("why:", scheduler.why())
report = scheduler.report()
print("report:", json.dumps({"ok": report["ok"], "why": report["why"]}))
"""


def run_child(tmp_path: Path, code: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONIOENCODING": "utf-8"}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("progress", ["plain", "progress"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_raises_keyboard_interrupt_and_the_record_says_interrupted(
    tmp_path: Path, backend: str, progress: str
) -> None:
    child = run_child(tmp_path, CHILD, backend, progress)
    try:
        assert child.stdout is not None
        for _ in range(200):  # progress lines come first; "started" once 5 jobs run
            line = child.stdout.readline()
            if line.strip() == "started" or not line:
                break
        assert line.strip() == "started", line
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "ignores cancellation" not in err  # the jobs stopped when asked
    assert "caught KeyboardInterrupt" in out
    why = (
        "scheduler 'main' was interrupted (KeyboardInterrupt); "
        "5 cancelled: 'j0', 'j1', 'j2', 'j3', 'j4'; "
        "15 never ran: 'j5', 'j6', 'j7', 'j8', 'j9', 'j10', 'j11', 'j12', 'j13', 'j14' "
        "and 5 more"
    )
    assert f"why: {why}\n" in out
    assert 'report: {"ok": false, "why": "scheduler \'main\' was interrupted' in out
    if progress == "progress":  # the progress summary ends with the same sentence
        assert out.count(why) == 2
    assert "succeeded" not in out


EXIT_CHILD = """
import sys
import anyio
import jobgraph as jg

async def leave():
    await anyio.sleep(0.05)
    sys.exit(3)

sleepers = [jg.Job(anyio.sleep, 30, label=f"sleeper{i}") for i in range(3)]
leaver = jg.Job(leave, label="leaver")
late = jg.Job(anyio.sleep, 0, label="late", requires=leaver)
scheduler = jg.Scheduler(*sleepers, leaver, late, label="main")
try:
    jg.run(scheduler, backend=sys.argv[1])
except SystemExit:
    print("why:", scheduler.why(), flush=True)
    raise
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_system_exit_in_a_job_leaves_like_keyboard_interrupt(tmp_path: Path, backend: str) -> None:
    child = run_child(tmp_path, EXIT_CHILD, backend)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 3, err
    assert err == ""  # no "unhandled exception during asyncio.run() shutdown", no group
    assert out == (
        "why: scheduler 'main' was interrupted (SystemExit in job 'leaver'); "
        "3 cancelled: 'sleeper0', 'sleeper1', 'sleeper2'; 1 never ran: 'late'\n"
    )


@pytest.mark.anyio
async def test_keyboard_interrupt_in_a_nested_job_is_raised_as_itself() -> None:
    async def interrupt() -> None:
        await anyio.sleep(0.01)
        raise KeyboardInterrupt

    sleeper = jg.Job(anyio.sleep, 30, label="sleeper")
    ctrl_c = jg.Job(interrupt, label="ctrl-c")
    inner = jg.Scheduler(ctrl_c, sleeper, label="inner")
    after = jg.Job(anyio.sleep, 0, label="after", requires=inner)
    outer = jg.Scheduler(inner, after, label="outer")
    with anyio.fail_after(5), pytest.raises(KeyboardInterrupt):
        await outer.run()
    assert sleeper.cancelled and ctrl_c.cancelled  # where Ctrl-C lands is no culprit
    assert outer.why() == (
        "scheduler 'outer' was interrupted (KeyboardInterrupt); "
        "2 cancelled: 'ctrl-c', 'sleeper'; 1 never ran: 'after'"
    )
    assert inner.why().startswith("scheduler 'inner' was interrupted")


@pytest.mark.anyio
async def test_system_exit_in_a_nested_job_names_that_job_and_fails_the_schedulers() -> None:
    async def leave() -> None:
        await anyio.sleep(0.01)
        sys.exit(3)

    sleeper = jg.Job(anyio.sleep, 30, label="sleeper")
    leaver = jg.Job(leave, label="leaver")
    inner = jg.Scheduler(leaver, sleeper, label="inner")
    after = jg.Job(anyio.sleep, 0, label="after", requires=inner)
    outer = jg.Scheduler(inner, after, label="outer")
    with anyio.fail_after(5), pytest.raises(SystemExit) as info:
        await outer.run()
    assert info.value.code == 3
    # the nested scheduler is not counted among the cancelled: its jobs tell the story
    assert outer.why() == (
        "scheduler 'outer' was interrupted (SystemExit in job 'leaver'); "
        "1 cancelled: 'sleeper'; 1 never ran: 'after'"
    )
    assert (leaver.outcome, sleeper.outcome, after.outcome) == ("failed", "cancelled", "idle")
    assert (inner.ok, outer.ok) == (False, False)
    assert outer.report()["ok"] is False
    outer.reset()  # a fresh run forgets the interruption
    assert outer.why() == "scheduler 'outer' has not run"


PIPE_CHILD = """
import sys
import jobgraph as jg

async def noop():
    pass

# more progress lines than a pipe holds: the child is still writing when it closes
scheduler = jg.Scheduler(*(jg.Job(noop, label=f"job{i}") for i in range(3000)))
jg.run(scheduler, backend=sys.argv[1], progress=True)
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_progress_into_a_closed_pipe_exits_1_with_a_clean_stderr(
    tmp_path: Path, backend: str
) -> None:
    child = run_child(tmp_path, PIPE_CHILD, backend)  # as `python child.py | head -1`
    try:
        assert child.stdout is not None and child.stderr is not None
        assert "started" in child.stdout.readline()
        child.stdout.close()
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    # rich leaves with SystemExit(1) on a broken pipe, as Python's docs advise; under
    # asyncio the run used to stop the event loop from a worker task and leave 80
    # lines of "never awaited" and "Task exception was never retrieved"
    assert err == ""
    assert child.returncode == 1
