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


# -- item 6: messages name the culprit --------------------------------------------------


async def work(x: int, *, fail_times: int = 0) -> int:
    await anyio.lowlevel.checkpoint()
    return x + fail_times


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"jobs_window": 0, "label": "lab"},
            jg.InvalidOptionError,
            "jobs_window of scheduler 'lab' must be >= 1 (or None for no limit), not 0",
        ),
        (
            {"jobs_window": "3", "label": "lab"},
            jg.JobDefinitionError,
            "jobs_window of scheduler 'lab' must be an int or None, not '3'",
        ),
        (
            {"shutdown_timeout": -1},
            jg.InvalidOptionError,
            "shutdown_timeout of scheduler 'Scheduler' must be >= 0, not -1",
        ),
        (
            {"shutdown_timeout": -1, "label": "lab"},
            jg.InvalidOptionError,
            "shutdown_timeout of scheduler 'lab' must be >= 0, not -1",
        ),
        (
            {"timeout": -1},
            jg.InvalidOptionError,
            "timeout of scheduler 'Scheduler' must be >= 0, not -1",
        ),
    ],
)
def test_scheduler_option_errors_name_the_scheduler(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        jg.Scheduler(**options)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_job_option_errors_use_the_label_the_job_has_everywhere() -> None:
    with pytest.raises(jg.InvalidOptionError) as info:
        jg.Job(work, 1, timeout=-1)
    assert str(info.value) == "timeout of job 'work' must be >= 0, not -1"
    assert jg.Job(work, 1).label == "work"
    with pytest.raises(jg.InvalidOptionError, match="timeout of job 'w1' must be"):
        jg.Job(work, 1, timeout=-1, label="w1")


def test_self_requirement_is_a_cycle() -> None:
    job = jg.Job(noop, label="narcissus")
    with pytest.raises(jg.CycleError) as info:
        job.requires(job)
    assert info.value.cycle == (job,)
    assert "'narcissus'" in str(info.value) and "itself" in str(info.value)
    assert job.requirements == ()
    other = jg.Job(noop, label="other")
    with pytest.raises(jg.CycleError, match="'other' cannot require itself"):
        other.requires(job, other)
    assert other.requirements == ()  # a refused call changes nothing


def test_unknown_keyword_to_job_points_to_kwargs() -> None:
    with pytest.raises(jg.JobDefinitionError) as info:
        jg.Job(work, 1, fail_times=1)  # type: ignore[arg-type]
    message = str(info.value)
    assert "'fail_times'" in message and "'work'" in message
    assert "kwargs={'fail_times': 1}" in message
    assert isinstance(info.value, TypeError)  # still what Python raises for a bad keyword
    job = jg.Job(work, 1, kwargs={"fail_times": 1})
    assert jg.run(jg.Scheduler(job))
    assert job.result() == 2


# -- item 7: a requirement on a job inside a nested scheduler ----------------------------


def release_graph() -> tuple[jg.Scheduler, jg.Job, jg.Scheduler]:
    fetches = [jg.Job(noop, label=f"fetch source #{i}") for i in range(2)]
    fetchers = jg.Scheduler(*fetches, label="fetchers")
    build = jg.Job(noop, label="build", requires=fetches[0])
    release = jg.Scheduler(fetchers, build, label="release")
    return release, build, fetchers


@pytest.mark.anyio
async def test_requirement_inside_a_nested_scheduler_says_to_require_the_nested_one() -> None:
    release, build, fetchers = release_graph()
    with pytest.raises(jg.UnknownRequirementError) as info:
        await release.run()
    assert str(info.value) == (
        "job 'build' requires 'fetch source #0', which is inside 'fetchers', a scheduler "
        "nested in 'release': require 'fetchers' instead (a job can require only jobs of "
        "its own scheduler), or call sanitize() to drop such requirements"
    )
    build.requires(fetchers)  # the advice works
    assert release.sanitize() is False  # drops the refused edge, keeps the good one
    assert build.requirements == (fetchers,)
    assert await release.run()


@pytest.mark.anyio
async def test_requirement_on_an_enclosing_job_says_which_scheduler_to_give_it() -> None:
    a = jg.Job(noop, label="a")
    inner_job = jg.Job(noop, label="inner-job", requires=a)
    inner = jg.Scheduler(inner_job, label="inner")
    outer = jg.Scheduler(a, inner, label="outer")
    with pytest.raises(jg.UnknownRequirementError) as info:
        await outer.run()
    assert str(info.value) == (
        "job 'inner-job' requires 'a', which is in scheduler 'outer', not in 'inner': "
        "make 'inner' require it instead, or call sanitize() to drop such requirements"
    )


def test_listing_and_drawing_flag_the_requirements_run_refuses() -> None:
    release, build, fetchers = release_graph()
    outsider = jg.Job(noop, label="outsider")
    other = jg.Job(noop, label="other", requires=outsider, scheduler=release)
    listing = release.list_text(ascii=True)
    fetch0 = fetchers.jobs[0].repr_id()
    line = next(line for line in listing.splitlines() if "`build`" in line)
    assert line.endswith(
        f"requires={{{fetch0}}} !! refused by run(): {fetch0} is inside nested scheduler "
        f"{fetchers.repr_id()}"
    )
    line = next(line for line in listing.splitlines() if "`other`" in line)
    assert line.endswith("!! refused by run(): 'outsider' is not in this scheduler")
    safe = release.list_safe_text(ascii=True)  # numbers in insertion order, same flags
    assert safe.count("!! refused by run()") == 2 and "1.1 is inside nested scheduler 1" in safe
    dot = release.dot_format()
    # the refused edge is drawn, red and dashed, from the inner job; the outsider is a
    # placeholder node
    refused = [line for line in dot.splitlines() if "refused" in line and "->" in line]
    assert len(refused) == 2, dot
    assert refused[0].startswith(f'"{fetch0}" -> "{build.repr_id()}"')
    assert 'style="dashed"' in refused[0] and 'color="red"' in refused[0]
    assert f"require {fetchers.repr_id()}" in refused[0]
    assert "'outsider'" in dot and f'-> "{other.repr_id()}"' in refused[1]
    release.sanitize()  # all three agree again: nothing refused, nothing flagged
    assert "refused" not in release.list_text(ascii=True)
    assert "refused" not in release.dot_format()
    assert jg.run(release)


# -- item 9: what the type hints accept, the runtime accepts -----------------------------


@pytest.mark.anyio
async def test_a_lambda_returning_a_coroutine_is_a_job() -> None:
    # Job's annotation, Callable[..., Awaitable[Any]], accepts it: so does the runtime
    plain = jg.Job(lambda: work(1, fail_times=2), label="lambda")
    with_args = jg.Job(lambda x, y: work(x + y), 3, kwargs={"y": 4})
    scheduler = jg.Scheduler(plain, with_args)
    assert await scheduler.run()
    assert plain.result() == 3 and with_args.result() == 7
    scheduler.reset()  # the job keeps the callable: it runs again
    assert await scheduler.run()
    assert plain.result() == 3


@pytest.mark.anyio
async def test_a_forever_lambda_gets_its_task_status() -> None:
    async def serve(port: int, task_status: jg.TaskStatusLike) -> None:
        task_status.started(port)
        await anyio.sleep_forever()

    daemon = jg.Job(lambda task_status: serve(80, task_status), forever=True, label="daemon")
    client = jg.Job(work, 5, requires=daemon)
    with anyio.fail_after(5):
        assert await jg.Scheduler(daemon, client).run()
    assert client.result() == 5 and daemon.cancelled


@pytest.mark.anyio
async def test_a_callable_returning_no_awaitable_fails_its_job_by_name() -> None:
    def not_async(x: int) -> int:
        return x

    job = jg.Job(not_async, 1, label="sync")
    scheduler = jg.Scheduler(job)
    assert not await scheduler.run()
    assert isinstance(job.exception, jg.JobDefinitionError)
    assert str(job.exception) == (
        "job 'sync': test_a_callable_returning_no_awaitable_fails_its_job_by_name.<locals>."
        "not_async returned 1, not an awaitable; Job() needs an async function (async def), "
        "or a callable that returns a coroutine; a plain function needs an executor= "
        "(threads, processes...)"
    )
    assert "critical job 'sync'" in scheduler.why()


# -- item 10: a job's outcome at a glance; why() tells non-critical failures --------------


async def fail(message: str) -> None:
    await anyio.lowlevel.checkpoint()
    raise RuntimeError(message)


@pytest.mark.anyio
async def test_ok_and_outcome_at_a_glance() -> None:
    good = jg.Job(work, 1, label="good")
    bad = jg.Job(fail, "no", label="bad", critical=False)
    skipped = jg.Job(work, 2, label="skipped", requires=bad, on_failed_requirement="skip")
    slow = jg.Job(anyio.sleep, 0.05, label="slow", timeout=0.01, critical=False)
    daemon = jg.Job(anyio.sleep_forever, forever=True, label="daemon")
    scheduler = jg.Scheduler(good, bad, skipped, slow, daemon, label="glance")
    jobs = (good, bad, skipped, slow, daemon)
    assert [job.ok for job in jobs] == [None] * 5
    assert [job.outcome for job in jobs] == ["idle"] * 5
    assert scheduler.ok is None and scheduler.outcome == "idle"
    with anyio.fail_after(5):
        assert await scheduler.run()
    assert [job.outcome for job in jobs] == ["ok", "failed", "skipped", "failed", "cancelled"]
    assert [job.ok for job in jobs] == [True, False, False, False, False]
    assert isinstance(slow.exception, jg.JobTimeoutError)  # what "failed" was
    after: tuple[object, str] = (scheduler.ok, scheduler.outcome)  # mypy narrowed it to None
    assert after == (True, "ok")


@pytest.mark.anyio
async def test_a_failed_run_is_not_ok_even_at_the_top() -> None:
    scheduler = jg.Scheduler(jg.Job(fail, "down", label="critical"), label="top")
    assert not await scheduler.run()
    assert scheduler.ok is False and scheduler.outcome == "failed"


def test_subclasses_may_use_the_names_ok_and_outcome_for_their_own_attributes() -> None:
    class Probe(jg.AbstractJob):
        def __init__(self) -> None:
            self.ok = "mine"  # type: ignore[misc, assignment]  # asynciojobs-style code
            self.outcome = 3  # type: ignore[misc, assignment]
            super().__init__(label="probe")

        async def run(self) -> None:
            return None

    probe = Probe()
    mine: tuple[object, object] = (probe.ok, probe.outcome)
    assert mine == ("mine", 3)


@pytest.mark.anyio
async def test_why_names_non_critical_failures_of_a_successful_run() -> None:
    bad = [jg.Job(fail, str(i), label=f"bad{i}", critical=False) for i in range(2)]
    after = jg.Job(work, 1, label="after", requires=bad[0], on_failed_requirement="skip")
    inner_bad = jg.Job(fail, "x", label="inner-bad", critical=False)
    inner = jg.Scheduler(inner_bad, jg.Job(work, 2), label="inner")
    scheduler = jg.Scheduler(*bad, after, inner, jg.Job(work, 3), label="nightly")
    assert await scheduler.run()
    assert scheduler.why() == (
        "scheduler 'nightly' succeeded, 3 non-critical jobs failed: 'bad0', 'bad1', "
        "'inner-bad'; 1 job skipped: 'after'"
    )
    one = jg.Scheduler(jg.Job(fail, "x", label="lone", critical=False), label="one")
    assert await one.run()
    assert one.why() == "scheduler 'one' succeeded, 1 non-critical job failed: 'lone'"
    clean = jg.Scheduler(jg.Job(work, 1), label="clean")
    assert await clean.run()
    assert clean.why() == "scheduler 'clean' succeeded"


# -- item 11: repr(scheduler) names it; event times read from the run's start -------------


def test_repr_of_a_scheduler_names_it() -> None:
    scheduler = jg.Scheduler(jg.Job(work, 1), jg.Job(work, 2), label="release")
    assert repr(scheduler) == "Scheduler 'release' with 0 done + 0 ongoing + 2 idle = 2 job(s)"
    assert repr(jg.Scheduler()) == "Scheduler with 0 done + 0 ongoing + 0 idle = 0 job(s)"


@pytest.mark.timing
async def test_event_times_read_from_the_start_of_the_run(mock_clock: bool) -> None:
    events: list[jg.JobEvent] = []
    first = jg.Job(anyio.sleep, 0.2, label="first")
    inner = jg.Scheduler(jg.Job(anyio.sleep, 0.1, label="inner-job"), label="inner")
    bad = jg.Job(fail, "no", label="bad", critical=False, requires=inner)
    inner.requires(first)
    scheduler = jg.Scheduler(first, inner, bad, label="outer")
    scheduler.subscribe(events.append)
    await anyio.sleep(0.05)  # the loop's clock is not at zero when the run starts
    assert await scheduler.run()
    assert events[0].kind is jg.EventKind.RUN_STARTED
    assert 0 <= events[0].elapsed < (1e-9 if mock_clock else 0.05)
    started = {e.job.label: e.elapsed for e in events if e.kind is jg.EventKind.STARTED}
    # nested events count from the start of the outermost run, like the others
    expected = {"first": 0.0, "inner": 0.2, "inner-job": 0.2, "bad": 0.3}
    for label, elapsed in expected.items():
        if mock_clock:
            assert started[label] == pytest.approx(elapsed, abs=1e-9)
        else:
            assert elapsed - 0.01 <= started[label] < elapsed + 0.3
    for event in events:  # the same origin as the times of report()
        assert scheduler.started_at is not None
        assert event.elapsed == pytest.approx(event.time - scheduler.started_at)
    failed = next(e for e in events if e.kind is jg.EventKind.FAILED)
    text = str(failed)
    assert text.startswith("+0.3") and text.endswith("s failed 'bad' in 'outer': RuntimeError: no")
    assert repr(failed) == f"<JobEvent {text}>"
    retry = jg.JobEvent(
        jg.EventKind.RETRYING, bad, scheduler, 12.0, RuntimeError("x"), 2, 0.5, elapsed=1.25
    )
    assert (
        str(retry) == "+1.250s retrying 'bad' in 'outer' (attempt 2, next in 0.5s): RuntimeError: x"
    )
