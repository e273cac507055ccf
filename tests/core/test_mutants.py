"""Engine guarantees that single-line bugs used to break without any test noticing.

Each test here was written against a bug planted in the engine (an operator flipped, a
line dropped) that the rest of the suite let through; the docstring of each test names
the bug it catches. They check what a user sees: how many jobs run at once, which jobs
run or are skipped, the events, the retry delays and the records.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import jobgraph as jg

pytestmark = pytest.mark.anyio


async def fail(message: str = "failed", delay: float = 0.0) -> None:
    await anyio.sleep(delay)
    raise RuntimeError(message)


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


class Gauge:
    """Counts the job bodies inside it at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        self.now -= 1

    async def instant(self) -> None:
        self.enter()
        self.leave()

    async def slow(self, delay: float) -> None:
        self.enter()
        try:
            await anyio.sleep(delay)
        finally:
            self.leave()


def skipped(*jobs: jg.AbstractJob) -> list[bool]:
    return [job.state is jg.JobState.SKIPPED for job in jobs]


# -- the window ----------------------------------------------------------------------


@pytest.mark.timing
async def test_window_holds_after_a_long_streak_of_instant_jobs() -> None:
    """Bug: the worker's window check ``running >= window`` turned into ``>``.

    A worker runs instant jobs back to back and yields every few hundred of them; a
    forever job started meanwhile kicks a spare worker, which must not take a job while
    the first worker holds the only slot.
    """
    gauge = Gauge()

    async def forever() -> None:
        await anyio.sleep_forever()

    instants = [jg.Job(gauge.instant, label=f"instant {i}") for i in range(300)]
    daemon = jg.Job(forever, forever=True, requires=instants[0], label="daemon")
    client = jg.Job(gauge.slow, 0.01, requires=daemon, label="client")
    slows = [jg.Job(gauge.slow, 0.01, label=f"slow {i}") for i in range(5)]
    scheduler = jg.Scheduler(*instants, daemon, client, *slows, jobs_window=1, timeout=30)
    assert await scheduler.run()
    assert gauge.peak == 1


@pytest.mark.timing
@pytest.mark.parametrize("window", [1, 2, 3])
async def test_window_is_reached_and_never_exceeded(window: int) -> None:
    """Bugs: the window checks off by one either way (more jobs at once than the
    window, or fewer, so the window is never filled)."""
    gauge = Gauge()
    jobs = [jg.Job(gauge.slow, 0.01 * (1 + i % 3), label=f"j{i}") for i in range(12)]
    assert await jg.Scheduler(*jobs, jobs_window=window).run()
    assert gauge.peak == window


@pytest.mark.timing
async def test_window_is_reached_by_jobs_that_become_ready_later() -> None:
    """Bug: the kick that starts a worker for newly released jobs checks the window off
    by one, so jobs released together run one at a time."""
    gauge = Gauge()
    root = jg.Job(value, 0, 0.01, label="root")
    fanned = [jg.Job(gauge.slow, 0.02, requires=root, label=f"fan {i}") for i in range(6)]
    assert await jg.Scheduler(root, *fanned, jobs_window=3).run()
    assert gauge.peak == 3


@pytest.mark.timing
async def test_window_holds_with_forever_jobs_releasing_dependents() -> None:
    """Bug: a forever job's ``started()`` releasing dependents bypasses the window."""
    gauge = Gauge()

    async def server(*, task_status: jg.TaskStatusLike) -> None:
        await anyio.sleep(0.01)
        task_status.started()
        await anyio.sleep_forever()

    servers = [jg.Job(server, forever=True, label=f"server {i}") for i in range(3)]
    clients = [
        jg.Job(gauge.slow, 0.02, requires=servers[i % 3], label=f"client {i}") for i in range(9)
    ]
    others = [jg.Job(gauge.slow, 0.015, label=f"other {i}") for i in range(4)]
    scheduler = jg.Scheduler(*servers, *clients, *others, jobs_window=2, timeout=30)
    assert await scheduler.run()
    assert gauge.peak == 2


# -- skipping ----------------------------------------------------------------------


