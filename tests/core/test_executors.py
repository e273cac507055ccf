"""Executors in the engine: the event loop, threads and local processes."""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import jobgraph as jg

pytestmark = pytest.mark.anyio


# bodies must be importable by the worker processes: module-level functions
def square(x: int) -> int:
    return x * x


async def async_pid(x: int) -> tuple[int, int]:
    await anyio.lowlevel.checkpoint()
    return x, os.getpid()


def pid_of_body() -> int:
    return os.getpid()


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "spun"


def interval(seconds: float) -> tuple[float, float, int]:
    start = time.time()
    time.sleep(seconds)
    return start, time.time(), os.getpid()


def boom(message: str) -> None:
    raise ValueError(message)


def die_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


async def value(x: Any) -> Any:
    return x


@pytest.fixture
def processes() -> jg.ProcessExecutor:
    return jg.ProcessExecutor(max_workers=2)


async def test_results_and_placeholders_cross_executors(processes: jg.ProcessExecutor) -> None:
    threads = jg.ThreadExecutor()
    a = jg.Job(value, 3, label="loop")
    b = jg.Job(square, jg.ResultOf(a), executor=processes, label="process")
    c = jg.Job(square, jg.ResultOf(b, lambda v: v + 1), executor=threads, label="thread")
    d = jg.Job(async_pid, jg.ResultOf(c), executor=processes, label="async in process")
    scheduler = jg.Scheduler(a, b, c, d)
    assert await scheduler.run()
    assert (a.result(), b.result(), c.result()) == (3, 9, 100)
    x, pid = d.result()
    assert x == 100 and pid != os.getpid()
    assert a.worker is None
    assert b.worker is not None and b.worker.startswith("pid ")
    assert d.worker == f"pid {pid}"
    assert c.worker is not None and c.worker.startswith("thread ")


async def test_scheduler_executor_is_inherited_and_overridden() -> None:
    threads = jg.ThreadExecutor(max_workers=2)

    async def where() -> str:
        return threading.current_thread().name

    inherited = jg.Job(where, label="inherited")
    in_loop = jg.Job(where, executor=jg.LoopExecutor(), label="in loop")
    inner = jg.Scheduler(inherited, in_loop, label="inner")
    outer = jg.Scheduler(inner, executor=threads)
    assert await outer.run()
    assert inherited.result() != threading.current_thread().name
    assert inherited.worker is not None
    assert in_loop.result() == threading.current_thread().name and in_loop.worker is None


async def test_process_pool_runs_in_parallel_and_respects_the_window(
    processes: jg.ProcessExecutor,
) -> None:
    jobs = [jg.Job(interval, 0.3, executor=processes) for _ in range(4)]
    assert await jg.Scheduler(*jobs, jobs_window=1).run()
    spans = sorted(job.result() for job in jobs)
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert start >= end - 0.01  # one at a time
    # a second process starts while the first one works (its start-up takes a while)
    jobs = [jg.Job(interval, 2, executor=processes) for _ in range(2)]
    assert await jg.Scheduler(*jobs).run()
    (s1, e1, p1), (s2, e2, p2) = (job.result() for job in jobs)
    assert p1 != p2 and max(s1, s2) < min(e1, e2)  # both at once, in two processes


async def test_timeout_kills_the_busy_process_and_the_run_does_not_wait(
    processes: jg.ProcessExecutor,
) -> None:
    busy = jg.Job(spin, 60, executor=processes, timeout=0.5, critical=False, label="busy")
    scheduler = jg.Scheduler(busy)
    start = time.monotonic()
    assert await scheduler.run()
    assert time.monotonic() - start < 10
    assert isinstance(busy.exception, jg.JobTimeoutError)


async def test_scheduler_timeout_and_abort_reach_process_jobs(
    processes: jg.ProcessExecutor,
) -> None:
    busy = jg.Job(spin, 60, executor=processes, label="busy")
    scheduler = jg.Scheduler(busy, timeout=0.5)
    start = time.monotonic()
    assert not await scheduler.run()
    assert scheduler.failed_time_out() and busy.cancelled
    bad = jg.Job(boom, "critical", executor=processes, label="bad")
    busy2 = jg.Job(spin, 60, executor=processes, label="busy2")
    scheduler = jg.Scheduler(bad, busy2)
    assert not await scheduler.run()
    assert "'bad'" in scheduler.why() and busy2.cancelled
    assert time.monotonic() - start < 15


