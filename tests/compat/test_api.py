"""Every method of the asynciojobs API page, through jobgraph.compat.asynciojobs, on asyncio.

Synchronous tests call ``run()`` (a fresh asyncio loop each time); async tests are pinned
to asyncio since their coroutines use asyncio directly. The trio subset is in
``test_trio.py``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import inspect
import random
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import jobgraph
from jobgraph.compat import asynciojobs as aj
from jobgraph.compat.asynciojobs import (
    AbstractJob,
    Job,
    PrintJob,
    PureScheduler,
    Scheduler,
    Sequence,
    Watch,
)

pytestmark = pytest.mark.anyio

ASYNCIO = pytest.mark.parametrize("anyio_backend", ["asyncio"])


async def sleep_return(delay: float, value: Any) -> Any:
    await asyncio.sleep(delay)
    return value


async def boom(delay: float, message: str = "boom") -> None:
    await asyncio.sleep(delay)
    raise ValueError(message)


async def hang() -> None:
    await asyncio.sleep(3600)


class Tick(AbstractJob):
    """A custom job kind, as apssh's SshJob is: co_run and co_shutdown implemented."""

    def __init__(self, value: int, log: list[str], **kwds: Any) -> None:
        self.value = value
        self.log = log
        super().__init__(**kwds)

    async def co_run(self) -> int:
        self.log.append(f"run {self.value}")
        await asyncio.sleep(0.01)
        return self.value * 10

    async def co_shutdown(self) -> None:
        self.log.append(f"shutdown {self.value}")

    def text_label(self) -> str:
        return f"tick {self.value}"


# -- public names and signatures -------------------------------------------------------


def test_public_names_are_exactly_all() -> None:
    public = {name for name in dir(aj) if not name.startswith("_")} - {
        name for name in dir(aj) if inspect.ismodule(getattr(aj, name))
    }
    assert set(aj.__all__) == public | {"__version__"}
    assert {"AbstractJob", "Job", "PureScheduler", "Scheduler", "Sequence", "PrintJob"} <= public
    assert {"Watch", "set_debug"} <= public
    assert aj.__version__ == "0.21.3"


def test_signatures_match_asynciojobs_when_inspected() -> None:
    def keywords(function: Any) -> dict[str, Any]:
        return {
            name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }

    assert keywords(AbstractJob) == {
        "forever": False,
        "critical": True,
        "label": None,
        "required": None,
        "scheduler": None,
    }
    assert keywords(PureScheduler) == {
        "jobs_window": None,
        "timeout": None,
        "shutdown_timeout": 1,
        "watch": None,
        "verbose": False,
    }
    assert keywords(Sequence) == {"required": None, "scheduler": None}
    assert keywords(Job)["coshutdown"] is None
    assert keywords(Scheduler)["critical"] is True
    assert keywords(PrintJob) == {
        "sleep": None,
        "banner": None,
        "scheduler": None,
        "label": None,
        "required": None,
    }


def test_compat_scheduler_is_a_native_scheduler_and_a_job() -> None:
    scheduler = Scheduler()
    assert isinstance(scheduler, jobgraph.Scheduler)
    assert isinstance(scheduler, AbstractJob)
    assert isinstance(PureScheduler(), jobgraph.Scheduler)
    assert not isinstance(PureScheduler(), AbstractJob)


def test_job_and_scheduler_are_critical_when_not_told() -> None:
    job = Job(sleep_return(0, 1))
    assert job.is_critical() and Scheduler().is_critical()
    assert not Job(sleep_return(0, 1), critical=False).is_critical()
    job.close()


def test_critical_and_forever_take_any_value_by_its_truth_as_asynciojobs_does() -> None:
    # the native jobs take True or False only; the drop-in keeps asynciojobs' leniency
    jobs = [
        Job(sleep_return(0, 1), critical=0, forever=1),
        Job(sleep_return(0, 1), critical="yes", forever=None),
    ]
    assert [(job.is_critical(), job.forever) for job in jobs] == [(False, True), (True, False)]
    assert not Scheduler(critical=0).is_critical()  # type: ignore[arg-type]
    assert Scheduler(forever="yes").forever is True  # type: ignore[arg-type]
    for job in jobs:
        job.close()


def test_job_rejects_keywords_asynciojobs_does_not_know() -> None:
    coroutine = sleep_return(0, 1)
    with pytest.raises(TypeError, match="requires"):
        Job(coroutine, requires=None)
    coroutine.close()


# -- run, co_run and results -------------------------------------------------------------