async def test_skip_passes_on_when_the_last_requirement_to_end_succeeded() -> None:
    """Bug: skip not passed on when the *last* requirement to finish succeeded.

    ``report`` requires a job that fails and a slower one that succeeds: it is skipped
    when the slow one ends, and so must be its own skip-policy dependents, at any depth.
    """
    bad = jg.Job(fail, "early", 0.0, critical=False, label="bad")
    slow = jg.Job(value, "ok", 0.02, label="slow")
    report = jg.Job(value, 1, requires=(bad, slow), on_failed_requirement="skip", label="report")
    mail = jg.Job(value, 2, requires=report, on_failed_requirement="skip", label="mail")
    archive = jg.Job(value, 3, requires=mail, on_failed_requirement="skip", label="archive")
    anyway = jg.Job(value, 4, requires=mail, label="runs anyway")
    scheduler = jg.Scheduler(bad, slow, report, mail, archive, anyway)
    assert await scheduler.run()
    assert skipped(report, mail, archive) == [True, True, True]
    assert anyway.result() == 4


async def test_skip_passes_on_to_every_dependent_of_a_skipped_job() -> None:
    """Bugs: the propagation of a skip stops at the first dependent, or at the first
    level, or marks only the last dependent."""
    bad = jg.Job(fail, critical=False, label="bad")
    fine = jg.Job(value, 0, 0.01, label="fine")
    hub = jg.Job(value, 1, requires=(fine, bad), on_failed_requirement="skip", label="hub")
    leaves = [
        jg.Job(value, i, requires=hub, on_failed_requirement="skip", label=f"leaf {i}")
        for i in range(4)
    ]
    deeper = [
        jg.Job(value, i, requires=leaf, on_failed_requirement="skip", label=f"deeper {i}")
        for i, leaf in enumerate(leaves)
    ]
    scheduler = jg.Scheduler(bad, fine, hub, *leaves, *deeper)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert all(skipped(hub, *leaves, *deeper))
    skips = [e.job for e in events if e.kind is jg.EventKind.SKIPPED]
    assert sorted(job.label for job in skips) == sorted(
        job.label for job in (hub, *leaves, *deeper)
    )
    assert all(job.attempts == 0 for job in (hub, *leaves, *deeper))


async def test_skip_waits_for_every_requirement() -> None:
    """Bug: a skip-policy job is skipped (and its dependents run or skipped) before its
    other requirements end: a skipped job ends after all its requirements."""
    bad = jg.Job(fail, critical=False, label="bad")
    slow = jg.Job(value, 0, 0.05, label="slow")
    report = jg.Job(value, 1, requires=(bad, slow), on_failed_requirement="skip", label="report")
    after = jg.Job(value, 2, requires=report, label="after")
    scheduler = jg.Scheduler(bad, slow, report, after)
    assert await scheduler.run()
    assert report.state is jg.JobState.SKIPPED
    assert slow.ended_at is not None and report.ended_at is not None
    assert report.ended_at >= slow.ended_at
    assert after.started_at is not None and after.started_at >= slow.ended_at
    assert after.result() == 2


async def test_skip_passes_through_nested_schedulers() -> None:
    """Bugs: a skip inside a nested scheduler, or of a nested scheduler, does not reach
    the skip-policy jobs after it."""
    bad = jg.Job(fail, critical=False, label="bad")
    slow = jg.Job(value, 0, 0.01, label="slow")
    inner_job = jg.Job(value, 1, label="inner job")
    inner = jg.Scheduler(
        inner_job,
        label="inner",
        requires=(bad, slow),
        on_failed_requirement="skip",
    )
    after_inner = jg.Job(value, 2, requires=inner, on_failed_requirement="skip", label="after")
    # a skip inside a nested scheduler, whose last requirement to end succeeded
    ibad = jg.Job(fail, critical=False, label="inner bad")
    islow = jg.Job(value, 0, 0.01, label="inner slow")
    imid = jg.Job(value, 3, requires=(ibad, islow), on_failed_requirement="skip", label="imid")
    itail = jg.Job(value, 4, requires=imid, on_failed_requirement="skip", label="itail")
    other = jg.Scheduler(ibad, islow, imid, itail, label="other", critical=False)
    scheduler = jg.Scheduler(bad, slow, inner, after_inner, other)
    assert await scheduler.run()
    assert skipped(inner, after_inner, imid, itail) == [True, True, True, True]
    assert inner_job.state is jg.JobState.IDLE


