"""Bad input is refused before anything runs, with an error naming the job at fault."""

from __future__ import annotations

import inspect
import re
from typing import Any

import anyio
import pytest

import jobgraph as jg

pytestmark = pytest.mark.anyio


async def noop() -> None:
    return None


async def value(x: Any) -> Any:
    return x


def test_exception_tree_is_rooted_at_jobgraph_error() -> None:
    for kind in (
        jg.GraphError,
        jg.CycleError,
        jg.UnknownRequirementError,
        jg.OwnershipError,
        jg.JobDefinitionError,
        jg.InvalidOptionError,
        jg.RunStateError,
        jg.CriticalJobError,
        jg.JobTimeoutError,
        jg.SchedulerTimeoutError,
    ):
        assert issubclass(kind, jg.JobGraphError)
    assert issubclass(jg.GraphError, ValueError)
    assert issubclass(jg.JobDefinitionError, TypeError)
    assert issubclass(jg.InvalidOptionError, ValueError)
    assert issubclass(jg.JobTimeoutError, TimeoutError)
    assert issubclass(jg.SchedulerTimeoutError, TimeoutError)


async def test_cycle_is_named_before_anything_runs() -> None:
    ran: list[str] = []

    async def mark(name: str) -> None:
        ran.append(name)

    a = jg.Job(mark, "a", label="a")
    b = jg.Job(mark, "b", label="b", requires=a)
    c = jg.Job(mark, "c", label="c", requires=b)
    free = jg.Job(mark, "free", label="free")
    a.requires(c)
    scheduler = jg.Scheduler(a, b, c, free)
    with pytest.raises(jg.CycleError) as info:
        await scheduler.run()
    message = str(info.value)
    assert message.startswith("requirements form a cycle: ")
    assert set(info.value.cycle) == {a, b, c}
    # the named path follows requirements and closes on itself
    names = re.findall(r"'(\w+)'", message)
    assert names[0] == names[-1] and len(names) == 4
    assert ran == []
    assert scheduler.state is jg.JobState.IDLE
    assert not scheduler.check_cycles()
    # mend the graph: the same scheduler now runs
    a.requires(c, remove=True)
    assert scheduler.check_cycles()
    assert await scheduler.run()
    assert ran[-1] == "c"


async def test_cycle_in_nested_scheduler_is_found_before_the_outer_run_starts() -> None:
    ran: list[str] = []

    async def mark(name: str) -> None:
        ran.append(name)

    x = jg.Job(mark, "x", label="x")
    y = jg.Job(mark, "y", label="y", requires=x)
    x.requires(y)
    inner = jg.Scheduler(x, y, label="inner")
    outer = jg.Scheduler(jg.Job(mark, "first"), inner)
    assert not outer.check_cycles()
    with pytest.raises(jg.CycleError, match="'x'"):
        await outer.run()
    assert ran == []


def test_job_cannot_require_itself() -> None:
    job = jg.Job(noop, label="narcissus")
    with pytest.raises(jg.CycleError, match="'narcissus' cannot require itself"):
        job.requires(job)


async def test_unknown_requirement_names_both_jobs_and_sanitize_drops_it() -> None:
    outsider = jg.Job(noop, label="outsider")
    member = jg.Job(value, 1, label="member", requires=outsider)
    scheduler = jg.Scheduler(member, label="main")
    with pytest.raises(jg.UnknownRequirementError) as info:
        await scheduler.run()
    assert str(info.value) == (
        "job 'member' requires 'outsider', which is not in scheduler 'main'; "
        "add it, or call sanitize() to drop such requirements"
    )
    assert info.value.job is member and info.value.requirement is outsider
    assert scheduler.sanitize() is False
    assert member.requirements == ()
    assert scheduler.sanitize() is True
    assert await scheduler.run()
    assert member.result() == 1


async def test_requirement_across_nested_schedulers_is_refused() -> None:
    a = jg.Job(noop, label="a")
    inner_job = jg.Job(noop, label="inner-job", requires=a)
    inner = jg.Scheduler(inner_job, label="inner")
    outer = jg.Scheduler(a, inner, label="outer")
    with pytest.raises(jg.UnknownRequirementError, match=r"'inner-job' requires 'a'.*'inner'"):
        await outer.run()


def test_job_in_two_schedulers_is_refused() -> None:
    job = jg.Job(noop, label="shared")
    first = jg.Scheduler(job, label="first")
    with pytest.raises(jg.OwnershipError, match="'shared' is already in scheduler 'first'"):
        jg.Scheduler(job, label="second")
    first.add(job)  # adding again to the same scheduler is harmless
    assert first.jobs == (job,)
    first.remove(job)
    second = jg.Scheduler(job)
    assert job.scheduler is second


def test_scheduler_cannot_nest_inside_itself() -> None:
    outer = jg.Scheduler(label="outer")
    inner = jg.Scheduler(label="inner", scheduler=outer)
    with pytest.raises(jg.OwnershipError, match="'outer' cannot be nested inside itself"):
        inner.add(outer)
    with pytest.raises(jg.OwnershipError):
        outer.add(outer)


def test_remove_unknown_job_raises_key_error() -> None:
    scheduler = jg.Scheduler(label="s")
    with pytest.raises(KeyError, match="'ghost' is not in scheduler 's'"):
        scheduler.remove(jg.Job(noop, label="ghost"))


async def test_running_twice_without_reset_is_refused() -> None:
    job = jg.Job(value, 42)
    scheduler = jg.Scheduler(job, label="once")
    assert await scheduler.run()
    with pytest.raises(jg.RunStateError, match="'once' has already run; call reset"):
        await scheduler.run()
    assert job.result() == 42  # nothing lost


