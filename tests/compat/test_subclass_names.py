"""Subclasses own the attribute names that asynciojobs does not define.

asynciojobs code subclasses ``AbstractJob`` / ``Job`` / ``Scheduler`` and sets its own
attributes in ``__init__``, often before calling ``super().__init__()``. Names that
asynciojobs does not define must then behave as plain attributes (settable before and
after ``super().__init__()``, read back unchanged) and must not disturb the engine: the
job runs, its dependents run, listings work, on asyncio and on trio (``co_run()``).
Names asynciojobs does define keep its behaviour (checked side by side with it when it
is installed).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import anyio
import pytest

from jobgraph import views
from jobgraph.compat.asynciojobs import AbstractJob, Job, PureScheduler, Scheduler

HAVE_ORIGINAL = importlib.util.find_spec("asynciojobs") is not None

# names of the jobgraph engine that asynciojobs jobs do not have
FREE_JOB_NAMES = (
    "scheduler",
    "record",
    "state",
    "exception",
    "cancelled",
    "started_at",
    "ended_at",
    "attempts",
    "requirements",
    "retry",
    "on_failed_requirement",
    "timeout",
    "default_label",
    "run",
    "shutdown",
)
# names of the jobgraph engine that asynciojobs schedulers do not have (``timeout``,
# ``run`` and ``shutdown`` are asynciojobs scheduler names, kept with their meaning)
FREE_SCHEDULER_NAMES = (
    *(name for name in FREE_JOB_NAMES if name not in ("timeout", "run", "shutdown")),
    "failure",
    "stragglers",
    "reset",
    "subscribe",
    "list_text",
    "list_safe_text",
    "debrief_text",
)


class Mark:
    """A value no engine would take for one of its own."""

    def __init__(self, name: str, when: str) -> None:
        self.name = name
        self.when = when

    def __repr__(self) -> str:
        return f"Mark({self.name!r}, {self.when!r})"


def value_for(name: str, when: str, scheduler: Any) -> Any:
    # the case from the field: a job class that keeps the scheduler it was given
    return scheduler if name == "scheduler" and when == "before" else Mark(name, when)


class Custom(AbstractJob):
    """A job class that sets ``name`` before and after ``super().__init__()``."""

    def __init__(self, name: str, scheduler: Any, **kwds: Any) -> None:
        self.own_name = name
        self.before = value_for(name, "before", scheduler)
        setattr(self, name, self.before)
        super().__init__(scheduler=scheduler, **kwds)
        self.seen_after_init = getattr(self, name)

    def text_label(self) -> str:
        return "custom"

    async def co_run(self) -> Any:
        await anyio.sleep(0.01)
        return getattr(self, self.own_name)

    async def co_shutdown(self) -> None:
        return None


class CustomJob(Job):
    """A coroutine-object job class that sets ``name`` before ``super().__init__()``."""

    def __init__(self, name: str, corun: Any, **kwds: Any) -> None:
        self.before = Mark(name, "before")
        setattr(self, name, self.before)
        super().__init__(corun, **kwds)


class CustomScheduler(Scheduler):
    """A scheduler class that sets ``name`` before ``super().__init__()``."""

    def __init__(self, name: str, *jobs: Any, **kwds: Any) -> None:
        self.before = Mark(name, "before")
        setattr(self, name, self.before)
        super().__init__(*jobs, **kwds)


class CustomPureScheduler(PureScheduler):
    def __init__(self, name: str, *jobs: Any, **kwds: Any) -> None:
        self.before = Mark(name, "before")
        setattr(self, name, self.before)
        super().__init__(*jobs, **kwds)


async def value(result: Any) -> Any:
    await anyio.sleep(0.01)
    return result


def listing(scheduler: Any, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    scheduler.list()
    scheduler.list_safe()
    scheduler.debrief()
    out = capsys.readouterr().out
    # the other views read the engine through jobgraph.lowlevel, not the names above
    report = views.report(scheduler)
    assert report["ok"] is True and report["counts"]["done"] == report["counts"]["total"]
    assert all(job["outcome"] == "ok" for job in report["jobs"])
    for text in (views.dot_format(scheduler), views.timeline_svg(scheduler)):
        assert "after" in text or "inner job" in text or "only" in text
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("name", FREE_JOB_NAMES)
async def test_abstract_job_subclass_owns_the_name(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    scheduler = Scheduler(label="main")
    job = Custom(name, scheduler)  # labelled by text_label()
    after = Job(value("after"), label="after", required=job, scheduler=scheduler)
    assert job.seen_after_init is job.before  # super().__init__() left it alone
    assert list(scheduler.jobs) == [job, after]  # and the job is in its scheduler

    assert await scheduler.co_run() is True
    assert job.is_done() and after.is_done()
    assert job.result() is job.before and after.result() == "after"
    assert getattr(job, name) is job.before
    out = listing(scheduler, capsys)
    assert "custom" in out and "after" in out

    # set again after a run: still the class's own attribute, and the job runs again
    setattr(job, name, Mark(name, "after"))
    after.corun = value("again")
    assert await scheduler.co_run() is True
    assert getattr(job.result(), "when", None) == "after"


@pytest.mark.anyio
@pytest.mark.parametrize("name", FREE_JOB_NAMES)
async def test_job_subclass_owns_the_name(name: str) -> None:
    first = CustomJob(name, value("first"))  # labelled Job[value (...)]
    second = Job(value("second"), label="second", required=first)
    assert await Scheduler(first, second).co_run() is True
    assert first.result() == "first" and second.result() == "second"
    assert getattr(first, name) is first.before
    assert first.label == "Job[value (...)]"


@pytest.mark.anyio
@pytest.mark.parametrize("name", FREE_SCHEDULER_NAMES)
async def test_scheduler_subclass_owns_the_name(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    inner_job = Job(value("inner"), label="inner job")
    inner = CustomScheduler(name, inner_job)
    last = Job(value("last"), label="last", required=inner)
    outer = Scheduler(inner, last, label="outer")
    assert await outer.co_run() is True
    assert inner_job.result() == "inner" and last.result() == "last"
    assert inner.is_done() and inner.result() is True
    assert getattr(inner, name) is inner.before
    out = listing(outer, capsys)
    assert "inner job" in out and "last" in out


@pytest.mark.anyio
@pytest.mark.parametrize("name", FREE_SCHEDULER_NAMES)
async def test_pure_scheduler_subclass_owns_the_name(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = Job(value("only"), label="only")
    scheduler = CustomPureScheduler(name, job, timeout=5)
    assert await scheduler.co_run() is True
    assert job.result() == "only"
    assert getattr(scheduler, name) is scheduler.before
    assert "only" in listing(scheduler, capsys)


def test_sync_run_with_a_job_that_keeps_its_scheduler() -> None:
    """The report's example, with the synchronous run()."""

    class Keeper(AbstractJob):
        def __init__(self, scheduler: Any) -> None:
            self.scheduler = scheduler
            super().__init__(scheduler=scheduler)

        async def co_run(self) -> Any:
            return self.scheduler

        async def co_shutdown(self) -> None:
            return None

    scheduler = Scheduler()
    keeper = Keeper(scheduler)
    assert list(scheduler.jobs) == [keeper]
    assert scheduler.run() is True
    assert keeper.result() is scheduler