async def test_run_policy_runs_after_a_failed_requirement_and_skips_nothing() -> None:
    """Bug: the failed-requirement flag set for every dependent whatever happened, or
    the policy test inverted: jobs after a success are never skipped."""
    good = jg.Job(value, 0, label="good")
    after_good = jg.Job(value, 1, requires=good, on_failed_requirement="skip", label="ag")
    bad = jg.Job(fail, critical=False, label="bad")
    after_bad = jg.Job(value, 2, requires=bad, label="ab")
    then = jg.Job(value, 3, requires=after_bad, on_failed_requirement="skip", label="then")
    scheduler = jg.Scheduler(good, after_good, bad, after_bad, then)
    assert await scheduler.run()
    assert [after_good.result(), after_bad.result(), then.result()] == [1, 2, 3]


@pytest.mark.timing
async def test_job_starts_once_after_the_last_of_its_requirements() -> None:
    """Bug: the readiness count off by one: a job starts while one requirement is still
    running, and again when it ends."""
    runs: list[float] = []

    async def join() -> int:
        runs.append(anyio.current_time())
        return len(runs)

    parts = [jg.Job(value, i, 0.01 * (i + 1), label=f"part {i}") for i in range(3)]
    joined = jg.Job(join, requires=parts, label="join")
    assert await jg.Scheduler(joined, *parts).run()
    assert len(runs) == 1 and joined.result() == 1
    assert all(part.ended_at is not None and part.ended_at <= runs[0] for part in parts)


# -- readiness of forever jobs -------------------------------------------------------


@pytest.mark.timing
async def test_ready_is_emitted_once_even_if_started_is_called_twice() -> None:
    """Bug: a second ``task_status.started()`` emits READY again."""

    async def server(*, task_status: jg.TaskStatusLike) -> None:
        await anyio.sleep(0.01)
        task_status.started()
        await anyio.sleep(0.01)
        task_status.started()  # harmless: the dependents are already released
        await anyio.sleep_forever()

    srv = jg.Job(server, forever=True, label="server")
    client = jg.Job(value, "answer", 0.05, requires=srv, label="client")
    scheduler = jg.Scheduler(srv, client, timeout=5)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    ready = [e for e in events if e.kind is jg.EventKind.READY]
    assert [e.job for e in ready] == [srv]
    assert [e.job for e in events if e.kind is jg.EventKind.SCHEDULED].count(client) == 1
    assert client.result() == "answer"


@pytest.mark.timing
async def test_ready_comes_after_started_and_before_dependents_are_scheduled() -> None:
    """Bugs: READY not emitted at all, or the dependents released without waiting for
    ``started()``."""

    async def server(*, task_status: jg.TaskStatusLike) -> None:
        await anyio.sleep(0.05)
        task_status.started()
        await anyio.sleep_forever()

    srv = jg.Job(server, forever=True, label="server")
    client = jg.Job(value, 1, requires=srv, label="client")
    scheduler = jg.Scheduler(srv, client, timeout=5)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    kinds = [(e.kind, e.job) for e in events if e.job in (srv, client)]
    assert kinds.index((jg.EventKind.STARTED, srv)) < kinds.index((jg.EventKind.READY, srv))
    assert kinds.index((jg.EventKind.READY, srv)) < kinds.index((jg.EventKind.SCHEDULED, client))
    assert srv.started_at is not None and client.started_at is not None
    assert client.started_at - srv.started_at >= 0.05 - 1e-4