def test_run_returns_true_and_results_when_all_jobs_complete() -> None:
    a = Job(sleep_return(0.05, "a"))
    b = Job(sleep_return(0.01, "b"), required=a)
    scheduler = Scheduler(a, b)
    assert scheduler.run() is True
    assert (a.result(), b.result()) == ("a", "b")
    assert a.is_done() and b.is_done() and a.raised_exception() is None
    assert scheduler.why() == "FINE"
    assert not scheduler.failed_critical() and not scheduler.failed_time_out()


def test_result_is_none_when_job_not_done_or_failed() -> None:
    a = Job(boom(0.01), critical=False)
    b = Job(hang(), forever=True)
    idle = Job(sleep_return(0, 1))
    scheduler = Scheduler(a, b, critical=False)
    assert a.result() is None
    assert scheduler.run() is True
    assert a.result() is None and isinstance(a.raised_exception(), ValueError)
    assert b.result() is None and not b.is_done()
    assert idle.result() is None
    idle.close()


def test_orchestrate_is_an_alias_of_run() -> None:
    scheduler = Scheduler(Job(sleep_return(0, 1)))
    assert scheduler.orchestrate() is True


def test_run_works_again_in_the_same_process() -> None:
    for value in range(3):
        job = Job(sleep_return(0.01, value))
        assert Scheduler(job).run() is True
        assert job.result() == value


def test_run_twice_reruns_jobs_and_coroutines_cannot_run_again() -> None:
    log: list[str] = []
    tick = Tick(1, log)
    scheduler = Scheduler(tick)
    assert scheduler.run() is True
    assert scheduler.run() is True
    assert log == ["run 1", "shutdown 1", "run 1", "shutdown 1"]
    job = Job(sleep_return(0, 1))
    once = Scheduler(job)
    assert once.run() is True
    with pytest.raises(RuntimeError, match="reuse"):
        once.run()


@ASYNCIO
async def test_co_run_returns_bool_inside_a_running_loop() -> None:
    job = Job(sleep_return(0.01, 3))
    assert await Scheduler(job).co_run() is True
    assert job.result() == 3


@ASYNCIO
async def test_run_called_from_a_running_loop_runs_on_a_helper_thread() -> None:
    job = Job(sleep_return(0.01, 4))
    scheduler = Scheduler(job)
    assert scheduler.run() is True
    assert job.result() == 4
    # the caller's loop is untouched and still usable
    assert await sleep_return(0, 5) == 5


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_run_called_from_trio_runs_on_a_helper_thread() -> None:
    job = Job(sleep_return(0.01, 6))
    assert Scheduler(job).run() is True
    assert job.result() == 6
    assert await anyio.to_thread.run_sync(lambda: 7) == 7  # trio is still fine


@ASYNCIO
async def test_run_from_a_running_loop_raises_what_co_run_raises() -> None:
    scheduler = Scheduler(Job(boom(0.01, "inner")))
    with pytest.raises(ValueError, match="inner"):
        scheduler.run()


@ASYNCIO
async def test_co_run_works_when_called_from_inside_a_job() -> None:
    inner_job = Job(sleep_return(0.01, "inner"))
    inner = Scheduler(inner_job)
    outer_job = Job(inner.co_run())
    assert await Scheduler(outer_job).co_run() is True
    assert outer_job.result() is True and inner_job.result() == "inner"


def test_critical_scheduler_raises_the_failed_job_exception() -> None:
    failing = Job(boom(0.01, "the original"), label="failing")
    slow = Job(hang(), label="slow")
    scheduler = Scheduler(failing, slow)
    with pytest.raises(ValueError, match="the original") as caught:
        scheduler.run()
    assert caught.value is failing.raised_exception()
    assert scheduler.failed_critical() and not scheduler.failed_time_out()
    assert scheduler.why() == "a CRITICAL job has raised an exception"
    assert slow.is_running() and not slow.is_done()


def test_non_critical_scheduler_returns_false_when_critical_job_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scheduler = Scheduler(Job(boom(0.01)), critical=False)
    assert scheduler.run() is False
    assert scheduler.failed_critical()
    assert "Emergency exit upon exception in critical job" in capsys.readouterr().out


def test_pure_scheduler_returns_false_rather_than_raise() -> None:
    scheduler = PureScheduler(Job(boom(0.01)))
    assert scheduler.run() is False
    timed = PureScheduler(Job(hang()), timeout=0.05)
    assert timed.run() is False
    assert timed.failed_time_out()


def test_critical_scheduler_raises_timeout_error_on_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scheduler = Scheduler(Job(hang()), timeout=0.05)
    with pytest.raises(TimeoutError):
        scheduler.run()
    assert scheduler.failed_time_out() and not scheduler.failed_critical()
    assert scheduler.why() == "TIMED OUT after 0.05s"
    assert "PureScheduler.co_run: TIMEOUT occurred" in capsys.readouterr().out