async def test_body_exception_travels_back(processes: jg.ProcessExecutor) -> None:
    job = jg.Job(boom, "from afar", executor=processes, critical=False)
    assert await jg.Scheduler(job).run()
    assert isinstance(job.exception, ValueError) and str(job.exception) == "from afar"
    assert job.worker is not None and job.worker.startswith("pid ")


async def test_process_killed_mid_job_is_worker_lost_and_retried(
    processes: jg.ProcessExecutor, tmp_path: Path
) -> None:
    marker = str(tmp_path / "marker")
    lost = jg.Job(die_once, marker, executor=processes, critical=False, label="lost")
    other = jg.Job(interval, 0.2, executor=processes, label="other")
    assert await jg.Scheduler(lost, other).run()
    assert isinstance(lost.exception, jg.WorkerLostError)
    assert "'lost'" in str(lost.exception)
    assert other.result()  # nothing else is lost
    os.unlink(marker)
    retried = jg.Job(die_once, marker, executor=processes, retry=jg.Retry(2), label="retried")
    assert await jg.Scheduler(retried).run()
    assert retried.result() == "survived" and retried.attempts == 2


async def test_unpicklable_body_and_argument_are_named(processes: jg.ProcessExecutor) -> None:
    def local_body() -> None:  # not importable: plain pickle refuses it
        pass

    body = jg.Job(local_body, executor=processes, critical=False, label="local")
    arg = jg.Job(square, threading.Lock(), executor=processes, critical=False, label="lock")
    kwarg = jg.Job(boom, kwargs={"message": threading.Lock()}, executor=processes, critical=False)
    assert await jg.Scheduler(body, arg, kwarg).run()
    assert isinstance(body.exception, jg.SerializationError)
    assert "'local'" in str(body.exception) and "body" in str(body.exception)
    assert isinstance(arg.exception, jg.SerializationError)
    assert "argument 1" in str(arg.exception) and "lock" in str(arg.exception)
    assert isinstance(kwarg.exception, jg.SerializationError)
    assert "keyword argument 'message'" in str(kwarg.exception)
    assert isinstance(body.exception, jg.JobGraphError)


async def test_thread_executor_runs_plain_and_async_bodies() -> None:
    threads = jg.ThreadExecutor(max_workers=1)
    plain = jg.Job(square, 7, executor=threads)
    in_thread = jg.Job(async_pid, 1, executor=threads)
    assert await jg.Scheduler(plain, in_thread).run()
    assert plain.result() == 49 and in_thread.result() == (1, os.getpid())


async def test_plain_function_in_the_event_loop_fails_its_job_pointing_to_executors() -> None:
    # any callable is accepted (a lambda may return a coroutine); a plain function's
    # job fails when it runs in the event loop, and the error says to give an executor
    in_loop = jg.Job(square, 2, label="default", critical=False)
    explicit = jg.Job(square, 2, label="loop", critical=False, executor=jg.LoopExecutor())
    assert await jg.Scheduler(in_loop, explicit).run()
    for job in (in_loop, explicit):
        assert isinstance(job.exception, jg.JobDefinitionError)
        assert re.search(r"async function.*executor=", str(job.exception))
        assert repr(job.label) in str(job.exception)


def test_options_are_checked() -> None:
    with pytest.raises(jg.JobDefinitionError, match="executor must be an Executor"):
        jg.Job(value, 2, executor="processes")  # type: ignore[arg-type]
    with pytest.raises(jg.JobDefinitionError, match="executor must be an Executor"):
        jg.Scheduler(executor=3)  # type: ignore[arg-type]
    with pytest.raises(jg.InvalidOptionError, match="max_workers"):
        jg.ProcessExecutor(max_workers=0)

    async def ready(task_status: jg.TaskStatusLike) -> None:
        task_status.started()

    with pytest.raises(jg.JobDefinitionError, match="task_status"):
        jg.Job(ready, executor=jg.ThreadExecutor())