@pytest.mark.timing
async def test_started_after_the_run_is_over_releases_nothing() -> None:
    """Bug: ``started()`` called while the run winds down still emits READY."""
    done = anyio.Event()

    async def late(*, task_status: jg.TaskStatusLike) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            done.set()
            task_status.started()  # the run is over: nothing to release

    srv = jg.Job(late, forever=True, label="late")
    work = jg.Job(value, 2, 0.01, label="work")
    scheduler = jg.Scheduler(srv, work, timeout=5)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert done.is_set()
    assert not [e for e in events if e.kind is jg.EventKind.READY]


@pytest.mark.timing
@pytest.mark.parametrize("ending", ["fails", "returns"])
async def test_forever_job_ending_before_started_releases_its_dependents(ending: str) -> None:
    """Bugs: a forever job that fails, or returns, before calling ``started()`` releases
    its dependents without making sure a worker takes them: the run hangs."""

    async def server(*, task_status: jg.TaskStatusLike) -> None:
        await anyio.sleep(0.01)
        if ending == "fails":
            raise OSError("port in use")

    srv = jg.Job(server, forever=True, critical=False, label="server")
    client = jg.Job(value, "ran", requires=srv, label="client")
    skipper = jg.Job(value, 0, requires=srv, on_failed_requirement="skip", label="skipper")
    scheduler = jg.Scheduler(srv, client, skipper, timeout=5)
    assert await scheduler.run(), scheduler.why()
    assert client.result() == "ran"
    if ending == "fails":
        assert isinstance(srv.exception, OSError)
        assert skipper.state is jg.JobState.SKIPPED
    else:
        assert skipper.result() == 0


@pytest.mark.timing
async def test_forever_job_ready_after_the_last_finite_job_never_starts() -> None:
    """Bug: a forever job whose requirements end with the last finite job is still
    scheduled (a SCHEDULED event, a SCHEDULED state) though it will never start."""

    async def daemon() -> None:
        await anyio.sleep_forever()

    last = jg.Job(value, 1, 0.01, label="last")
    late = jg.Job(daemon, forever=True, requires=last, label="late daemon")
    scheduler = jg.Scheduler(last, late, timeout=5)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert late.state is jg.JobState.IDLE
    assert [e.kind for e in events if e.job is late] == []


async def test_dependents_are_scheduled_when_their_last_requirement_ended() -> None:
    """Bug: ``scheduled_at`` stamped when the dependent was queued (after the events of
    the requirement's end were delivered) rather than when the requirement ended."""

    def slow_subscriber(event: jg.JobEvent) -> None:
        if event.kind is jg.EventKind.FINISHED:
            deadline = time.monotonic() + 0.005  # a subscriber doing some work
            while time.monotonic() < deadline:
                pass

    first = jg.Job(value, 1, 0.01, label="first")
    second = jg.Job(value, 2, 0.02, label="second")
    after = jg.Job(value, 3, requires=(first, second), label="after")
    scheduler = jg.Scheduler(first, second, after)
    scheduler.subscribe(slow_subscriber)
    assert await scheduler.run()
    # the last to end (on a loaded machine trio may end both in one batch, in any order)
    ends = [job.record.ended_at for job in (first, second)]
    assert None not in ends
    assert after.record.scheduled_at == max(end for end in ends if end is not None)
    assert first.record.scheduled_at == second.record.scheduled_at


# -- retries and timeouts ------------------------------------------------------------


@pytest.mark.timing
async def test_retry_makes_exactly_its_attempts_and_waits_each_backoff(mock_clock: bool) -> None:
    """Bugs: one attempt too many or too few; the backoff computed for the wrong attempt
    number; the sleep between attempts skipped (the delay is announced but not waited)."""
    calls: list[float] = []

    async def always() -> None:
        calls.append(anyio.current_time())
        raise ConnectionError(f"attempt {len(calls)}")

    job = jg.Job(always, retry=jg.Retry(attempts=4, backoff=0.02, factor=2), critical=False)
    scheduler = jg.Scheduler(job)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert len(calls) == 4 and job.attempts == 4
    assert str(job.exception) == "attempt 4"
    retries = [e for e in events if e.kind is jg.EventKind.RETRYING]
    assert [e.attempt for e in retries] == [1, 2, 3]
    assert [e.delay for e in retries] == pytest.approx([0.02, 0.04, 0.08])
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # the lower bound holds on every clock: the job waited at least each backoff
    assert all(gap >= delay - 1e-4 for gap, delay in zip(gaps, [0.02, 0.04, 0.08], strict=True))
    if mock_clock:
        assert gaps == pytest.approx([0.02, 0.04, 0.08])


