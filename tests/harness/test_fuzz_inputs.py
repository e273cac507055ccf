"""Garbage passed to every public constructor and method: it must be refused with a
JobGraphError (or TypeError / ValueError) whose message names the argument, never hang,
and never leave a scheduler changed or unable to run.
"""

from __future__ import annotations

import contextlib
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobgraph as jg


async def work(x: int = 0) -> int:
    await anyio.lowlevel.checkpoint()
    return x


def sync_function() -> None:
    """Not async: a Job built from it fails when it runs."""


garbage: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers(), st.text(max_size=2)),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.sampled_from([object(), sync_function, print, int, Exception, math.nan, -math.inf]),
)

REFUSED = (jg.JobGraphError, TypeError, ValueError)


def refused_naming(call: Any, name: str) -> tuple[bool, Any]:
    """Call; True (and the result) if it was accepted, False if refused properly."""
    try:
        result = call()
    except REFUSED as exc:
        message = str(exc)
    else:
        return True, result
    assert name.lower() in message.lower(), f"the message {message!r} does not name {name!r}"
    return False, None


def runs_fine(scheduler: jg.Scheduler) -> bool:
    async def main() -> bool:
        with anyio.fail_after(10):
            return await scheduler.run()

    return anyio.run(main, backend="trio")


def snapshot(scheduler: jg.Scheduler) -> list[tuple[str, list[str]]]:
    return [(j.label, [r.label for r in j.requirements]) for j in scheduler.jobs]


def healthy_scheduler() -> tuple[jg.Scheduler, jg.Job, jg.Job]:
    a = jg.Job(work, 1, label="a")
    b = jg.Job(work, 2, label="b", requires=a)
    return jg.Scheduler(a, b, label="healthy"), a, b


def check_still_healthy(scheduler: jg.Scheduler, before: list[tuple[str, list[str]]]) -> None:
    assert snapshot(scheduler) == before, "a refused call changed the scheduler"
    assert runs_fine(scheduler) is True
    assert [job.result() for job in scheduler.jobs] == [1, 2]


JOB_OPTIONS = {
    "kwargs": "kwargs",
    "label": "label",
    "critical": "critical",
    "forever": "forever",
    "requires": "requires",
    "timeout": "timeout",
    "retry": "retry",
    "on_failed_requirement": "on_failed_requirement",
    "scheduler": "scheduler",
}


@given(option=st.sampled_from(sorted(JOB_OPTIONS)), value=garbage)
def test_job_options_refuse_garbage_by_name(option: str, value: Any) -> None:
    accepted, job = refused_naming(lambda: jg.Job(work, **{option: value}), JOB_OPTIONS[option])
    if accepted:
        scheduler = jg.Scheduler(label="host", timeout=5)
        if job.scheduler is None:
            scheduler.add(job)
        else:
            scheduler = job.scheduler
        assert runs_fine(scheduler) in (True, False)


@given(function=garbage)
def test_job_refuses_a_function_that_is_not_async(function: Any) -> None:
    accepted, job = refused_naming(lambda: jg.Job(function), "async function")
    if accepted:  # a callable may return an awaitable; these do not: the job fails by name
        assert callable(function)
        assert runs_fine(jg.Scheduler(job)) is False
        assert isinstance(job.exception, jg.JobDefinitionError)
        assert f"job {job.label!r}" in str(job.exception)
        assert "not an awaitable" in str(job.exception)


SCHEDULER_OPTIONS = {
    "jobs_window": "jobs_window",
    "timeout": "timeout",
    "shutdown_timeout": "shutdown_timeout",
    "label": "label",
    "critical": "critical",
    "forever": "forever",
    "requires": "requires",
    "on_failed_requirement": "on_failed_requirement",
    "scheduler": "scheduler",
}


@given(option=st.sampled_from(sorted(SCHEDULER_OPTIONS)), value=garbage)
def test_scheduler_options_refuse_garbage_by_name(option: str, value: Any) -> None:
    def build() -> jg.Scheduler:
        return jg.Scheduler(jg.Job(work, 1), **{option: value})

    accepted, scheduler = refused_naming(build, SCHEDULER_OPTIONS[option])
    if accepted:
        top = scheduler if scheduler.scheduler is None else scheduler.scheduler
        assert runs_fine(top) in (True, False)


RETRY_FIELDS = ("attempts", "backoff", "factor", "max_delay", "jitter", "on")


@given(field=st.sampled_from(RETRY_FIELDS), value=garbage)
def test_retry_refuses_garbage_by_name(field: str, value: Any) -> None:
    accepted, retry = refused_naming(lambda: jg.Retry(**{field: value}), field)
    if accepted:
        assert retry.delay(1) >= 0 and not math.isnan(retry.delay(1))


