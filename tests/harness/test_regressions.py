"""Engine bugs found by the property-based harness, kept as explicit cases.

Each test names the drawn graph that exposed the bug, shrunk by hypothesis and
written out by hand.
"""

from __future__ import annotations

import anyio
import pytest

import jobgraph as jg
from jobgraph.testing import JobSpec, Raise, Return, SchedulerSpec, Serve, assert_valid, run_graph

pytestmark = pytest.mark.anyio


async def value(x: int, delay: float = 0.0) -> int:
    await anyio.sleep(delay)
    return x


async def fail() -> None:
    raise RuntimeError("boom")


async def test_dependent_of_forever_job_without_task_status_is_scheduled_after_it_starts() -> None:
    # found: Serve(signals_ready=False) then a job requiring it; the dependent's
    # SCHEDULED event came before the forever job's STARTED event
    async def daemon() -> None:
        await anyio.sleep_forever()

    events: list[tuple[jg.EventKind, str]] = []
    d = jg.Job(daemon, forever=True, label="daemon")
    after = jg.Job(value, 1, requires=d, label="after")
    scheduler = jg.Scheduler(d, after, timeout=5)
    scheduler.subscribe(lambda e: events.append((e.kind, e.job.label)))
    assert await scheduler.run()
    assert events.index((jg.EventKind.STARTED, "daemon")) < events.index(
        (jg.EventKind.SCHEDULED, "after")
    )


async def test_nested_jobs_do_not_start_after_an_enclosing_critical_abort() -> None:
    # found: top holds a nested scheduler (one quick job) and a critical job failing at
    # once; the nested scheduler's worker, spawned just before the abort, still
    # started its job afterwards. trio runs ready tasks in random order, so the case
    # is repeated to meet the bad order.
    for _ in range(10):
        inner = jg.Scheduler(jg.Job(anyio.sleep, 1, label="inner-job"), label="inner")
        boom = jg.Job(fail, label="boom")
        top = jg.Scheduler(inner, boom, label="top")
        events: list[jg.JobEvent] = []
        top.subscribe(events.append)
        with anyio.fail_after(5):
            assert await top.run() is False
        failed_at = next(i for i, e in enumerate(events) if e.kind is jg.EventKind.FAILED)
        late = [e.job.label for e in events[failed_at:] if e.kind is jg.EventKind.STARTED]
        assert late == [], f"started after the abort: {late}"


async def test_queued_jobs_do_not_start_after_the_caller_cancels_the_run() -> None:
    started: list[int] = []

    async def first(scope: anyio.CancelScope) -> None:
        scope.cancel()
        await anyio.sleep(1)

    async def other(i: int) -> None:
        started.append(i)
        await anyio.sleep(1)

    with anyio.CancelScope() as scope:
        jobs = [jg.Job(first, scope), *(jg.Job(other, i) for i in range(3))]
        await jg.Scheduler(*jobs).run()
    assert scope.cancelled_caught
    assert started == []


@pytest.mark.timing
async def test_forever_job_cleanup_past_the_deadline_is_not_a_timeout() -> None:
    # found: every finite job ended before the scheduler's timeout, but a forever
    # job's shielded cleanup ran past it, and the run was reported as timed out
    async def daemon() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.1)

    d = jg.Job(daemon, forever=True, label="daemon")
    work = jg.Job(value, 1, 0.01, label="work")
    scheduler = jg.Scheduler(d, work, timeout=0.05, label="top")
    assert await scheduler.run(), scheduler.why()
    assert scheduler.failure is None
    assert work.result() == 1
    assert d.cancelled


@pytest.mark.parametrize("backend", ["asyncio", "trio-mockclock"])
def test_shrunk_graphs_of_the_three_bugs_pass_the_oracle(backend: str) -> None:
    graphs = [
        SchedulerSpec(
            "top",
            (
                JobSpec("j1", Serve(signals_ready=False), forever=True),
                SchedulerSpec("s2", (), requires=(0,), critical=False),
            ),
        ),
        SchedulerSpec(
            "top",
            (
                SchedulerSpec("s1", (JobSpec("j2", Return(0.005, 7)),)),
                JobSpec("j3", Raise(0.0), critical=True),
            ),
        ),
        SchedulerSpec(
            "top",
            (
                JobSpec("j1", Serve(signals_ready=False, cleanup=0.012), forever=True),
                JobSpec("j2", Return(0.01, 1)),
            ),
            timeout=0.0137,
        ),
    ]
    for spec in graphs:
        assert_valid(run_graph(spec, backend=backend))