@pytest.mark.timing
async def test_retry_delays_are_capped_and_never_decrease(mock_clock: bool) -> None:
    """Bugs: the cap (``max_delay``) ignored, or the delays allowed to shrink."""
    calls: list[float] = []

    async def always() -> None:
        calls.append(anyio.current_time())
        raise OSError("no")

    policy = jg.Retry(attempts=5, backoff=0.01, factor=3, max_delay=0.05)
    job = jg.Job(always, retry=policy, critical=False)
    scheduler = jg.Scheduler(job)
    delays: list[float] = []
    scheduler.subscribe(
        lambda e: delays.append(e.delay) if e.kind is jg.EventKind.RETRYING else None
    )
    assert await scheduler.run()
    assert delays == pytest.approx([0.01, 0.03, 0.05, 0.05])
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= delay - 1e-4 for gap, delay in zip(gaps, delays, strict=True))
    if mock_clock:
        assert gaps == pytest.approx(delays)


async def test_retry_of_one_attempt_never_retries() -> None:
    """Bug: ``attempts >= retry.attempts`` turned into ``>``: one attempt too many."""
    count = 0

    async def once() -> None:
        nonlocal count
        count += 1
        raise OSError("once")

    job = jg.Job(once, retry=jg.Retry(attempts=1), critical=False)
    events: list[jg.JobEvent] = []
    scheduler = jg.Scheduler(job)
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    assert count == 1 and job.attempts == 1
    assert not [e for e in events if e.kind is jg.EventKind.RETRYING]


@pytest.mark.timing
async def test_each_attempt_gets_the_whole_timeout(mock_clock: bool) -> None:
    """Bugs: the per-attempt deadline shared by all attempts, or not applied to retried
    attempts; the timeout reported as a success."""
    starts: list[float] = []

    async def slow() -> None:
        starts.append(anyio.current_time())
        await anyio.sleep(10)

    job = jg.Job(slow, timeout=0.05, retry=jg.Retry(attempts=3), critical=False, label="slow")
    scheduler = jg.Scheduler(job, timeout=20)
    assert await scheduler.run()
    assert len(starts) == 3 and job.attempts == 3
    assert isinstance(job.exception, jg.JobTimeoutError)
    assert job.ended_at is not None and job.started_at is not None
    assert job.ended_at - job.started_at >= 3 * 0.05 - 1e-4
    if mock_clock:
        assert job.ended_at - job.started_at == pytest.approx(0.15)


@pytest.mark.timing
async def test_a_job_ending_within_its_timeout_succeeds() -> None:
    """Bug: the timeout scope's ``cancelled_caught`` test inverted or dropped."""
    job = jg.Job(value, "in time", 0.01, timeout=1.0, retry=jg.Retry(attempts=2), label="quick")
    scheduler = jg.Scheduler(job)
    assert await scheduler.run()
    assert job.result() == "in time" and job.attempts == 1


# -- states and events ---------------------------------------------------------------


@pytest.mark.timing
async def test_records_of_a_run_are_complete_and_ordered() -> None:
    """Bugs: a record not stamped (scheduled, started, ended), a wrong final state, or
    an event missing (FINISHED, FAILED, SKIPPED, SCHEDULED)."""
    ok = jg.Job(value, 1, 0.01, label="ok")
    bad = jg.Job(fail, "boom", 0.01, critical=False, label="bad")
    skip = jg.Job(value, 2, requires=bad, on_failed_requirement="skip", label="skip")
    scheduler = jg.Scheduler(ok, bad, skip)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    for job in (ok, bad):
        record = job.record
        assert record.state is jg.JobState.DONE
        assert record.scheduled_at is not None and record.started_at is not None
        assert record.ended_at is not None
        assert record.scheduled_at <= record.started_at < record.ended_at
    assert ok.record.outcome == "ok" and bad.record.outcome == "failed"
    assert skip.record.outcome == "skipped" and skip.record.ended_at is not None
    by_job = {job: [e.kind for e in events if e.job is job] for job in (ok, bad, skip, scheduler)}
    assert by_job[ok] == [jg.EventKind.SCHEDULED, jg.EventKind.STARTED, jg.EventKind.FINISHED]
    assert by_job[bad] == [jg.EventKind.SCHEDULED, jg.EventKind.STARTED, jg.EventKind.FAILED]
    assert by_job[skip] == [jg.EventKind.SKIPPED]
    assert by_job[scheduler] == [jg.EventKind.RUN_STARTED, jg.EventKind.RUN_FINISHED]