def test_non_critical_job_failure_does_not_stop_the_run() -> None:
    a = Job(boom(0.01, "soft"), critical=False, label="soft")
    b = Job(sleep_return(0.01, "after"), required=a)
    scheduler = Scheduler(a, b)
    assert scheduler.run() is True
    assert str(a.raised_exception()) == "soft" and b.result() == "after"


def test_empty_scheduler_runs_fine() -> None:
    assert Scheduler().run() is True
    assert PureScheduler().run() is True


def test_cycle_raises_before_running() -> None:
    a = Job(sleep_return(0, 1))
    b = Job(sleep_return(0, 2), required=a)
    a.requires(b)
    scheduler = Scheduler(a, b)
    assert scheduler.check_cycles() is False
    with pytest.raises(ValueError, match="cycle"):
        scheduler.run()
    scheduler.close_all_jobs()


def test_check_cycles_sees_nested_schedulers() -> None:
    a = Job(sleep_return(0, 1))
    b = Job(sleep_return(0, 2), required=a)
    a.requires(b)
    outer = Scheduler(Scheduler(a, b))
    assert outer.check_cycles() is False
    outer.close_all_jobs()
    assert Scheduler(Scheduler(Job(sleep_return(0, 1)))).check_cycles() is True


# -- window, timeout, forever ----------------------------------------------------------


def test_window_caps_concurrent_jobs() -> None:
    running = peak = 0

    async def tracked() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    scheduler = Scheduler(*(Job(tracked()) for _ in range(8)), jobs_window=3)
    assert scheduler.run() is True
    assert peak == 3


@pytest.mark.parametrize("window", [None, 0])
def test_window_none_or_zero_means_no_limit(window: int | None) -> None:
    running = peak = 0

    async def tracked() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    scheduler = Scheduler(*(Job(tracked()) for _ in range(6)), jobs_window=window)
    assert scheduler.jobs_window is None
    assert scheduler.run() is True
    assert peak == 6


def window_of(scheduler: Scheduler) -> int | None:
    return scheduler.jobs_window


def test_window_can_be_set_after_creation() -> None:
    scheduler = Scheduler(Job(sleep_return(0, 1)), jobs_window=2)
    scheduler.jobs_window = 0
    assert window_of(scheduler) is None
    assert scheduler.run() is True


def test_scheduled_job_waits_for_a_window_slot() -> None:
    first = Job(sleep_return(0.2, 1), label="first")
    second = Job(sleep_return(0, 2), label="second")
    scheduler = Scheduler(first, second, jobs_window=1, timeout=0.1, critical=False)
    assert scheduler.run() is False
    states = {job.label: (job.is_scheduled(), job.is_running()) for job in (first, second)}
    assert states == {"first": (True, True), "second": (True, False)}


def test_forever_job_is_cancelled_when_others_are_done() -> None:
    cancelled = False

    async def daemon() -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled = True
            raise

    forever = Job(daemon(), forever=True)
    scheduler = Scheduler(forever, Job(sleep_return(0.02, 1)))
    started = time.monotonic()
    assert scheduler.run() is True
    assert time.monotonic() - started < 1
    assert cancelled and forever.is_running() and not forever.is_done()


def test_job_requiring_a_forever_job_never_starts() -> None:
    forever = Job(hang(), forever=True, label="daemon")
    follower = Job(sleep_return(0, 1), label="follower", required=forever)
    scheduler = Scheduler(forever, follower, timeout=0.1, critical=False)
    assert scheduler.run() is False
    assert follower.is_idle() and scheduler.failed_time_out()


def test_job_requiring_a_forever_job_starts_if_that_job_returns() -> None:
    forever = Job(sleep_return(0.01, "ended"), forever=True)
    follower = Job(sleep_return(0, 1), required=forever)
    assert Scheduler(forever, follower).run() is True
    assert forever.result() == "ended" and follower.result() == 1


# -- nesting -------------------------------------------------------------------------------


def test_nested_critical_scheduler_failure_raises_original_at_top() -> None:
    inner_failing = Job(boom(0.01, "deep"), label="deep")
    inner = Scheduler(inner_failing, label="inner")
    after = Job(sleep_return(0, 1), required=inner, label="after")
    outer = Scheduler(inner, after, label="outer")
    with pytest.raises(ValueError, match="deep") as caught:
        outer.run()
    assert caught.value is inner_failing.raised_exception()
    assert inner.raised_exception() is caught.value
    assert after.is_idle()


def test_nested_non_critical_scheduler_failure_returns_false_as_its_result() -> None:
    inner = Scheduler(Job(boom(0.01)), critical=False, label="inner")
    after = Job(sleep_return(0, "after"), required=inner)
    outer = Scheduler(inner, after)
    assert outer.run() is True
    assert inner.result() is False and inner.raised_exception() is None
    assert after.result() == "after"