async def test_executor_outside_a_run_is_refused() -> None:
    job = jg.Job(square, 2, label="alone", executor=jg.ThreadExecutor())
    with pytest.raises(jg.RunStateError, match=r"'alone'.*not started"):
        await jg.ThreadExecutor().call(job, square, (2,), {})


async def test_plain_body_inheriting_the_loop_fails_clearly() -> None:
    job = jg.Job(square, 2, executor=jg.ThreadExecutor(), critical=False, label="plain")
    job.executor = jg.LoopExecutor()
    assert await jg.Scheduler(job).run()
    assert isinstance(job.exception, jg.JobDefinitionError)
    assert "'plain'" in str(job.exception)


async def test_progress_and_report_say_where_each_body_ran(
    processes: jg.ProcessExecutor,
) -> None:
    import io

    from rich.console import Console

    ok = jg.Job(square, 3, executor=processes, label="remote")
    bad = jg.Job(boom, "far", executor=processes, label="remote-bad", critical=False)
    local = jg.Job(value, 1, label="local")
    scheduler = jg.Scheduler(ok, bad, local)
    out = io.StringIO()
    with jg.Progress(scheduler, console=Console(file=out, force_terminal=False, width=200)):
        assert await scheduler.run()
    lines = out.getvalue().splitlines()
    done = next(line for line in lines if "done" in line and "remote " in line + " ")
    assert f"on {ok.worker}" in done
    failed = next(line for line in lines if "FAILED" in line)
    assert f"on {bad.worker}" in failed
    about_local = [line for line in lines if re.search(r"(started|done) +local ", line)]
    assert len(about_local) == 2 and not any(" on " in line for line in about_local)
    # while they ran, the pool's jobs were shown on their way to a process
    assert any(re.search(r"running +remote +on a local process", line) for line in lines)
    entries = {entry["label"]: entry for entry in scheduler.report()["jobs"]}
    assert entries["remote"]["worker"] == ok.worker and entries["local"]["worker"] is None
    assert f"on {ok.worker}" in scheduler.timeline_svg()


@pytest.mark.parametrize("kind", ["processes", "threads"])
async def test_where_a_body_goes_is_told_while_it_runs(kind: str, tmp_path: Path) -> None:
    executor: jg.Executor = (
        jg.ProcessExecutor(max_workers=1) if kind == "processes" else jg.ThreadExecutor()
    )
    job = jg.Job(interval, 0.3, executor=executor, label="away")
    scheduler = jg.Scheduler(job)
    events: list[jg.JobEvent] = []
    scheduler.subscribe(events.append)
    assert await scheduler.run()
    mine = [e for e in events if e.job is job]
    kinds = [e.kind for e in mine]
    running = next(
        i for i, e in enumerate(mine) if e.kind is jg.EventKind.NOTE and e.note == "running"
    )
    # told after the job started, before it ended
    assert kinds.index(jg.EventKind.STARTED) < running < kinds.index(jg.EventKind.FINISHED)
    note = mine[running]
    expected = "a local process" if kind == "processes" else "a worker thread"
    assert dict(note.data or {}) == {"worker": expected}
    # the precise place, once known, is the job's worker
    precise = r"pid \d+" if kind == "processes" else r"thread .+"
    assert re.fullmatch(precise, job.worker or ""), job.worker


# -- what users of executors notice (issue 28: bugs that no test caught) -----------------


class ThreadGauge:
    """Counts the bodies inside :meth:`hold` at once, from any thread."""

    def __init__(self, crowd: int) -> None:
        self.crowd = crowd  # a body waits (bounded) until this many are inside
        self.now = 0
        self.peak = 0
        self.condition = threading.Condition()

    def hold(self) -> str:
        with self.condition:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.now >= self.crowd, timeout=0.5)
            self.now -= 1
        return threading.current_thread().name


async def test_thread_executor_runs_at_most_max_workers_bodies_at_once() -> None:
    """Bug: ``max_workers`` ignored (anyio's default limiter, 40 threads): six bodies
    ran at once on a pool of two."""
    gauge = ThreadGauge(crowd=3)  # a third body inside would end the wait at once
    threads = jg.ThreadExecutor(max_workers=2)
    jobs = [jg.Job(gauge.hold, executor=threads, label=f"hold {n}") for n in range(6)]
    with anyio.fail_after(30):
        assert await jg.Scheduler(*jobs).run()
    assert gauge.peak == 2