async def test_non_critical_failure_does_not_abort_and_critical_one_does() -> None:
    """Bugs: the critical test inverted or dropped."""
    bad = jg.Job(fail, critical=False, label="bad")
    after = jg.Job(value, 1, 0.02, label="after")
    assert await jg.Scheduler(bad, after).run()
    assert after.result() == 1

    # it fails once the victim runs, whichever task the backend starts first
    worse = jg.Job(fail, "worse", 0.05, critical=True, label="worse")
    victim = jg.Job(value, 1, 5, label="victim")
    never = jg.Job(value, 2, requires=victim, label="never")
    scheduler = jg.Scheduler(worse, victim, never)
    with anyio.fail_after(5):
        assert not await scheduler.run()
    assert scheduler.failed_critical()
    assert victim.cancelled and never.state is jg.JobState.IDLE


@pytest.mark.timing
async def test_forever_jobs_are_cancelled_once_every_finite_job_is_done() -> None:
    """Bugs: the run waits for the forever jobs, or ends before the finite ones."""

    async def daemon() -> None:
        await anyio.sleep_forever()

    d = jg.Job(daemon, forever=True, label="daemon")
    work = jg.Job(value, 1, 0.05, label="work")
    scheduler = jg.Scheduler(d, work, timeout=5)
    assert await scheduler.run()
    assert work.result() == 1 and d.cancelled
    assert scheduler.record.ended_at is not None and work.ended_at is not None
    assert scheduler.record.ended_at - work.ended_at < 1.0


async def test_checkpoint_after_a_long_streak_lets_other_tasks_run() -> None:
    """Bug: a worker never yields during a long streak of instant jobs, so nothing else
    (a forever job, the rest of the program) runs until the streak ends."""
    seen: list[int] = []
    count = 0

    async def instant() -> None:
        nonlocal count
        count += 1

    async def watcher() -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(count)

    scheduler = jg.Scheduler(*(jg.Job(instant) for _ in range(3000)))
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher)
        assert await scheduler.run()
    assert count == 3000
    assert seen and seen[0] < 3000


# -- the end of a run: stragglers and the critical abort ------------------------------


@pytest.mark.timing
async def test_stragglers_name_only_the_jobs_still_running() -> None:
    """Bug: ``settle()`` counted as stragglers every job not done (idle, scheduled and
    skipped ones too), blaming jobs that never ran for ignoring cancellation."""

    async def stubborn() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.5)

    crash = jg.Job(fail, "crash", 0.01, label="crash")
    slow = jg.Job(stubborn, label="stubborn")
    idle = jg.Job(value, 1, requires=slow, label="idle")
    bad = jg.Job(fail, "bad", critical=False, label="bad")
    skip = jg.Job(value, 2, requires=bad, on_failed_requirement="skip", label="skip")
    queued = jg.Job(value, 3, label="queued")  # the window holds it back: never started
    scheduler = jg.Scheduler(
        bad, skip, crash, slow, idle, queued, jobs_window=2, shutdown_timeout=0.05
    )
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    with anyio.fail_after(10):
        assert not await scheduler.run()
    assert idle.state is jg.JobState.IDLE and skip.state is jg.JobState.SKIPPED
    assert queued.state is jg.JobState.SCHEDULED  # queued behind the window, never ran
    assert scheduler.stragglers == (slow,)
    straggling = [e.job for e in events if e.kind is jg.EventKind.STRAGGLING]
    assert straggling == [slow]
    assert "'idle'" not in scheduler.why() and "'queued'" not in scheduler.why()