async def test_running_a_scheduler_holding_a_finished_job_is_refused() -> None:
    job = jg.Job(value, 1, label="used")
    first = jg.Scheduler(job)
    assert await first.run()
    first.remove(job)
    second = jg.Scheduler(job, label="second")
    with pytest.raises(jg.RunStateError, match="job 'used' in scheduler 'second' has already run"):
        await second.run()


async def test_scheduler_cannot_be_changed_while_it_runs() -> None:
    gate, started = anyio.Event(), anyio.Event()

    async def hold() -> None:
        started.set()
        await gate.wait()

    scheduler = jg.Scheduler(jg.Job(hold), label="busy")
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        with anyio.fail_after(10):
            await started.wait()
        with pytest.raises(jg.RunStateError, match="cannot add jobs to scheduler 'busy'"):
            scheduler.add(jg.Job(noop))
        with pytest.raises(jg.RunStateError) as info:
            await scheduler.run()
        # not "has already run; call reset()": reset() is refused while it runs
        assert str(info.value) == (
            "scheduler 'busy' is running now; wait for its run to end "
            "(then call reset() to run it again)"
        )
        gate.set()


@pytest.mark.parametrize("option", ["critical", "forever"])
@pytest.mark.parametrize("value", ["no", "yes", 1, 0, None])
def test_critical_and_forever_take_true_or_false_only(option: str, value: object) -> None:
    # bool("no") is True: critical="no" used to make a critical job
    options: dict[str, Any] = {option: value}
    with pytest.raises(jg.JobDefinitionError) as info:
        jg.Job(noop, label="j", **options)
    assert str(info.value) == f"{option} of job 'j' must be True or False, not {value!r}"
    with pytest.raises(jg.JobDefinitionError, match=f"{option} of job 's' must be True or False"):
        jg.Scheduler(label="s", **options)
    for flag in (True, False):
        options = {option: flag}
        assert getattr(jg.Job(noop, **options), option) is flag


def test_what_cannot_be_called_is_refused() -> None:
    with pytest.raises(jg.JobDefinitionError, match=r"needs an async function.*label 'x'"):
        jg.Job(42, label="x")  # type: ignore[arg-type]


def test_coroutine_object_is_refused_and_closed() -> None:
    coroutine = value(1)
    with pytest.raises(jg.JobDefinitionError, match=r"write Job\(f, x\) rather than Job\(f\(x\)\)"):
        jg.Job(coroutine)  # type: ignore[arg-type]
    # closed, so no "never awaited" warning (warnings are errors in this suite)
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED


def test_async_callables_of_all_kinds_are_accepted() -> None:
    import functools

    class Callable:
        async def __call__(self) -> int:
            return 1

    jg.Job(functools.partial(value, 1))
    jg.Job(Callable())
    assert jg.Job(functools.partial(value, 1)).label == "value"


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"jobs_window": -1}, jg.InvalidOptionError, "jobs_window of scheduler '.*' must be >= 1"),
        ({"jobs_window": 0}, jg.InvalidOptionError, "jobs_window of scheduler '.*' must be >= 1"),
        (
            {"jobs_window": 2.5},
            jg.JobDefinitionError,
            "jobs_window of scheduler '.*' must be an int",
        ),
        ({"timeout": -1}, jg.InvalidOptionError, "timeout of scheduler 'Scheduler' must be >= 0"),
        ({"timeout": "soon"}, jg.JobDefinitionError, "must be a number of seconds"),
        ({"shutdown_timeout": -0.5}, jg.InvalidOptionError, "shutdown_timeout"),
    ],
)
def test_scheduler_options_are_checked(
    options: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        jg.Scheduler(**options)


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"timeout": -2}, jg.InvalidOptionError, "timeout of job 'j' must be >= 0"),
        ({"retry": "often"}, jg.JobDefinitionError, "retry must be a Retry"),
        ({"retry": 0}, jg.InvalidOptionError, "attempts must be >= 1"),
        ({"on_failed_requirement": "panic"}, jg.InvalidOptionError, "'run' or 'skip'"),
        ({"requires": 42}, jg.JobDefinitionError, "requires\\(\\) takes jobs"),
    ],
)
def test_job_options_are_checked(
    options: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        jg.Job(noop, label="j", **options)


def test_retry_options_are_checked() -> None:
    with pytest.raises(jg.JobDefinitionError, match="Exception subclass"):
        jg.Retry(on=(int,))  # type: ignore[arg-type]
    with pytest.raises(jg.InvalidOptionError, match="backoff must be >= 0"):
        jg.Retry(backoff=-1)
    assert jg.Retry(on=OSError).on == (OSError,)


def test_adding_garbage_names_it() -> None:
    with pytest.raises(jg.JobDefinitionError, match=r"add\(\) takes jobs.*'oops'"):
        jg.Scheduler("oops")  # type: ignore[arg-type]


def test_run_entry_checks_its_arguments() -> None:
    with pytest.raises(jg.JobDefinitionError, match="takes a Scheduler"):
        jg.run(jg.Job(noop))  # type: ignore[arg-type]
    with pytest.raises(jg.InvalidOptionError, match="backend must be one of"):
        jg.run(jg.Scheduler(), backend="curio")


def test_result_before_run_explains_the_state() -> None:
    job = jg.Job(noop, label="early")
    with pytest.raises(jg.RunStateError, match="'early' has no result: it is idle"):
        job.result()


async def test_failed_job_result_carries_the_exception() -> None:
    async def bad() -> None:
        raise ValueError("nope")

    job = jg.Job(bad, critical=False, label="bad")
    ok = jg.Job(value, 5)
    assert await jg.Scheduler(job, ok).run()
    with pytest.raises(jg.RunStateError) as info:
        job.result()
    assert isinstance(info.value.__cause__, ValueError)
    assert ok.result() == 5