@given(value=garbage)
def test_sequence_refuses_garbage(value: Any) -> None:
    refused_naming(lambda: jg.Sequence(jg.Job(work), value), "Sequence()")
    refused_naming(lambda: jg.Sequence(jg.Job(work), requires=value), "requires()")
    scheduler, a, _ = healthy_scheduler()
    before = snapshot(scheduler)
    accepted, _ = refused_naming(lambda: jg.Sequence(a, scheduler=value), "scheduler")
    assert not accepted or value is None
    check_still_healthy(scheduler, before)


@given(value=garbage, nested=st.booleans())
def test_requires_refuses_garbage_and_changes_nothing(value: Any, nested: bool) -> None:
    scheduler, _, b = healthy_scheduler()
    before = snapshot(scheduler)
    c = jg.Job(work, 3, label="c")
    argument = [c, value] if nested else value
    accepted, _ = refused_naming(lambda: b.requires(argument), "requires()")
    if accepted and c in b.requirements:  # None or [] add nothing: c is legitimate
        b.requires(c, remove=True)
    check_still_healthy(scheduler, before)


@given(value=garbage, nested=st.booleans())
def test_add_refuses_garbage_and_changes_nothing(value: Any, nested: bool) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    argument = [jg.Job(work, 3, label="c"), value] if nested else value
    accepted, _ = refused_naming(lambda: scheduler.update(argument), "add()")
    if not accepted:
        check_still_healthy(scheduler, before)
    else:  # None, an empty list...: whatever jobs it held were added
        assert runs_fine(scheduler) is True


@given(value=garbage)
def test_remove_refuses_garbage_and_changes_nothing(value: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    with pytest.raises(REFUSED, match=r"remove\(\) takes a job"):
        scheduler.remove(value)
    check_still_healthy(scheduler, before)


@pytest.mark.parametrize(
    "method",
    [
        "predecessors",
        "successors",
        "predecessors_upstream",
        "successors_downstream",
        "bypass_and_remove",
    ],
)
@given(value=garbage)
def test_graph_queries_refuse_what_is_not_a_job(method: str, value: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    with pytest.raises(REFUSED, match=rf"{method}\(\) takes jobs"):
        getattr(scheduler, method)(value)
    check_still_healthy(scheduler, before)


@pytest.mark.parametrize(
    "method",
    ["export_report", "export_as_dotfile", "export_timeline_svg"],
)
@given(value=garbage)
def test_exports_refuse_what_is_not_a_path(method: str, value: Any) -> None:
    if isinstance(value, str) and value:
        return  # a real file name: never let a fuzzer write where it likes ("/0"...)
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    with tempfile.TemporaryDirectory() as where, contextlib.chdir(where):
        with pytest.raises(REFUSED, match="file path"):
            getattr(scheduler, method)(value)
        assert not any(Path(where).iterdir()), "a refused export wrote a file"
    check_still_healthy(scheduler, before)


@given(suffix=garbage)
def test_export_as_graphic_refuses_a_suffix_that_is_not_a_format(suffix: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    if isinstance(suffix, str) and re.fullmatch(r"[A-Za-z0-9][\w.:-]*", suffix.lstrip(".")):
        return  # a plausible format: dot itself judges it
    with tempfile.TemporaryDirectory() as where, contextlib.chdir(where):
        with pytest.raises(REFUSED, match="suffix must name a graphviz format"):
            scheduler.export_as_graphic("graph", suffix)
        assert not any(Path(where).iterdir()), "a refused export wrote a file"


@given(option=st.sampled_from(["timeout", "jobs_window"]), value=garbage)
def test_setting_scheduler_limits_refuses_garbage_by_name(option: str, value: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    old = getattr(scheduler, option)
    accepted, _ = refused_naming(lambda: setattr(scheduler, option, value), option)
    if not accepted:
        assert getattr(scheduler, option) == old
        check_still_healthy(scheduler, before)
    else:
        assert runs_fine(scheduler) in (True, False)


@given(scheduler=garbage, backend=st.one_of(garbage, st.sampled_from(["asyncio", "trio"])))
def test_run_refuses_garbage(scheduler: Any, backend: Any) -> None:
    with pytest.raises(REFUSED):
        jg.run(scheduler, backend=backend)


@given(backend=garbage)
def test_run_refuses_an_unknown_backend_and_leaves_the_scheduler_runnable(backend: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    with pytest.raises(REFUSED, match="backend"):
        jg.run(scheduler, backend=backend)
    check_still_healthy(scheduler, before)


@given(value=garbage)
def test_subscribe_refuses_what_is_not_callable(value: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    if callable(value):
        return
    with pytest.raises(REFUSED, match="subscribe"):
        scheduler.subscribe(value)
    check_still_healthy(scheduler, before)
