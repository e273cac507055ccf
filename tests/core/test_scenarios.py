"""The scenarios of the asynciojobs README (examples A to F, window, nesting), written
against the native API and checked on asyncio, trio and trio's MockClock."""

from __future__ import annotations

import anyio
import pytest

import jobgraph as jg

pytestmark = [pytest.mark.anyio, pytest.mark.timing]


class Trace:
    """Records (time since start, message) pairs, with the run loop's clock."""

    def __init__(self) -> None:
        self.start = anyio.current_time()
        self.events: list[tuple[float, str]] = []

    def __call__(self, message: str) -> None:
        self.events.append((anyio.current_time() - self.start, message))

    def messages(self) -> list[str]:
        return [message for _, message in self.events]

    def at(self, message: str) -> float:
        return next(time for time, text in self.events if text == message)


def close(actual: float, expected: float, mock_clock: bool) -> bool:
    """Exact under MockClock; on real loops allow scheduling slack."""
    if mock_clock:
        return actual == pytest.approx(expected, abs=1e-9)
    return expected - 0.01 <= actual <= expected + 0.15


async def in_out(trace: Trace, delay: float) -> float:
    trace(f"-> {delay}")
    await anyio.sleep(delay)
    trace(f"<- {delay}")
    return 1000 * delay


async def boom(delay: float) -> None:
    await anyio.sleep(delay)
    raise ValueError(f"boom after {delay}s")


async def test_parallel_jobs_start_together_example_a(mock_clock: bool) -> None:
    trace = Trace()
    a1, a2, a3 = (jg.Job(in_out, trace, d) for d in (0.1, 0.2, 0.25))
    scheduler = jg.Scheduler(a1, a2, a3)
    assert all(job.state is jg.JobState.IDLE for job in (a1, a2, a3))
    assert await scheduler.run() is True
    assert sorted(trace.messages()[:3]) == ["-> 0.1", "-> 0.2", "-> 0.25"]
    assert close(trace.at("<- 0.25"), 0.25, mock_clock)
    assert a1.result() == 100.0
    assert [job.state for job in (a1, a2, a3)] == [jg.JobState.DONE] * 3


async def test_jobs_added_after_creation_run_the_same_example_a2() -> None:
    trace = Trace()
    scheduler = jg.Scheduler()
    a1 = jg.Job(in_out, trace, 0.1, scheduler=scheduler)
    a2 = scheduler.add(jg.Job(in_out, trace, 0.2))
    assert scheduler.jobs == (a1, a2)
    assert await scheduler.run()
    assert (a1.result(), a2.result()) == (100.0, 200.0)


async def test_requirement_delays_start_example_b(mock_clock: bool) -> None:
    trace = Trace()
    b1 = jg.Job(in_out, trace, 0.1, label="b1")
    b2 = jg.Job(in_out, trace, 0.2, label="b2")
    b3 = jg.Job(in_out, trace, 0.25)
    b2.requires(b1)
    assert await jg.Scheduler(b1, b2, b3).run()
    assert trace.messages().index("-> 0.2") > trace.messages().index("<- 0.1")
    assert close(trace.at("-> 0.2"), 0.1, mock_clock)
    assert close(trace.at("<- 0.2"), 0.3, mock_clock)
    assert b2.started_at is not None and b1.ended_at is not None
    assert b2.started_at >= b1.ended_at


async def test_sequence_is_the_same_as_requirements_example_b2(mock_clock: bool) -> None:
    trace = Trace()
    bp1 = jg.Job(in_out, trace, 0.1, label="bp1")
    bp2 = jg.Job(in_out, trace, 0.2, label="bp2")
    scheduler = jg.Scheduler(jg.Sequence(bp1, bp2), jg.Job(in_out, trace, 0.25))
    assert bp2.requirements == (bp1,)
    assert await scheduler.run()
    assert close(trace.at("<- 0.2"), 0.3, mock_clock)


async def test_forever_job_is_cancelled_when_others_are_done_example_c(mock_clock: bool) -> None:
    trace = Trace()
    send, receive = anyio.create_memory_object_stream[str](100)
    seen: list[str] = []

    async def monitor() -> None:
        # cancelled mid-loop: a comprehension would lose what it saw
        async for message in receive:
            seen.append(message)  # noqa: PERF401

    async def in_out_bus(delay: float) -> float:
        await send.send(f"-> {delay}")
        await anyio.sleep(delay)
        await send.send(f"<- {delay}")
        return 10 * delay

    with send, receive:
        c1 = jg.Job(in_out_bus, 0.2, label="c1")
        c2 = jg.Job(in_out_bus, 0.4, label="c2")
        c3 = jg.Job(in_out_bus, 0.3, label="c3", requires=c1)
        c4 = jg.Job(monitor, forever=True, label="monitor")
        scheduler = jg.Scheduler(c1, c2, c3, c4)
        assert await scheduler.run()
        assert close(anyio.current_time() - trace.start, 0.5, mock_clock)
        assert [c.result() for c in (c1, c2, c3)] == [2.0, 4.0, 3.0]
        assert c4.state is jg.JobState.DONE and c4.cancelled
        assert c4.exception is None
        with pytest.raises(jg.RunStateError, match="'monitor' has no result: it is cancelled"):
            c4.result()
        assert sorted(seen) == sorted(["-> 0.2", "-> 0.4", "<- 0.2", "-> 0.3", "<- 0.4", "<- 0.3"])


