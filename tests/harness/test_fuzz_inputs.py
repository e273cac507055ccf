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
from hypothesis import example, given
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


# values each option must accept: the examples below make sure that the checks on
# accepted values run every time, whatever the fuzzer draws
JOB_ACCEPTS = {
    ("kwargs", None),
    ("label", "a"),
    ("critical", False),
    ("forever", True),
    ("requires", None),
    ("timeout", 5),
    ("timeout", 0),
    ("retry", None),
    ("on_failed_requirement", "skip"),
    ("scheduler", None),
}


def listed(option: str, value: Any, table: set[tuple[str, Any]]) -> bool:
    """Whether ``(option, value)`` is in ``table`` (same type: False is not 0)."""
    return any(o == option and type(v) is type(value) and v == value for o, v in table)


def check_timeout_outcome(ok: bool, timeout: Any, why: str) -> None:
    """An accepted timeout: 0 cuts the run, 1 s or more lets it finish; in between
    either may happen, but a failure is the timeout and nothing else."""
    if timeout == 0:
        assert not ok, "a timeout of 0 let the run finish"
    elif timeout is None or timeout >= 1:
        assert ok, why
    if not ok:
        assert "timed out" in why or "timeout" in why, why


@given(option=st.sampled_from(sorted(JOB_OPTIONS)), value=garbage)
@example(option="kwargs", value={"x": 7})
@example(option="kwargs", value={"y": 7})
@example(option="label", value="a")
@example(option="critical", value=False)
@example(option="forever", value=True)
@example(option="requires", value=None)
@example(option="timeout", value=5)
@example(option="timeout", value=0)
@example(option="retry", value=None)
@example(option="on_failed_requirement", value="skip")
@example(option="scheduler", value=None)
def test_job_options_refuse_garbage_by_name(option: str, value: Any) -> None:
    accepted, job = refused_naming(lambda: jg.Job(work, **{option: value}), JOB_OPTIONS[option])
    if listed(option, value, JOB_ACCEPTS):
        assert accepted, f"Job refused {option}={value!r}"
    if not accepted:
        return
    # what was accepted runs as it says
    scheduler = jg.Scheduler(label="host", timeout=5)
    if job.scheduler is None:
        scheduler.add(job)
    else:
        scheduler = job.scheduler
    ok = runs_fine(scheduler)
    if option == "kwargs" and value and set(value) != {"x"}:  # work() takes x only
        assert not ok and isinstance(job.exception, TypeError)
        assert str(next(iter(set(value) - {"x"}))) in str(job.exception)
    elif option == "timeout":
        check_timeout_outcome(ok, value, str(job.exception))
        assert ok or isinstance(job.exception, jg.JobTimeoutError)
    else:
        assert ok, f"a job with {option}={value!r} failed: {job.exception!r}"
        if not job.forever:
            expected = (value or {}).get("x", 0) if option == "kwargs" else 0
            assert job.result() == expected
    if option in ("critical", "forever"):
        assert getattr(job, option) is bool(value)


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


SCHEDULER_ACCEPTS = {
    ("jobs_window", None),
    ("jobs_window", 2),
    ("timeout", 5),
    ("timeout", 0),
    ("shutdown_timeout", 0),
    ("label", "a"),
    ("critical", False),
    ("forever", False),
    ("requires", None),
    ("on_failed_requirement", "run"),
    ("scheduler", None),
}


@given(option=st.sampled_from(sorted(SCHEDULER_OPTIONS)), value=garbage)
@example(option="jobs_window", value=None)
@example(option="jobs_window", value=2)
@example(option="timeout", value=5)
@example(option="timeout", value=0)
@example(option="shutdown_timeout", value=0)
@example(option="label", value="a")
@example(option="critical", value=False)
@example(option="forever", value=False)
@example(option="requires", value=None)
@example(option="on_failed_requirement", value="run")
@example(option="scheduler", value=None)
def test_scheduler_options_refuse_garbage_by_name(option: str, value: Any) -> None:
    job = jg.Job(work, 1)

    def build() -> jg.Scheduler:
        return jg.Scheduler(job, **{option: value})

    accepted, scheduler = refused_naming(build, SCHEDULER_OPTIONS[option])
    if listed(option, value, SCHEDULER_ACCEPTS):
        assert accepted, f"Scheduler refused {option}={value!r}"
    if not accepted:
        return
    # what was accepted runs as it says
    top = scheduler if scheduler.scheduler is None else scheduler.scheduler
    ok = runs_fine(top)
    if option == "timeout":
        check_timeout_outcome(ok, value, top.why())
    else:
        assert ok, f"a scheduler with {option}={value!r} failed: {top.why()}"
        assert job.result() == 1
    if option in ("critical", "forever"):
        assert getattr(scheduler, option) is bool(value)


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


LIMITS_ACCEPT = {("timeout", None), ("timeout", 0), ("timeout", 5), ("jobs_window", None)}
LIMITS_ACCEPT |= {("jobs_window", 1)}


@given(option=st.sampled_from(["timeout", "jobs_window"]), value=garbage)
@example(option="timeout", value=None)
@example(option="timeout", value=0)
@example(option="timeout", value=5)
@example(option="jobs_window", value=None)
@example(option="jobs_window", value=1)
def test_setting_scheduler_limits_refuses_garbage_by_name(option: str, value: Any) -> None:
    scheduler, _, _ = healthy_scheduler()
    before = snapshot(scheduler)
    old = getattr(scheduler, option)
    accepted, _ = refused_naming(lambda: setattr(scheduler, option, value), option)
    if listed(option, value, LIMITS_ACCEPT):
        assert accepted, f"setting {option}={value!r} was refused"
    if not accepted:
        assert getattr(scheduler, option) == old
        check_still_healthy(scheduler, before)
        return
    # what was accepted is kept, and the run follows it
    assert getattr(scheduler, option) == value
    ok = runs_fine(scheduler)
    if option == "timeout":
        check_timeout_outcome(ok, value, scheduler.why())
    else:
        assert ok, scheduler.why()
        assert [job.result() for job in scheduler.jobs] == [1, 2]


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