def test_free_names_are_no_asynciojobs_names() -> None:
    """The tables above hold only names that asynciojobs leaves to subclasses."""
    if not HAVE_ORIGINAL:
        pytest.skip("asynciojobs is not installed")
    import asynciojobs

    async def nothing() -> None:
        return None

    coroutine = nothing()
    try:
        job = asynciojobs.Job(coroutine)
        scheduler = asynciojobs.Scheduler()
        for name in FREE_JOB_NAMES:
            assert not hasattr(job, name), name
        for name in FREE_SCHEDULER_NAMES:
            assert not hasattr(scheduler, name), name
        for name in ("timeout", "run", "shutdown"):
            assert hasattr(scheduler, name), name
    finally:
        coroutine.close()


# names asynciojobs defines: its __init__ sets them, whatever a subclass set before
SPEC_NAMES = {"label": "mine", "critical": False, "forever": True}


@pytest.mark.parametrize("name", sorted(SPEC_NAMES))
def test_asynciojobs_names_keep_their_meaning(name: str) -> None:
    modules: list[Any] = [AbstractJob]
    if HAVE_ORIGINAL:
        import asynciojobs

        modules.append(asynciojobs.AbstractJob)
    outcomes = []
    for base in modules:

        class Early(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                setattr(self, name, SPEC_NAMES[name])
                super().__init__()

        class Late(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                super().__init__()
                setattr(self, name, SPEC_NAMES[name])

        early, late = Early(), Late()
        outcomes.append((getattr(early, name) == SPEC_NAMES[name], getattr(late, name)))
    # before super().__init__(): overwritten by it; after: kept
    assert outcomes[0] == (False, SPEC_NAMES[name])
    assert all(outcome == outcomes[0] for outcome in outcomes)


def test_late_critical_and_forever_still_rule_the_run() -> None:
    async def boom() -> None:
        await anyio.sleep(0.01)
        raise ValueError("boom")

    class Soft(AbstractJob):
        def __init__(self) -> None:
            super().__init__()
            self.critical = False  # set after super().__init__(): a non-critical job

        async def co_run(self) -> None:
            await boom()

        async def co_shutdown(self) -> None:
            return None

    soft = Soft()
    after = Job(value("after"), required=soft)
    assert Scheduler(soft, after).run() is True
    assert isinstance(soft.raised_exception(), ValueError) and after.result() == "after"