def test_nested_scheduler_timeout_raises_timeout_error_in_parent() -> None:
    inner = Scheduler(Job(hang()), timeout=0.05, label="inner")
    outer = Scheduler(inner, critical=False)
    assert outer.run() is False
    assert isinstance(inner.raised_exception(), TimeoutError)
    assert inner.failed_time_out() and outer.failed_critical()


def test_nested_window_applies_to_inner_jobs_only() -> None:
    running = peak = 0

    async def tracked() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.03)
        running -= 1

    inner = Scheduler(*(Job(tracked()) for _ in range(4)), jobs_window=1)
    outer = Scheduler(inner, Job(tracked()), Job(tracked()))
    assert outer.run() is True
    assert peak == 3  # one inner job at a time, plus the two outer ones


def test_nested_result_of_successful_scheduler_is_true() -> None:
    inner = Scheduler(Job(sleep_return(0, 1)))
    outer = Scheduler(Sequence(Job(sleep_return(0, 0)), inner))
    assert outer.run() is True
    assert inner.result() is True and inner.is_done()


# -- shutdown --------------------------------------------------------------------------


def test_run_shuts_jobs_down_once_at_the_end() -> None:
    log: list[str] = []
    scheduler = Scheduler(Sequence(Tick(1, log), Tick(2, log)))
    assert scheduler.run() is True
    assert log == ["run 1", "run 2", "shutdown 1", "shutdown 2"]
    assert scheduler.shutdown() is True
    assert log.count("shutdown 1") == 1


def test_nested_jobs_get_shutdown_when_their_scheduler_ends() -> None:
    log: list[str] = []
    inner = Scheduler(Tick(1, log))
    outer = Scheduler(Sequence(inner, Tick(2, log)))
    assert outer.run() is True
    assert log == ["run 1", "shutdown 1", "run 2", "shutdown 2"]


def test_shutdown_runs_coshutdown_coroutines() -> None:
    done: list[str] = []

    async def closing(name: str) -> str:
        done.append(name)
        return name

    job = Job(sleep_return(0, 1), coshutdown=closing("bye"))
    scheduler = Scheduler(job)
    assert scheduler.shutdown() is True
    assert done == ["bye"]
    job.close()


def test_shutdown_returns_false_when_it_exceeds_shutdown_timeout() -> None:
    job = Job(sleep_return(0, 1), coshutdown=hang())
    scheduler = Scheduler(job, shutdown_timeout=0.05)
    started = time.monotonic()
    assert scheduler.shutdown() is False
    assert time.monotonic() - started < 1
    job.close()


@ASYNCIO
async def test_co_shutdown_is_a_coroutine() -> None:
    log: list[str] = []
    scheduler = Scheduler(Tick(1, log))
    assert await scheduler.co_shutdown() is True
    assert log == ["shutdown 1"]


# -- coroutines that never run ---------------------------------------------------------


def test_aborted_run_closes_coroutines_of_jobs_that_never_started() -> None:
    never = sleep_return(0, "never")
    after = Job(never, label="after")
    scheduler = Scheduler(Sequence(Job(boom(0.01)), after), critical=False)
    assert scheduler.run() is False
    assert inspect.getcoroutinestate(never) == inspect.CORO_CLOSED
    assert after.is_idle()


def test_removed_job_does_not_warn_when_collected() -> None:
    # filterwarnings=error turns a "never awaited" warning into a failure (via gc)
    scheduler = Scheduler()
    job = scheduler.add(Job(sleep_return(0, 1)))
    scheduler.remove(job)
    del job
    gc.collect()
    assert len(scheduler) == 0


def test_close_idle_jobs_closes_only_idle_ones() -> None:
    ran = sleep_return(0, 1)
    idle = sleep_return(0, 2)
    first = Job(ran)
    scheduler = Scheduler(first, Scheduler(Job(idle)))
    assert first.standalone_run() == 1
    scheduler.close_idle_jobs()
    assert inspect.getcoroutinestate(idle) == inspect.CORO_CLOSED


def test_close_all_jobs_and_job_close_close_every_coroutine() -> None:
    run, shutdown = sleep_return(0, 1), sleep_return(0, 2)
    job = Job(run, coshutdown=shutdown)
    job.close()
    assert inspect.getcoroutinestate(run) == inspect.getcoroutinestate(shutdown) == "CORO_CLOSED"
    other = sleep_return(0, 3)
    Scheduler(Job(other)).close_all_jobs()
    assert inspect.getcoroutinestate(other) == inspect.CORO_CLOSED


def test_sequence_close_idle_jobs() -> None:
    coroutine = sleep_return(0, 1)
    Sequence(Job(coroutine), PrintJob("x")).close_idle_jobs()
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED


# -- jobs: states, labels, requirements ------------------------------------------------


def test_standalone_run_runs_one_job() -> None:
    log: list[str] = []
    assert Tick(4, log).standalone_run() == 40
    assert log == ["run 4"]


def test_life_cycle_predicates_follow_the_run() -> None:
    seen: dict[str, tuple[bool, ...]] = {}
    job: Job

    async def look() -> None:
        seen["inside"] = (job.is_idle(), job.is_scheduled(), job.is_running(), job.is_done())

    job = Job(look())
    seen["before"] = (job.is_idle(), job.is_scheduled(), job.is_running(), job.is_done())
    assert Scheduler(job).run() is True
    seen["after"] = (job.is_idle(), job.is_scheduled(), job.is_running(), job.is_done())
    assert seen == {
        "before": (True, False, False, False),
        "inside": (False, True, True, False),
        "after": (False, True, True, True),
    }


def test_requires_accepts_nested_collections_and_none() -> None:
    j1, j2, j3, j4 = (Job(sleep_return(0, i), label=f"j{i}") for i in range(1, 5))
    seq = Sequence(j3, j4)
    j1.requires(None)
    j1.requires([None], (None,))
    j1.requires(([j2], [[[seq]]]))
    assert set(j1.required) == {j2, j4}
    assert j1.requires(j2, remove=True) is j1
    assert set(j1.required) == {j4}
    with pytest.raises(KeyError):
        j1.requires(j3, remove=True)
    j1.requires(j1)  # asynciojobs silently ignores a job requiring itself
    assert j1 not in j1.required
    for job in (j1, j2, j3, j4):
        job.close()


def test_required_keyword_and_scheduler_keyword() -> None:
    scheduler = Scheduler()
    a = Job(sleep_return(0, 1), scheduler=scheduler, label="a")
    b = Job(sleep_return(0, 2), scheduler=scheduler, required=a)
    c = PrintJob("hello", scheduler=scheduler, required=(a, b), label="c")
    assert set(scheduler.jobs) == {a, b, c}
    assert set(c.required) == {a, b}
    scheduler.close_all_jobs()


def test_labels_default_like_asynciojobs() -> None:
    job = Job(sleep_return(0, 1))
    assert job.text_label() == "Job[sleep_return (...)]"
    assert job.label == "Job[sleep_return (...)]"
    assert Job(asyncio.sleep(0), label="named").label == "named"
    assert Tick(1, []).label == "tick 1"
    assert Scheduler().label == "NOLABEL"
    assert Scheduler(label="x").label == "x"
    assert job.graph_label() is None and job.details() is None
    job.close()


def test_repr_parts_of_a_job() -> None:
    a = Job(sleep_return(0, 5), label="a")
    b = Job(boom(0, "bad"), label="b", required=a, critical=False)
    scheduler = Scheduler(a, b)
    assert a.repr_id() == "??"
    assert a.repr_main() == "<Job `a`>" and a.repr_result() == "[not done]"
    assert scheduler.run() is True
    assert a.repr_id() == "1" and b.repr_requires() == "requires={1}"
    assert a.repr_result() == "[[ -> 5]]"
    assert b.repr_result() == "!! exception => ValueError:bad!!"
    assert repr(a) == "⚠ ☉ ☓   <Job `a`> [[ -> 5]] "
    assert repr(b) == "  ★ ☓   <Job `b`> !! exception => ValueError:bad!! requires={1}"


def test_repr_short_falls_back_to_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    class Latin1:
        encoding = "latin-1"

        def write(self, text: str) -> int:
            return len(text)

    job = Job(sleep_return(0, 1), forever=True)
    monkeypatch.setattr("sys.stdout", Latin1())
    assert job.repr_short() == "!    > 8"
    job.close()


def test_sequence_api() -> None:
    scheduler = Scheduler()
    a, b, c = (Job(sleep_return(0, i), label=str(i)) for i in range(3))
    pre = Job(sleep_return(0, "pre"), label="pre", scheduler=scheduler)
    seq = Sequence(a, b, required=pre, scheduler=scheduler)
    seq.append(c)
    assert list(seq.jobs) == [a, b, c]
    assert set(a.required) == {pre} and set(c.required) == {b}
    assert set(scheduler.jobs) == {pre, a, b, c}
    assert scheduler.run() is True
    late = Job(sleep_return(0, 1))
    Sequence(required=pre).requires(late)  # an empty sequence ignores requirements
    late.close()


# -- scheduler as a set of jobs --------------------------------------------------------


