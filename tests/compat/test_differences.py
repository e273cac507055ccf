"""Where jobgraph.compat.asynciojobs knowingly differs from asynciojobs 0.21.3.

Each test shows one difference listed in docs/migrating.md. Where asynciojobs is
installed, some tests also run the original to show its behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import sys
import time
from typing import Any

import pytest

import jobgraph
from jobgraph.compat.asynciojobs import Job, PrintJob, Scheduler, Sequence

HAVE_ASYNCIOJOBS = importlib.util.find_spec("asynciojobs") is not None
needs_original = pytest.mark.skipif(not HAVE_ASYNCIOJOBS, reason="asynciojobs not installed")


async def nap(delay: float, value: Any = None) -> Any:
    await asyncio.sleep(delay)
    return value


async def fail(delay: float) -> None:
    await asyncio.sleep(delay)
    raise ValueError("failed")


def test_failing_job_gives_back_its_window_slot() -> None:
    failing = Job(fail(0.01), critical=False, label="failing")
    after = [Job(nap(0.01, i)) for i in range(3)]
    scheduler = Scheduler(Sequence(failing, *after), jobs_window=1, timeout=2)
    assert scheduler.run() is True
    assert [job.result() for job in after] == [0, 1, 2]


@needs_original
def test_original_leaks_the_window_slot_of_a_failing_job() -> None:
    import asynciojobs

    failing = asynciojobs.Job(fail(0.01), critical=False)
    after = asynciojobs.Job(nap(0.01, "after"), required=failing)
    scheduler = asynciojobs.Scheduler(failing, after, jobs_window=1, timeout=0.3, critical=False)
    assert scheduler.run() is False  # 'after' waits for a slot that never frees
    assert scheduler.failed_time_out()
    assert not after.is_running()
    after.close()


def test_forever_job_takes_no_window_slot() -> None:
    monitor = Job(nap(3600), forever=True, label="monitor")
    work = [Job(nap(0.01, i)) for i in range(3)]
    scheduler = Scheduler(monitor, *work, jobs_window=1, timeout=2)
    assert scheduler.run() is True
    assert [job.result() for job in work] == [0, 1, 2]


def test_cancelled_jobs_are_awaited_not_abandoned(caplog: pytest.LogCaptureFixture) -> None:
    # asynciojobs waits up to 3 seconds for cancelled jobs, then leaves them pending;
    # here they get shutdown_timeout to end, are then reported, and are still awaited
    ended: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:  # swallow every cancellation for 0.3s
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.01)
            ended.append("stubborn")
            raise

    job = Job(stubborn(), forever=True, label="stubborn")
    scheduler = Scheduler(job, Job(nap(0.01)), shutdown_timeout=0.05)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="jobgraph"):
        assert scheduler.run() is True
    assert 0.25 < time.monotonic() - started < 2
    assert ended == ["stubborn"]
    assert scheduler.stragglers == (job,)
    assert "ignores cancellation" in caplog.text


def test_cancelled_job_that_behaves_costs_no_wait() -> None:
    scheduler = Scheduler(Job(nap(3600), forever=True), Job(nap(0.01)))
    started = time.monotonic()
    assert scheduler.run() is True
    assert time.monotonic() - started < 0.5


def test_result_of_a_job_not_done_is_none() -> None:
    job = Job(nap(0, 1))
    assert job.result() is None  # asynciojobs 0.21 raises ValueError("job not finished")
    job.close()


def test_failed_time_out_is_a_bool() -> None:
    scheduler = Scheduler(Job(nap(10)), timeout=0.05, critical=False)
    assert scheduler.run() is False
    assert scheduler.failed_time_out() is True  # asynciojobs returns the timeout, 0.05


def test_shutdown_after_run_returns_the_outcome_of_the_first_one() -> None:
    scheduler = Scheduler(PrintJob("x"))
    assert scheduler.run() is True
    assert scheduler.shutdown() is True  # asynciojobs returns None


def test_sanitize_is_true_for_a_clean_nested_graph() -> None:
    scheduler = Scheduler(Scheduler(Job(nap(0))))
    assert scheduler.sanitize() is True  # asynciojobs: False as soon as one is nested
    scheduler.close_all_jobs()


def test_job_in_two_schedulers_runs_in_the_first_only() -> None:
    job = Job(nap(0), label="shared")
    first = Scheduler(job, label="first")
    second = Scheduler(label="second")
    second.add(job)  # accepted, as asynciojobs does (apssh's tests build such graphs)
    assert job in first.jobs and job not in second.jobs
    with pytest.raises(jobgraph.OwnershipError, match=r"'shared'.*'second'.*'first'"):
        second.run()  # refused before anything runs
    assert job.is_idle()
    assert first.run() is True
    assert job.is_done()


def test_a_nested_scheduler_holding_a_job_of_another_is_refused_when_it_runs() -> None:
    job = Job(nap(0), label="shared")
    first = Scheduler(job, label="first")
    inner = Scheduler(label="inner")
    inner.add(job)
    outer = Scheduler(inner, label="outer")
    with pytest.raises(jobgraph.OwnershipError, match="'shared'"):
        outer.run()
    assert first.run() is True


def test_a_job_given_up_by_its_scheduler_joins_the_one_it_was_added_to() -> None:
    job = Job(nap(0), label="moved")
    first = Scheduler(job)
    second = Scheduler()
    second.add(job)
    first.remove(job)
    assert second.run() is True
    assert job in second.jobs and job.is_done()


def test_the_native_scheduler_refuses_a_job_of_another() -> None:
    job = jobgraph.Job(nap, 0, label="native")
    first = jobgraph.Scheduler(job)
    with pytest.raises(jobgraph.OwnershipError, match="'native'"):
        jobgraph.Scheduler(job)
    assert job in first.jobs


def test_requirement_outside_the_scheduler_fails_before_running() -> None:
    outsider = Job(nap(0), label="outsider")
    inside = Job(nap(0), label="inside", required=outsider)
    scheduler = Scheduler(inside)
    with pytest.raises(jobgraph.UnknownRequirementError, match="outsider"):
        scheduler.run()  # asynciojobs waits for 'outsider' forever
    outsider.close()
    inside.close()


def test_critical_timeout_names_the_scheduler() -> None:
    scheduler = Scheduler(Job(nap(10)), timeout=0.05, label="slow one")
    with pytest.raises(TimeoutError, match="slow one") as caught:
        scheduler.run()
    assert isinstance(caught.value, jobgraph.SchedulerTimeoutError)


def test_label_is_computed_when_not_given() -> None:
    job = Job(nap(0))
    assert job.label == "Job[nap (...)]"  # asynciojobs: None
    job.close()


def test_jobs_start_in_insertion_order() -> None:
    order: list[int] = []

    async def note(index: int) -> None:
        order.append(index)

    assert Scheduler(*(Job(note(i)) for i in range(20))).run() is True
    assert order == list(range(20))  # asynciojobs: the order of a set


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's parser uses old pyparsing
def test_graph_returns_a_pydot_graph_without_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    pydot = pytest.importorskip("pydot")
    monkeypatch.setitem(sys.modules, "graphviz", None)  # not installed (it may be here)
    scheduler = Scheduler(PrintJob("x", label="x"))
    assert isinstance(scheduler.graph(), pydot.Dot)  # asynciojobs: graphviz.Source
