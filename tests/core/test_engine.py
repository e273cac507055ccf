"""Engine guarantees: window slots, forever jobs, nesting, timeouts, retries,
cancellation from outside, failure policies, events, shutdown and large runs."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import jobgraph as jg

pytestmark = pytest.mark.anyio


async def fail(message: str = "failed") -> None:
    await anyio.sleep(0.01)
    raise RuntimeError(message)


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


# -- window ------------------------------------------------------------------------


async def test_failing_job_gives_its_window_slot_back() -> None:
    # asynciojobs leaks the slot of a failing job: with a window of 1, one failing
    # non-critical job stops everything after it
    jobs = [jg.Job(fail, critical=False, label="bad")]
    jobs += [jg.Job(value, i, label=f"good{i}") for i in range(5)]
    scheduler = jg.Scheduler(*jobs, jobs_window=1)
    with anyio.fail_after(5):
        assert await scheduler.run()
    assert [job.result() for job in jobs[1:]] == list(range(5))
    assert isinstance(jobs[0].exception, RuntimeError)


async def test_timed_out_job_gives_its_window_slot_back() -> None:
    slow = jg.Job(anyio.sleep, 10, timeout=0.05, critical=False, label="slow")
    after = [jg.Job(value, i) for i in range(3)]
    scheduler = jg.Scheduler(slow, *after, jobs_window=1)
    with anyio.fail_after(5):
        assert await scheduler.run()
    assert isinstance(slow.exception, jg.JobTimeoutError)
    assert [job.result() for job in after] == [0, 1, 2]


@pytest.mark.timing
async def test_forever_jobs_take_no_window_slot() -> None:
    async def daemon() -> None:
        await anyio.sleep_forever()

    done = jg.Job(value, "ok")
    scheduler = jg.Scheduler(jg.Job(daemon, forever=True), done, jobs_window=1, timeout=5)
    assert await scheduler.run()
    assert done.result() == "ok"


# -- forever jobs --------------------------------------------------------------------


@pytest.mark.timing
async def test_server_then_client_with_task_status() -> None:
    events: list[str] = []

    async def server(*, task_status: jg.TaskStatusLike) -> None:
        await anyio.sleep(0.2)
        events.append("server ready")
        task_status.started()
        await anyio.sleep_forever()

    async def client() -> str:
        events.append("client")
        return "answer"

    srv = jg.Job(server, forever=True, label="server")
    cli = jg.Job(client, requires=srv, label="client")
    scheduler = jg.Scheduler(srv, cli, timeout=5)
    assert await scheduler.run()
    assert events == ["server ready", "client"]
    assert cli.result() == "answer"
    assert srv.cancelled


@pytest.mark.timing
async def test_forever_job_without_task_status_releases_dependents_when_it_starts() -> None:
    async def daemon() -> None:
        await anyio.sleep_forever()

    d = jg.Job(daemon, forever=True)
    after = jg.Job(value, 1, requires=d)
    assert await jg.Scheduler(d, after, timeout=5).run()
    assert after.result() == 1


@pytest.mark.timing
async def test_forever_jobs_requiring_forever_jobs() -> None:
    order: list[str] = []

    async def daemon(name: str, *, task_status: jg.TaskStatusLike) -> None:
        order.append(name)
        await anyio.sleep(0.1)
        task_status.started()
        await anyio.sleep_forever()

    d1 = jg.Job(daemon, "d1", forever=True)
    d2 = jg.Job(daemon, "d2", forever=True, requires=d1)
    d3 = jg.Job(daemon, "d3", forever=True, requires=d2)
    work = jg.Job(value, "w", 0.05, requires=d3)
    scheduler = jg.Scheduler(d1, d2, d3, work, timeout=5)
    assert await scheduler.run()
    assert order == ["d1", "d2", "d3"]
    assert all(d.cancelled for d in (d1, d2, d3))


@pytest.mark.timing
async def test_only_forever_jobs_run_until_they_end() -> None:
    async def ticker(n: int) -> int:
        for _ in range(n):
            await anyio.sleep(0.1)
        return n

    job = jg.Job(ticker, 3, forever=True)
    assert await jg.Scheduler(job).run()
    assert job.result() == 3


@pytest.mark.timing
async def test_failing_forever_job_is_reported_not_cancelled() -> None:
    async def crashing_daemon() -> None:
        await anyio.sleep(0.05)
        raise OSError("lost the port")

    daemon = jg.Job(crashing_daemon, forever=True, critical=False)
    work = jg.Job(value, 1, 0.2)
    assert await jg.Scheduler(daemon, work).run()
    assert isinstance(daemon.exception, OSError)
    assert not daemon.cancelled


# -- nesting -----------------------------------------------------------------------


async def test_critical_failure_in_nested_scheduler_reaches_the_top() -> None:
    boom = jg.Job(fail, "deep", label="deep-boom")
    innermost = jg.Scheduler(boom, label="innermost")
    middle = jg.Scheduler(innermost, label="middle")
    sibling = jg.Job(anyio.sleep, 10, label="sibling")
    top = jg.Scheduler(middle, sibling, label="top")
    with anyio.fail_after(5):
        assert await top.run() is False
    failure = top.failure
    assert isinstance(failure, jg.CriticalJobError)
    assert failure.job is boom
    assert isinstance(failure.exception, RuntimeError)
    assert "critical job 'deep-boom' in scheduler 'innermost' failed" in top.why()
    assert sibling.cancelled
    assert innermost.exception is failure and middle.exception is failure


async def test_non_critical_nested_failure_does_not_abort_the_parent() -> None:
    inner = jg.Scheduler(jg.Job(fail, label="inner-boom"), critical=False, label="inner")
    after = jg.Job(value, "after", requires=inner)
    top = jg.Scheduler(inner, after)
    assert await top.run() is True
    assert isinstance(inner.exception, jg.CriticalJobError)
    assert inner.failed_critical()
    assert after.result() == "after"


@pytest.mark.timing
async def test_timeout_of_nested_scheduler_applies_to_its_jobs_only(mock_clock: bool) -> None:
    start = anyio.current_time()
    slow = jg.Job(anyio.sleep, 10, label="slow")
    inner = jg.Scheduler(slow, timeout=0.5, critical=False, label="inner")
    other = jg.Job(value, "other", 1.0)
    top = jg.Scheduler(inner, other, timeout=5)
    assert await top.run() is True
    assert isinstance(inner.exception, jg.SchedulerTimeoutError)
    assert inner.failed_time_out()
    assert slow.cancelled
    assert other.result() == "other"
    if mock_clock:
        assert inner.ended_at == pytest.approx(start + 0.5)


@pytest.mark.timing
async def test_critical_nested_timeout_aborts_the_parent() -> None:
    inner = jg.Scheduler(jg.Job(anyio.sleep, 10), timeout=0.2, label="inner")
    top = jg.Scheduler(inner, jg.Job(anyio.sleep, 10), label="top")
    assert await top.run() is False
    failure = top.failure
    assert isinstance(failure, jg.CriticalJobError) and failure.job is inner
    assert isinstance(failure.exception, jg.SchedulerTimeoutError)


# -- cancellation and tasks --------------------------------------------------------------


@pytest.mark.timing
async def test_cancellation_from_outside_cancels_running_jobs() -> None:
    running = jg.Job(anyio.sleep, 10, label="running")
    waiting = jg.Job(value, 1, requires=running, label="waiting")
    scheduler = jg.Scheduler(running, waiting)
    with anyio.move_on_after(0.2) as scope:
        await scheduler.run()
    assert scope.cancelled_caught
    assert running.cancelled and running.state is jg.JobState.DONE
    assert waiting.state is jg.JobState.IDLE
    assert scheduler.cancelled
    assert scheduler.why() == "scheduler 'Scheduler' was cancelled from outside"


async def test_no_task_outlives_the_run() -> None:
    leftovers: list[str] = []

    async def daemon() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            leftovers.append("daemon closed")

    async def sleeper() -> None:
        try:
            await anyio.sleep(10)
        finally:
            leftovers.append("sleeper closed")

    scheduler = jg.Scheduler(
        jg.Job(daemon, forever=True),
        jg.Job(sleeper, label="sleeper"),
        jg.Job(fail, label="boom"),
    )
    assert await scheduler.run() is False
    # when run() returns, every job's task has finished its cleanup
    assert sorted(leftovers) == ["daemon closed", "sleeper closed"]


@pytest.mark.timing
async def test_job_ignoring_cancellation_is_reported_as_straggler() -> None:
    async def stubborn() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.5)

    job = jg.Job(stubborn, forever=True, label="stubborn")
    scheduler = jg.Scheduler(job, jg.Job(value, 1), shutdown_timeout=0.1)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert scheduler.stragglers == (job,)
    assert "jobs ignoring cancellation: 'stubborn'" in scheduler.why()
    assert any(e.kind is jg.EventKind.STRAGGLING and e.job is job for e in events)
    assert job.state is jg.JobState.DONE


# -- per-job timeout and retries ---------------------------------------------------------


@pytest.mark.timing
async def test_job_timeout_fails_the_job(mock_clock: bool) -> None:
    slow = jg.Job(anyio.sleep, 10, timeout=0.3, label="slow", critical=False)
    scheduler = jg.Scheduler(slow)
    assert await scheduler.run()
    assert isinstance(slow.exception, jg.JobTimeoutError)
    assert isinstance(slow.exception, TimeoutError)
    assert str(slow.exception) == "job 'slow' timed out after 0.3s"
    assert slow.ended_at is not None and slow.started_at is not None
    if mock_clock:
        assert slow.ended_at - slow.started_at == pytest.approx(0.3)


@pytest.mark.timing
async def test_retry_until_success_with_exponential_backoff(mock_clock: bool) -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(anyio.current_time())
        if len(calls) < 4:
            raise ConnectionError("try again")
        return "finally"

    job = jg.Job(flaky, retry=jg.Retry(attempts=5, backoff=0.1, factor=2))
    events: list[jg.JobEvent] = []
    scheduler = jg.Scheduler(job)
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert job.result() == "finally"
    assert job.attempts == 4
    retries = [e for e in events if e.kind is jg.EventKind.RETRYING]
    assert [e.delay for e in retries] == pytest.approx([0.1, 0.2, 0.4])
    assert [e.attempt for e in retries] == [1, 2, 3]
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # on every clock each attempt waited at least its backoff; on the mock one, exactly
    assert all(gap >= delay - 1e-4 for gap, delay in zip(gaps, [0.1, 0.2, 0.4], strict=True))
    if mock_clock:
        assert gaps == pytest.approx([0.1, 0.2, 0.4])


async def test_retry_gives_up_after_its_attempts() -> None:
    count = 0

    async def always_fails() -> None:
        nonlocal count
        count += 1
        raise ConnectionError(f"attempt {count}")

    job = jg.Job(always_fails, retry=3, critical=False)
    assert await jg.Scheduler(job).run()
    assert count == 3 and job.attempts == 3
    assert str(job.exception) == "attempt 3"


async def test_retry_only_the_listed_exceptions() -> None:
    count = 0

    async def wrong() -> None:
        nonlocal count
        count += 1
        raise KeyError("not retried")

    job = jg.Job(wrong, retry=jg.Retry(attempts=5, on=ConnectionError), critical=False)
    assert await jg.Scheduler(job).run()
    assert count == 1
    assert isinstance(job.exception, KeyError)


@pytest.mark.timing
async def test_retry_applies_to_attempts_that_time_out() -> None:
    durations = iter([10, 10, 0.01])

    async def sometimes_slow() -> str:
        await anyio.sleep(next(durations))
        return "fast enough"

    job = jg.Job(sometimes_slow, timeout=0.1, retry=jg.Retry(attempts=3))
    assert await jg.Scheduler(job).run()
    assert job.result() == "fast enough" and job.attempts == 3


async def test_retry_delays_never_decrease_with_jitter() -> None:
    policy = jg.Retry(attempts=10, backoff=1.0, factor=1.0, jitter=0.5)
    count = 0

    async def bad() -> None:
        nonlocal count
        count += 1
        raise OSError

    delays: list[float] = []
    job = jg.Job(bad, retry=policy, critical=False)
    scheduler = jg.Scheduler(job)
    scheduler.subscribe(lambda e: delays.append(e.delay) if e.kind == "retrying" else None)
    with anyio.fail_after(60):
        # real sleeps would take ~10 s: patch the policy to tiny delays instead
        job.retry = jg.Retry(attempts=10, backoff=0.001, factor=1.0, jitter=0.5)
        assert await scheduler.run()
    assert len(delays) == 9
    assert delays == sorted(delays)


async def test_retried_nested_scheduler_starts_afresh() -> None:
    count = 0

    async def flaky() -> int:
        nonlocal count
        count += 1
        if count == 1:
            raise OSError("first try fails")
        return count

    step = jg.Job(flaky, label="flaky")
    inner = jg.Scheduler(step, label="inner", retry=jg.Retry(attempts=2))
    top = jg.Scheduler(inner)
    assert await top.run()
    assert inner.attempts == 2
    assert step.result() == 2


# -- failure policy ------------------------------------------------------------------


async def test_skip_policy_skips_dependents_of_failed_jobs() -> None:
    bad = jg.Job(fail, critical=False, label="bad")
    skipped = jg.Job(value, 1, requires=bad, on_failed_requirement="skip", label="report")
    chained = jg.Job(value, 2, requires=skipped, on_failed_requirement="skip")
    runs_anyway = jg.Job(value, 3, requires=skipped)  # default policy: run
    independent = jg.Job(value, 4)
    scheduler = jg.Scheduler(bad, skipped, chained, runs_anyway, independent)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert skipped.state is jg.JobState.SKIPPED and chained.state is jg.JobState.SKIPPED
    assert skipped.record.outcome == "skipped"
    assert runs_anyway.result() == 3 and independent.result() == 4
    assert {e.job for e in events if e.kind is jg.EventKind.SKIPPED} == {skipped, chained}
    with pytest.raises(jg.RunStateError, match="'report' has no result: it is skipped"):
        skipped.result()


async def test_default_policy_runs_dependents_of_failed_jobs() -> None:
    bad = jg.Job(fail, critical=False)
    after = jg.Job(value, "ran", requires=bad)
    assert await jg.Scheduler(bad, after).run()
    assert after.result() == "ran"


async def test_skip_propagates_through_a_long_chain() -> None:
    bad = jg.Job(fail, critical=False)
    chain = [bad]
    for _ in range(5000):
        chain.append(jg.Job(value, 0, requires=chain[-1], on_failed_requirement="skip"))
    assert await jg.Scheduler(*chain).run()
    assert all(job.state is jg.JobState.SKIPPED for job in chain[1:])


# -- events ----------------------------------------------------------------------------


async def test_events_follow_the_lifecycle() -> None:
    a = jg.Job(value, 1, label="a")
    b = jg.Job(fail, label="b", requires=a, critical=False)
    inner_job = jg.Job(value, 2, label="inner-job")
    inner = jg.Scheduler(inner_job, label="inner", requires=b)
    scheduler = jg.Scheduler(a, b, inner, label="top")
    events: list[jg.JobEvent] = []
    unsubscribe = scheduler.subscribe(events.append)
    assert await scheduler.run()
    kinds = [(e.kind.value, e.job.label) for e in events]
    assert kinds[0] == ("run_started", "top") and kinds[-1] == ("run_finished", "top")
    for label, last in [("a", "finished"), ("b", "failed"), ("inner-job", "finished")]:
        mine = [kind for kind, lab in kinds if lab == label]
        assert mine == ["scheduled", "started", last]
    assert [e.time for e in events] == sorted(e.time for e in events)
    inner_events = [e for e in events if e.job is inner_job]
    assert all(e.scheduler is inner for e in inner_events)
    failed = next(e for e in events if e.kind is jg.EventKind.FAILED)
    assert isinstance(failed.exception, RuntimeError)
    unsubscribe()
    scheduler.reset()
    events.clear()
    assert await scheduler.run()
    assert events == []


async def test_failing_subscriber_does_not_break_the_run(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: jg.JobEvent) -> None:
        raise ValueError("subscriber bug")

    scheduler = jg.Scheduler(jg.Job(value, 1))
    scheduler.subscribe(broken)
    assert await scheduler.run()
    assert "subscriber" in caplog.text


# -- shutdown ------------------------------------------------------------------------


class Resource(jg.AbstractJob):
    """A custom job kind holding a resource that shutdown() releases."""

    def __init__(self, name: str, *, hang: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.name = name
        self.hang = hang
        self.released = False

    def default_label(self) -> str:
        return f"resource {self.name}"

    async def run(self) -> str:
        await anyio.lowlevel.checkpoint()
        return self.name

    async def shutdown(self) -> None:
        if self.hang:
            await anyio.sleep(10)
        self.released = True


async def test_custom_job_kind_runs_and_shuts_down() -> None:
    r1, r2 = Resource("one"), Resource("two")
    inner = jg.Scheduler(r2)
    scheduler = jg.Scheduler(r1, inner)
    assert await scheduler.run()
    assert (r1.result(), r2.result()) == ("one", "two")
    assert r1.label == "resource one"
    assert await scheduler.shutdown() is True
    assert r1.released and r2.released


@pytest.mark.timing
async def test_shutdown_is_bounded_by_shutdown_timeout() -> None:
    stuck = Resource("stuck", hang=True)
    fine = Resource("fine")
    scheduler = jg.Scheduler(stuck, fine, shutdown_timeout=0.2)
    assert await scheduler.run()
    start = anyio.current_time()
    assert await scheduler.shutdown() is False
    assert anyio.current_time() - start < 5
    assert fine.released and not stuck.released


async def test_custom_job_kind_with_task_status_signals_readiness() -> None:
    class Service(jg.AbstractJob):
        async def run(self, *, task_status: jg.TaskStatusLike = anyio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await anyio.sleep_forever()

    service = Service(forever=True, label="svc")
    user = jg.Job(value, "used", requires=service)
    with anyio.fail_after(5):
        assert await jg.Scheduler(service, user).run()
    assert user.result() == "used"


async def test_abstract_job_without_run_fails_clearly() -> None:
    class Lazy(jg.AbstractJob):
        pass

    job = Lazy(critical=False)
    assert await jg.Scheduler(job).run()
    assert isinstance(job.exception, NotImplementedError)
    assert "Lazy must implement" in str(job.exception)


# -- reruns and large graphs --------------------------------------------------------------


async def test_reset_allows_a_second_run() -> None:
    count = 0

    async def counter() -> int:
        nonlocal count
        count += 1
        return count

    job = jg.Job(counter)
    inner = jg.Scheduler(jg.Job(counter))
    scheduler = jg.Scheduler(job, inner)
    assert await scheduler.run()
    first = job.record
    scheduler.reset()
    assert job.state is jg.JobState.IDLE and inner.state is jg.JobState.IDLE
    assert await scheduler.run()
    assert count == 4
    assert first.result in (1, 2) and job.record is not first


@pytest.mark.parametrize("shape", ["flat", "chain", "window"])
async def test_hundred_thousand_jobs(shape: str) -> None:
    async def noop() -> None:
        return None

    n = 100_000
    jobs: list[jg.Job] = []
    for _ in range(n):
        requires = jobs[-1] if shape == "chain" and jobs else None
        jobs.append(jg.Job(noop, requires=requires))
    window = 10 if shape == "window" else None
    scheduler = jg.Scheduler(*jobs, jobs_window=window)
    assert await scheduler.run()
    assert all(job.state is jg.JobState.DONE for job in jobs)
    if shape == "chain":
        assert all(
            a.ended_at is not None and b.started_at is not None and a.ended_at <= b.started_at
            for a, b in itertools.pairwise(jobs)
        )