async def test_two_runs_sharing_a_thread_executor_share_its_bound() -> None:
    """Two runs at once through one executor: one pool, one bound for both."""
    gauge = ThreadGauge(crowd=3)
    threads = jg.ThreadExecutor(max_workers=2)
    runs = [
        jg.Scheduler(*(jg.Job(gauge.hold, executor=threads) for _ in range(3)), label=name)
        for name in ("first", "second")
    ]
    outcomes: list[bool] = []

    async def run(scheduler: jg.Scheduler) -> None:
        outcomes.append(await scheduler.run())

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for scheduler in runs:
                tg.start_soon(run, scheduler)
    assert outcomes == [True, True]
    assert gauge.peak == 2
    assert not threads.active


async def test_a_cancelled_thread_job_does_not_wait_for_its_thread() -> None:
    """Bug: a job cancelled (here by its timeout) while its body blocks in a thread
    waited for the blocking call to return: the cancellation took as long as the call."""
    release = threading.Event()
    returned = threading.Event()

    def blocking() -> None:
        release.wait(3)  # bounded: a buggy run ends after 3 s, the thread too
        returned.set()

    job = jg.Job(blocking, executor=jg.ThreadExecutor(), timeout=0.1, critical=False)
    started = time.monotonic()
    try:
        assert await jg.Scheduler(job).run()
        took = time.monotonic() - started
        blocked = not returned.is_set()  # the call was still blocked when the run ended
    finally:
        release.set()
    assert isinstance(job.exception, jg.JobTimeoutError)
    assert blocked, f"the run waited for the thread ({took:.1f}s)"
    assert took < 2.5
    # the abandoned thread ends on its own once released
    assert await anyio.to_thread.run_sync(returned.wait, 5)


class Pool(jg.Executor):
    """A user's executor holding a resource from start() to stop()."""

    in_loop = True

    def __init__(self) -> None:
        super().__init__()
        self.open = False
        self.starts = 0
        self.stops = 0

    async def start(self) -> None:
        self.open = True
        self.starts += 1

    async def stop(self) -> None:
        self.open = False
        self.stops += 1

    async def call(
        self, job: jg.AbstractJob, function: Any, args: tuple[Any, ...], kwargs: Any
    ) -> Any:
        self.check_active(job)
        if not self.open:
            raise RuntimeError("the pool is closed")
        result = await function(*args, **kwargs)
        if not self.open:
            raise RuntimeError("the pool was closed under the job")
        return result


async def test_an_executor_shared_by_two_runs_stops_when_the_last_ends() -> None:
    """Bug: ``Executor.session()`` called ``stop()`` when any session ended, not the last
    one: the pool was shut down under the jobs of the run still using it."""
    pool = Pool()

    async def later(x: int, delay: float) -> int:
        await anyio.sleep(delay)
        return x

    short = jg.Scheduler(jg.Job(later, 1, 0.01, executor=pool), label="short")
    slow = jg.Job(later, 2, 0.3, executor=pool, label="slow")
    long = jg.Scheduler(slow, label="long")
    outcomes: dict[str, bool] = {}

    async def run(scheduler: jg.Scheduler) -> None:
        outcomes[scheduler.label] = await scheduler.run()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, long)
            tg.start_soon(run, short)
    assert outcomes == {"short": True, "long": True}, slow.exception
    assert slow.result() == 2
    assert (pool.starts, pool.stops, pool.active) == (1, 1, False)


async def test_process_executor_runs_at_most_max_workers_bodies_at_once() -> None:
    """Bug: ``max_workers`` of a ProcessExecutor ignored (one process per CPU): two
    bodies ran at once on a pool of one."""
    single = jg.ProcessExecutor(max_workers=1)
    jobs = [jg.Job(interval, 0.3, executor=single) for _ in range(2)]
    with anyio.fail_after(60):
        assert await jg.Scheduler(*jobs).run()
    (_, first_end, _), (second_start, _, _) = sorted(job.result() for job in jobs)
    assert second_start >= first_end - 0.01  # one after the other, though the window allowed both