@pytest.mark.timing
async def test_no_daemon_is_scheduled_once_the_run_is_cancelled() -> None:
    # found (soak, trio): RuntimeError "Nursery is closed to new arrivals" escaped
    # run(). A job ending after the run's deadline had passed released a forever job,
    # which was started in the forever jobs' task group after that group had closed.
    # Here a deaf job ends exactly at the deadline; in some orders of trio's ready tasks
    # its dependent daemon used to be scheduled (and, had the group closed, crashed).
    async def deaf() -> int:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.01)
        return 1

    async def serve() -> None:
        await anyio.sleep_forever()

    for _ in range(10):
        a = jg.Job(deaf, label="deaf")
        daemon = jg.Job(serve, forever=True, requires=a, label="daemon")
        slow = jg.Job(anyio.sleep, 1, label="slow")
        scheduler = jg.Scheduler(a, daemon, slow, timeout=0.01)
        assert await scheduler.run() is False
        assert scheduler.failed_time_out()
        assert daemon.state is jg.JobState.IDLE


# -- found by fuzzing the public API with garbage (tests/harness/test_fuzz_inputs.py) --


def test_add_refused_midway_adds_nothing() -> None:
    # found: add([job, False]) added the job, then refused False
    scheduler = jg.Scheduler(label="s")
    job = jg.Job(value, 1, label="j")
    with pytest.raises(jg.JobDefinitionError, match=r"add\(\)"):
        scheduler.add([job, False])  # type: ignore[arg-type]
    assert scheduler.jobs == ()
    assert job.scheduler is None


def test_requires_refused_midway_requires_nothing() -> None:
    # found: job.requires([other, False]) required other, then refused False
    job, other = jg.Job(value, 1), jg.Job(value, 2)
    with pytest.raises(jg.JobDefinitionError, match=r"requires\(\)"):
        job.requires([other, False])
    assert job.requirements == ()


def test_scheduler_option_that_is_not_a_scheduler_is_refused_by_name() -> None:
    # found: Job(f, scheduler=False) raised AttributeError: 'bool' object has no 'add'
    with pytest.raises(jg.JobDefinitionError, match="scheduler must be a Scheduler"):
        jg.Job(value, 1, scheduler=False)  # type: ignore[arg-type]
    with pytest.raises(jg.JobDefinitionError, match="scheduler must be a Scheduler"):
        jg.Sequence(jg.Job(value, 1), scheduler="top")  # type: ignore[arg-type]


def test_kwargs_that_are_not_a_mapping_are_refused_by_name() -> None:
    # found: Job(f, kwargs=True) raised "TypeError: 'bool' object is not iterable"
    with pytest.raises(jg.JobDefinitionError, match="kwargs must be a mapping"):
        jg.Job(value, kwargs=True)  # type: ignore[arg-type]


def test_retry_without_a_backoff_number_is_refused() -> None:
    # found: Retry(backoff=None) was accepted, then delay() raised TypeError mid-run
    with pytest.raises(jg.JobDefinitionError, match="Retry backoff must be a number"):
        jg.Retry(backoff=None)  # type: ignore[arg-type]


def test_nan_durations_are_refused_by_name() -> None:
    # found: timeout=nan was accepted and made a deadline of nan
    with pytest.raises(jg.InvalidOptionError, match="timeout"):
        jg.Job(value, 1, timeout=float("nan"))
    with pytest.raises(jg.InvalidOptionError, match="shutdown_timeout"):
        jg.Scheduler(shutdown_timeout=float("nan"))


def test_setting_a_bad_jobs_window_is_refused_and_keeps_the_old_one() -> None:
    # found: scheduler.jobs_window = "" was accepted; the run then died on a TypeError
    scheduler = jg.Scheduler(jg.Job(value, 1), jobs_window=2)
    with pytest.raises(jg.JobDefinitionError, match="jobs_window"):
        scheduler.jobs_window = ""  # type: ignore[assignment]
    with pytest.raises(jg.InvalidOptionError, match="jobs_window"):
        scheduler.jobs_window = 0
    assert scheduler.jobs_window == 2
    assert jg.run(scheduler, backend="trio")