def test_add_returns_the_job_and_update_returns_the_scheduler() -> None:
    scheduler = Scheduler()
    job = Job(sleep_return(0, 1))
    assert scheduler.add(job) is job
    others = [Job(sleep_return(0, 2)), Job(sleep_return(0, 3))]
    assert scheduler.update(others) is scheduler
    assert len(scheduler) == 3 and set(scheduler) == {job, *others}
    assert scheduler.remove(job) is scheduler
    with pytest.raises(KeyError):
        scheduler.remove(job)
    job.close()
    scheduler.close_all_jobs()


def test_jobs_is_a_set_view() -> None:
    a, b = Job(sleep_return(0, 1)), Job(sleep_return(0, 2))
    scheduler = Scheduler(a, b)
    assert scheduler.jobs == {a, b}
    assert scheduler.jobs - {a} == {b}
    scheduler.close_all_jobs()


def test_sanitize_drops_requirements_outside_the_scheduler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outsider = Job(sleep_return(0, 0), label="outsider")
    inner_job = Job(sleep_return(0, 1), label="inner job", required=outsider)
    inner = Scheduler(inner_job, label="inner")
    top = Job(sleep_return(0, 2), label="top", required=outsider)
    scheduler = Scheduler(inner, top, verbose=True)
    assert scheduler.sanitize() is False
    assert "top" in capsys.readouterr().out
    assert not top.required and not inner_job.required
    assert scheduler.sanitize(verbose=False) is True
    assert scheduler.run() is True
    outsider.close()


def test_iterate_jobs_and_topological_order() -> None:
    a = Job(sleep_return(0, 1), label="a")
    inner_job = Job(sleep_return(0, 2), label="i")
    inner = Scheduler(inner_job, label="inner", required=a)
    scheduler = Scheduler(inner, a)
    assert list(scheduler.iterate_jobs()) == [inner_job, a]
    assert list(scheduler.iterate_jobs(scan_schedulers=True)) == [scheduler, inner, inner_job, a]
    assert list(scheduler.topological_order()) == [a, inner]
    scheduler.close_all_jobs()


def test_stats_and_repr_count_done_running_idle() -> None:
    a = Job(sleep_return(0, 1))
    b = Job(hang(), forever=True)
    c = Job(sleep_return(0, 1), required=b)
    scheduler = Scheduler(a, b, c, timeout=0.05, critical=False)
    assert scheduler.stats() == "0D + 0R + 3I = 3"
    assert scheduler.run() is False
    assert scheduler.stats() == "1D + 1R + 1I = 3"
    assert repr(scheduler) == "Scheduler with 1 done + 1 ongoing + 1 idle = 3 job(s)"
    assert repr(PureScheduler()) == "PureScheduler with 0 done + 0 ongoing + 0 idle = 0 job(s)"


# -- helpers -----------------------------------------------------------------------------


def test_print_job_prints_and_sleeps(capsys: pytest.CaptureFixture[str]) -> None:
    job = PrintJob("hello", "world", sleep=0.01, banner="==", label="p")
    assert Scheduler(job).run() is True
    assert capsys.readouterr().out == "== hello world\nSleeping for 0.01s\n"
    assert job.details() == "[+ sleep 0.01s] msg= hello..."
    assert PrintJob("one").details() == "msg= one"


def test_abstract_job_without_co_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    class Lazy(AbstractJob):
        pass

    job = Lazy()
    assert Scheduler(job).run() is True
    out = capsys.readouterr().out
    assert "co_run() is not implemented on class Lazy" in out
    assert "co_shutdown() is not implemented on class Lazy" in out


def test_watch_prints_elapsed_and_wall_clock(capsys: pytest.CaptureFixture[str]) -> None:
    watch = Watch("start")
    assert capsys.readouterr().out == "000.000  start\n"
    time.sleep(0.02)
    assert 0.02 <= watch.seconds() < 1
    assert watch.elapsed().startswith("000.0") and len(watch.elapsed()) == 7
    watch.print_elapsed("x")
    assert capsys.readouterr().out.endswith(" x")
    watch.reset()
    assert watch.seconds() < 0.02
    Watch.print_wall_clock()
    clock = capsys.readouterr().out
    assert len(clock) == len("12:34:56.789 ") and clock[2] == ":" and clock[8] == "."
    Watch("quiet", show_elapsed=False, show_wall_clock=True)
    assert capsys.readouterr().out.endswith(" quiet\n")


def test_verbose_and_set_debug_print_progress(capsys: pytest.CaptureFixture[str]) -> None:
    scheduler = Scheduler(Job(sleep_return(0, 1), label="talky"), verbose=True)
    assert scheduler.run() is True
    out = capsys.readouterr().out
    assert "STARTING" in out and "DONE" in out and "talky" in out
    assert "SCHEDULER 0D + 0R + 1I = 1: entering co_run() with 1 jobs" in out
    assert "scheduler is shutting down..." in out
    quiet = Scheduler(Job(sleep_return(0, 1), label="quiet"))
    assert quiet.run() is True
    assert capsys.readouterr().out == ""
    aj.set_debug(True)
    try:
        assert Scheduler(Job(sleep_return(0, 1), label="debugged")).run() is True
    finally:
        aj.set_debug(False)
    assert "debugged" in capsys.readouterr().out