async def test_global_timeout_fails_the_run_example_d(mock_clock: bool) -> None:
    trace = Trace()
    ticks: list[int] = []

    async def forever() -> None:
        for i in range(100_000):
            ticks.append(i)
            await anyio.sleep(0.1)

    job = jg.Job(forever, forever=True)
    scheduler = jg.Scheduler(job, timeout=0.25, critical=False)
    assert await scheduler.run() is False
    assert close(anyio.current_time() - trace.start, 0.25, mock_clock)
    # exact under MockClock; a loaded real loop may be late for the tick at 0.2s
    assert ticks == [0, 1, 2] if mock_clock else ticks in ([0, 1, 2], [0, 1])
    assert scheduler.failed_time_out() and not scheduler.failed_critical()
    assert isinstance(scheduler.failure, jg.SchedulerTimeoutError)
    assert isinstance(scheduler.failure, TimeoutError)
    assert "timed out after 0.25s" in scheduler.why()
    assert job.cancelled


async def test_non_critical_failure_lets_the_run_proceed_example_e(mock_clock: bool) -> None:
    trace = Trace()
    e1 = jg.Job(in_out, trace, 0.2, label="begin")
    e2 = jg.Job(boom, 0.2, label="boom", critical=False)
    e3 = jg.Job(in_out, trace, 0.3, label="end")
    scheduler = jg.Scheduler(jg.Sequence(e1, e2, e3), critical=False)
    assert await scheduler.run() is True
    assert close(trace.at("-> 0.3"), 0.4, mock_clock)
    assert e3.result() == 300.0
    assert isinstance(e2.exception, ValueError)
    assert str(e2.exception) == "boom after 0.2s"
    assert scheduler.why() == ("scheduler 'Scheduler' succeeded, 1 non-critical job failed: 'boom'")


async def test_critical_failure_aborts_the_run_example_f(mock_clock: bool) -> None:
    trace = Trace()
    f1 = jg.Job(in_out, trace, 0.2, label="begin")
    f2 = jg.Job(boom, 0.2, label="boom", critical=True)
    f3 = jg.Job(in_out, trace, 0.3, label="end")
    slow = jg.Job(in_out, trace, 5.0, label="slow")
    scheduler = jg.Scheduler(jg.Sequence(f1, f2, f3), slow, critical=False)
    assert await scheduler.run() is False
    assert close(anyio.current_time() - trace.start, 0.4, mock_clock)
    assert f3.state is jg.JobState.IDLE
    assert slow.state is jg.JobState.DONE and slow.cancelled
    assert scheduler.failed_critical()
    failure = scheduler.failure
    assert isinstance(failure, jg.CriticalJobError)
    assert failure.job is f2 and isinstance(failure.exception, ValueError)
    assert failure.__cause__ is f2.exception
    assert scheduler.why() == (
        "run aborted: critical job 'boom' in scheduler 'Scheduler' failed: "
        "ValueError: boom after 0.2s"
    )


async def test_window_bounds_simultaneous_jobs(mock_clock: bool) -> None:
    trace = Trace()
    running = 0
    peak = 0

    async def job(delay: float) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(delay)
        running -= 1

    scheduler = jg.Scheduler(*(jg.Job(job, 0.5) for _ in range(8)), jobs_window=4)
    assert await scheduler.run()
    assert peak == 4
    assert close(anyio.current_time() - trace.start, 1.0, mock_clock)


async def test_jobs_waiting_for_a_slot_are_scheduled() -> None:
    states: list[list[jg.JobState]] = []
    gate = anyio.Event()

    async def hold() -> None:
        await gate.wait()

    async def look() -> None:
        states.append([job.state for job in jobs])
        gate.set()

    jobs = [jg.Job(hold), jg.Job(hold), jg.Job(hold)]
    scheduler = jg.Scheduler(*jobs, jobs_window=2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        await anyio.sleep(0.01)
        await look()
    assert states[0].count(jg.JobState.RUNNING) == 2
    assert states[0].count(jg.JobState.SCHEDULED) == 1
    assert all(job.state is jg.JobState.DONE for job in jobs)


async def test_nested_scheduler_runs_as_one_job(mock_clock: bool) -> None:
    trace = Trace()
    order: list[str] = []

    async def step(name: str) -> None:
        order.append(name)
        await anyio.sleep(0.5)

    inner = jg.Scheduler(label="critical nested", critical=True)
    s1 = jg.Job(step, "subj1", label="subj1", scheduler=inner)
    s2 = jg.Job(step, "subj2", label="subj2", requires=s1, scheduler=inner)
    s3 = jg.Job(step, "subj3", label="subj3", requires=s1, scheduler=inner)
    jg.Job(step, "subj4", label="subj4", requires=(s2, s3), scheduler=inner)
    main = jg.Scheduler(
        jg.Sequence(
            jg.Job(step, "main-start", label="main-start"),
            inner,
            jg.Job(step, "main-end", label="main-end"),
        )
    )
    assert await main.run()
    assert order[0] == "main-start" and order[-1] == "main-end"
    assert order[1] == "subj1" and order[4] == "subj4"
    assert sorted(order[2:4]) == ["subj2", "subj3"]
    assert close(anyio.current_time() - trace.start, 2.5, mock_clock)
    assert inner.state is jg.JobState.DONE and inner.result() is True
    assert [job.label for job in main.iterate_jobs()] == [
        "main-start",
        "subj1",
        "subj2",
        "subj3",
        "subj4",
        "main-end",
    ]


async def test_nested_window_applies_to_its_own_jobs_only(mock_clock: bool) -> None:
    trace = Trace()
    inner = jg.Scheduler(*(jg.Job(anyio.sleep, 1) for _ in range(4)), jobs_window=1)
    outer = jg.Scheduler(inner, *(jg.Job(anyio.sleep, 1) for _ in range(4)))
    assert await outer.run()
    # the inner jobs run one at a time, the outer ones all at once
    assert close(anyio.current_time() - trace.start, 4.0, mock_clock)