async def test_a_daemon_ready_after_a_critical_failure_releases_nothing() -> None:
    """Bug: a critical abort no longer stopped the run (it only cancelled it): a forever
    job saying ``started()`` in the gap still emitted READY and queued its dependents,
    which then showed as scheduled although the run was over."""
    crashed = anyio.Event()

    async def crash() -> None:
        await anyio.sleep(0.01)
        crashed.set()
        raise RuntimeError("crash")

    async def server(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.CancelScope(shield=True):  # a start-up that cannot be interrupted
            await crashed.wait()
        task_status.started()
        await anyio.sleep_forever()

    boom = jg.Job(crash, label="crash")
    daemon = jg.Job(server, forever=True, label="server")
    client = jg.Job(value, 1, requires=daemon, label="client")
    scheduler = jg.Scheduler(boom, daemon, client)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    with anyio.fail_after(5):
        assert not await scheduler.run()
    assert scheduler.failed_critical()
    kinds = [(e.kind, e.job) for e in events]
    assert (jg.EventKind.READY, daemon) not in kinds
    assert (jg.EventKind.SCHEDULED, client) not in kinds
    assert client.state is jg.JobState.IDLE


# -- retry jitter ----------------------------------------------------------------------


class _FixedRandom:
    """A ``random.Random`` stand-in drawing the given values in turn."""

    def __init__(self, *draws: float) -> None:
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


def test_jitter_adds_a_fraction_of_the_backoff_never_seconds() -> None:
    """Bug: the jitter added as absolute seconds (``base += jitter * random()``) instead
    of a fraction of the wait: a 10 ms backoff with 50 % jitter waited up to half a
    second."""
    policy = jg.Retry(attempts=5, backoff=0.01, factor=2, jitter=0.5)
    rng: Any = _FixedRandom(0.0, 1.0, 0.5, 1.0)
    assert policy.delay(1, rng) == pytest.approx(0.01)
    assert policy.delay(1, rng) == pytest.approx(0.015)  # the most: backoff * (1 + jitter)
    assert policy.delay(2, rng) == pytest.approx(0.025)
    capped = jg.Retry(attempts=5, backoff=0.01, factor=10, max_delay=0.05, jitter=0.2)
    assert capped.delay(3, rng) == pytest.approx(0.06)  # the cap, then its jitter


@pytest.mark.parametrize("anyio_backend", ["trio-mockclock"], indirect=True)
async def test_jittered_waits_stay_within_their_bounds_on_a_mock_clock() -> None:
    """The same bug, seen from a run: with a fixed seed and trio's MockClock, each wait
    between attempts lies between the backoff and the backoff plus its jitter, and is
    exactly the delay the RETRYING event announced."""
    calls: list[float] = []

    async def always() -> None:
        calls.append(anyio.current_time())
        raise OSError("no")

    policy = jg.Retry(attempts=8, backoff=0.01, factor=1.5, max_delay=0.04, jitter=0.5)
    job = jg.Job(always, retry=policy, critical=False)
    scheduler = jg.Scheduler(job)
    delays: list[float] = []
    scheduler.subscribe(
        lambda e: delays.append(e.delay) if e.kind is jg.EventKind.RETRYING else None
    )
    state = random.getstate()
    random.seed(2026)
    try:
        assert await scheduler.run()
    finally:
        random.setstate(state)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(gaps) == 7 and gaps == pytest.approx(delays)
    bases = [min(0.01 * 1.5**n, 0.04) for n in range(7)]
    for index, gap in enumerate(gaps):
        # at least this attempt's backoff; at most the largest jittered one so far
        # (a wait never shrinks: it may repeat an earlier, longer one)
        assert bases[index] - 1e-9 <= gap <= max(bases[: index + 1]) * 1.5 + 1e-9
    assert max(gaps) <= 0.04 * 1.5 + 1e-9
    assert sum(gaps) > sum(bases)  # the jitter is there: the seed draws more than zeros