def test_watch_timestamps_scheduler_messages(capsys: pytest.CaptureFixture[str]) -> None:
    watch = Watch(show_elapsed=False)
    scheduler = Scheduler(Job(hang()), timeout=0.05, watch=watch, critical=False)
    assert scheduler.run() is False
    out = capsys.readouterr().out
    assert out.startswith("000.") and "TIMEOUT occurred" in out


# -- graph algebra and views -----------------------------------------------------------


def diamond() -> tuple[Scheduler, list[Job]]:
    a = Job(sleep_return(0, "a"), label="a")
    b = Job(sleep_return(0, "b"), label="b", required=a)
    c = Job(sleep_return(0, "c"), label="c", required=a)
    d = Job(sleep_return(0, "d"), label="d", required=(b, c))
    m = Job(hang(), label="m", forever=True)
    return Scheduler(a, b, c, d, m), [a, b, c, d, m]


def test_entry_and_exit_jobs() -> None:
    scheduler, (a, _b, _c, d, m) = diamond()
    assert list(scheduler.entry_jobs()) == [a, m]
    assert list(scheduler.exit_jobs()) == [d]
    assert list(scheduler.exit_jobs(discard_forever=False, compute_backlinks=False)) == [d, m]
    scheduler.close_all_jobs()


def test_neighbours_and_closures() -> None:
    scheduler, (a, b, c, d, _m) = diamond()
    assert scheduler.predecessors(d) == {b, c}
    assert set(scheduler.successors(a)) == {b, c}
    assert set(scheduler.successors(a, compute_backlinks=False)) == {b, c}
    assert scheduler.predecessors_upstream(d) == {a, b, c}
    assert scheduler.successors_downstream(a) == {b, c, d}
    assert scheduler.successors_downstream(b, compute_backlinks=False) == {d}
    scheduler.close_all_jobs()


def test_bypass_and_remove_keeps_the_logic() -> None:
    scheduler, (a, b, c, d, _m) = diamond()
    scheduler.bypass_and_remove(b)
    assert b not in scheduler.jobs and set(d.required) == {c, a}
    with pytest.raises(ValueError, match="not in"):
        scheduler.bypass_and_remove(b)
    b.close()
    scheduler.close_all_jobs()


def test_keep_only_and_keep_only_between() -> None:
    scheduler, (a, b, c, d, m) = diamond()
    scheduler.keep_only([a, b, d])
    assert set(scheduler.jobs) == {a, b, d} and set(d.required) == {b}
    other, (oa, ob, oc, od, om) = diamond()
    other.keep_only_between(starts=[ob], ends=[od])
    assert set(other.jobs) == {ob, od}
    for job in (c, m, oa, oc, om):
        job.close()
    scheduler.close_all_jobs()
    other.close_all_jobs()


def test_list_details_and_list_safe(capsys: pytest.CaptureFixture[str]) -> None:
    a = PrintJob("hello", sleep=0.01, label="greet")
    b = Job(sleep_return(0, 1), label="b", required=a)
    scheduler = Scheduler(a, b)
    scheduler.list(details=True)
    assert capsys.readouterr().out.splitlines() == [
        "1 ⚠   ⚐   <PrintJob `greet`> [not done] ",
        "[+ sleep 0.01s] msg= hello",
        "2 ⚠   ⚐   <Job `b`> [not done] requires={1}",
    ]
    b.requires(b)  # ignored
    a.requires(b)  # a cycle: list() cannot sort it, list_safe() can
    scheduler.list_safe()
    assert capsys.readouterr().out.splitlines() == [
        "⚠   ⚐   1 <PrintJob `greet`> requires={2}",
        "⚠   ⚐   2 <Job `b`> requires={1}",
    ]
    with pytest.raises(ValueError, match="cycle"):
        scheduler.list()
    scheduler.close_all_jobs()


def test_list_silence_done_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    done = Job(sleep_return(0, 1), label="done")
    failed = Job(boom(0), label="failed", critical=False)
    forever = Job(hang(), label="forever", forever=True)
    scheduler = Scheduler(done, failed, forever)
    assert scheduler.run() is True
    capsys.readouterr()
    scheduler.list(silence_done_jobs=True)
    # done jobs, failed or not, are left out; the cancelled forever job is not done
    assert capsys.readouterr().out.splitlines() == ["3 ⚠ ☉ ↺ ∞ <Job `forever`> [not done] "]


def test_dot_format_and_graphic_exports(tmp_path: Path) -> None:
    inner = Scheduler(Job(sleep_return(0, 1), label="inner job"), label="inner")
    scheduler = Scheduler(Sequence(Job(sleep_return(0, 0), label="first"), inner))
    dot = scheduler.dot_format()
    assert dot.startswith("digraph") and "cluster_2" in dot and "inner job" in dot
    if shutil.which("dot"):
        png = scheduler.export_as_pngfile(str(tmp_path / "g"))
        svg = scheduler.export_as_svgfile(str(tmp_path / "g"))
        assert Path(png).stat().st_size > 0 and Path(svg).read_text().lstrip().startswith("<")
        assert (tmp_path / "g.dot").exists()
    scheduler.close_all_jobs()


def test_graph_uses_graphviz_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    class Source:
        def __init__(self, source: str) -> None:
            made.append(source)

    fake = types.ModuleType("graphviz")
    fake.Source = Source  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    scheduler = Scheduler(PrintJob("x", label="x"))
    assert isinstance(scheduler.graph(), Source)
    assert made == [scheduler.dot_format()]


def scans_model(jobs: list[Any]) -> list[Any]:
    """asynciojobs' topological order, done the slow way: scan again and again."""
    taken: list[Any] = []
    while len(taken) < len(jobs):
        for job in jobs:
            if job not in taken and all(r in taken for r in job.required):
                taken.append(job)
    return taken


def random_graph(rng: random.Random, module: Any, order: list[int] | None = None) -> Any:
    size = rng.randint(1, 12)
    edges = [(i, j) for i in range(size) for j in range(i) if rng.random() < 0.3]
    if order is None:
        order = rng.sample(range(size), size)
    jobs = {k: module.PrintJob(str(k), label=str(k)) for k in range(size)}
    for i, j in edges:
        jobs[i].requires(jobs[j])
    scheduler = module.Scheduler()
    for k in order:
        scheduler.add(jobs[k])
    return scheduler


def test_topological_order_is_asynciojobs_scan_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        scheduler = random_graph(rng, aj)
        assert list(scheduler.topological_order()) == scans_model(list(scheduler.jobs))


@pytest.mark.skipif(
    importlib.util.find_spec("asynciojobs") is None, reason="asynciojobs is not installed"
)
def test_topological_order_matches_the_original() -> None:
    import asynciojobs

    for seed in range(200):
        theirs = random_graph(random.Random(seed), asynciojobs)
        order = [int(job.label) for job in theirs.jobs]  # the order of their set
        ours = random_graph(random.Random(seed), aj, order)
        assert [job.label for job in ours.topological_order()] == [
            job.label for job in theirs.topological_order()
        ]


def test_job_class_may_use_timeout_for_itself() -> None:
    class Remote(AbstractJob):
        def __init__(self, timeout: float, **kwds: Any) -> None:
            super().__init__(**kwds)
            self.timeout = timeout  # the command's own timeout, not a job deadline

        async def co_run(self) -> str:
            await asyncio.sleep(0.05)
            return f"ran with timeout {self.timeout}"

        async def co_shutdown(self) -> None:
            return None

    job = Remote(0.01)
    assert Scheduler(job, timeout=2).run() is True
    assert job.result() == "ran with timeout 0.01" and job.timeout == 0.01


def test_critical_forever_job_failure_aborts_the_run() -> None:
    async def crashing_daemon() -> None:
        await asyncio.sleep(0.01)
        raise OSError("daemon died")

    daemon = Job(crashing_daemon(), forever=True, label="daemon")
    slow = Job(hang(), label="slow")
    scheduler = Scheduler(daemon, slow, critical=False)
    assert scheduler.run() is False
    assert scheduler.failed_critical()
    assert isinstance(daemon.raised_exception(), OSError) and daemon.is_done()
    assert slow.is_running() and not slow.is_done()


def test_job_class_hooks_shape_listings_and_drawings(capsys: pytest.CaptureFixture[str]) -> None:
    class Shell(AbstractJob):
        def __init__(self, command: str, **kwds: Any) -> None:
            self.command = command
            super().__init__(**kwds)

        async def co_run(self) -> int:
            return 0

        async def co_shutdown(self) -> None:
            return None

        def text_label(self) -> str:
            return f"run {self.command}"

        def graph_label(self) -> str:
            return f"shell\n{self.command}"  # a line break in the drawing

        def details(self) -> str:
            return f"$ {self.command}"

    job = Shell("ls -l")
    scheduler = Scheduler(job)
    assert '"1" [label="shell\\nls -l"' in scheduler.dot_format()
    scheduler.list(details=True)
    assert capsys.readouterr().out.splitlines() == [
        "1 ⚠   ⚐   <Shell `run ls -l`> [not done] ",
        "$ ls -l",
    ]
