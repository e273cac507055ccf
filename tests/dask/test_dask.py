"""jobgraph on a real Dask cluster: a LocalCluster of 2 worker processes (loopback, no
dashboard), started once for the module; every test runs on asyncio and trio."""

from __future__ import annotations

import io
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from distributed import Client, LocalCluster
from rich.console import Console

import dask
import jobgraph as jg
from jobgraph.dask import DaskExecutor, Shard
from jobgraph.lowlevel import JobState, record_of

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # a worker that dies fails its task at once: jobgraph's Retry policy decides
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # None would take port 8787
        )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def dask_executor(cluster: LocalCluster) -> DaskExecutor:
    with Client(cluster) as client:  # a killed worker is restarted by its nanny
        client.wait_for_workers(2, timeout=30)
    return DaskExecutor(address=cluster.scheduler_address)


def square(x: int) -> int:
    return x * x


async def async_where(x: int) -> tuple[int, int]:
    await anyio.sleep(0.01)
    return x, os.getpid()


def interval(seconds: float) -> tuple[float, float, int]:
    start = time.time()
    time.sleep(seconds)
    return start, time.time(), os.getpid()


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "spun"


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


def total(values: list[int]) -> int:
    return sum(values)


async def test_results_and_placeholders_across_executors(dask_executor: DaskExecutor) -> None:
    processes = jg.ProcessExecutor(max_workers=1)
    a = jg.Job(value, 4, label="loop")
    b = jg.Job(square, jg.ResultOf(a), executor=dask_executor, label="dask")
    c = jg.Job(square, jg.ResultOf(b), executor=processes, label="process")
    d = jg.Job(async_where, jg.ResultOf(c, lambda v: v + 1), executor=dask_executor)
    e = jg.Job(total, [jg.ResultOf(b), jg.ResultOf(c)], executor=dask_executor, label="sum")
    assert await jg.Scheduler(a, b, c, d, e).run()
    assert (b.result(), c.result(), e.result()) == (16, 256, 272)
    x, pid = d.result()
    assert x == 257 and pid != os.getpid()
    assert b.worker is not None and b.worker.startswith("tcp://127.0.0.1:")
    assert c.worker is not None and c.worker.startswith("pid ")


async def test_scheduler_executor_sends_every_body_to_the_cluster(
    dask_executor: DaskExecutor,
) -> None:
    jobs = [jg.Job(async_where, i) for i in range(6)]
    inner = jg.Scheduler(*jobs[3:], label="inner")
    scheduler = jg.Scheduler(*jobs[:3], inner, executor=dask_executor)
    assert await scheduler.run()
    assert all(job.worker is not None and job.worker.startswith("tcp://") for job in jobs)
    assert {job.result()[1] for job in jobs}.isdisjoint({os.getpid()})


async def test_window_is_respected_on_the_cluster(dask_executor: DaskExecutor) -> None:
    jobs = [jg.Job(interval, 0.2, executor=dask_executor) for _ in range(4)]
    assert await jg.Scheduler(*jobs, jobs_window=1).run()
    spans = sorted(job.result() for job in jobs)
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert start >= end - 0.01  # one at a time although 2 workers are free
    both = [jg.Job(interval, 0.5, executor=dask_executor) for _ in range(2)]
    assert await jg.Scheduler(*both).run()
    (s1, e1, p1), (s2, e2, p2) = (job.result() for job in both)
    assert p1 != p2 and max(s1, s2) < min(e1, e2)  # without a window: both workers


async def test_timeout_cancels_a_busy_task_and_frees_the_worker(
    dask_executor: DaskExecutor,
) -> None:
    busy = jg.Job(spin, 60, executor=dask_executor, timeout=0.5, critical=False, label="busy")
    start = time.monotonic()
    assert await jg.Scheduler(busy).run()
    assert time.monotonic() - start < 15  # the run did not wait for the task
    assert isinstance(busy.exception, jg.JobTimeoutError)
    # both workers take a job at once again: the busy body was interrupted
    after = [jg.Job(interval, 0.5, executor=dask_executor) for _ in range(2)]
    with anyio.fail_after(20):
        assert await jg.Scheduler(*after).run()
    (s1, e1, p1), (s2, e2, p2) = (job.result() for job in after)
    assert p1 != p2 and max(s1, s2) < min(e1, e2)


async def test_scheduler_timeout_and_critical_abort_cancel_cluster_tasks(
    dask_executor: DaskExecutor,
) -> None:
    busy = jg.Job(spin, 60, executor=dask_executor, label="busy")
    scheduler = jg.Scheduler(busy, timeout=0.5)
    start = time.monotonic()
    assert not await scheduler.run()
    assert scheduler.failed_time_out() and busy.cancelled
    bad = jg.Job(boom, "critical", executor=dask_executor, label="bad")
    busy2 = jg.Job(spin, 60, executor=dask_executor, label="busy2")
    scheduler = jg.Scheduler(bad, busy2)
    assert not await scheduler.run()
    assert "'bad'" in scheduler.why() and "critical" in scheduler.why() and busy2.cancelled
    assert time.monotonic() - start < 20


async def test_worker_killed_mid_job(dask_executor: DaskExecutor, tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    lost = jg.Job(die_once, marker, executor=dask_executor, critical=False, label="lost")
    other = jg.Job(interval, 0.3, executor=dask_executor, label="other")
    with anyio.fail_after(60):
        assert await jg.Scheduler(lost, other).run()
    assert isinstance(lost.exception, jg.WorkerLostError), lost.exception
    assert "'lost'" in str(lost.exception)
    assert other.result()  # nothing else is lost
    os.unlink(marker)
    retried = jg.Job(die_once, marker, executor=dask_executor, retry=2, label="retried")
    with anyio.fail_after(60):
        assert await jg.Scheduler(retried).run()
    assert retried.result() == "survived" and retried.attempts == 2


async def test_unpicklable_body_and_argument_are_named(dask_executor: DaskExecutor) -> None:
    class Holder:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def method(self) -> None:
            pass

    body = jg.Job(Holder().method, executor=dask_executor, critical=False, label="held")
    arg = jg.Job(square, threading.Lock(), executor=dask_executor, critical=False)
    assert await jg.Scheduler(body, arg).run()
    assert isinstance(body.exception, jg.SerializationError)
    assert "'held'" in str(body.exception) and "body" in str(body.exception)
    assert isinstance(arg.exception, jg.SerializationError)
    assert "argument 1" in str(arg.exception)


async def test_body_exception_travels_back(dask_executor: DaskExecutor) -> None:
    job = jg.Job(boom, "from the cluster", executor=dask_executor, critical=False)
    assert await jg.Scheduler(job).run()
    assert isinstance(job.exception, ValueError) and str(job.exception) == "from the cluster"
    assert job.worker is not None and job.worker.startswith("tcp://")


async def test_a_thousand_small_tasks(dask_executor: DaskExecutor) -> None:
    jobs = [jg.Job(square, i, executor=dask_executor) for i in range(1000)]
    add = jg.Job(total, [jg.ResultOf(job) for job in jobs], executor=dask_executor)
    with anyio.fail_after(60):
        assert await jg.Scheduler(*jobs, add).run()
    assert add.result() == sum(i * i for i in range(1000))
    assert len({job.worker for job in jobs}) == 2


async def test_unreachable_cluster_names_the_address() -> None:
    executor = DaskExecutor(address="tcp://127.0.0.1:9", connect_timeout=1)
    job = jg.Job(square, 2, executor=executor)
    with pytest.raises(jg.ExecutorUnavailableError, match=r"tcp://127\.0\.0\.1:9.*1s"):
        await jg.Scheduler(job).run()


async def test_given_synchronous_client(cluster: LocalCluster) -> None:
    with Client(cluster) as client:
        executor = DaskExecutor(client=client)
        job = jg.Job(square, 5, executor=executor)
        assert await jg.Scheduler(job).run()
    assert job.result() == 25


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_given_asynchronous_client(cluster: LocalCluster) -> None:
    async with Client(cluster.scheduler_address, asynchronous=True) as client:
        executor = DaskExecutor(client=client)
        job = jg.Job(square, 6, executor=executor)
        assert await jg.Scheduler(job).run()
        assert job.result() == 36
        assert client.status == "running"  # a client given is not closed by the run


async def inner_value(i: int) -> int:
    await anyio.lowlevel.checkpoint()
    return i


async def inner_fail() -> None:
    raise ValueError("inner boom")


async def test_shard_runs_whole_on_a_worker_and_its_records_come_back(
    dask_executor: DaskExecutor,
) -> None:
    first = jg.Job(inner_value, 1, label="first")
    second = jg.Job(inner_value, 2, label="second", requires=first)
    nested = jg.Scheduler(jg.Job(inner_value, 3, label="deep"), label="nested")
    shard = Shard(first, second, nested, executor=dask_executor, label="shard", jobs_window=1)
    after = jg.Job(inner_value, 4, label="after", requires=shard)
    top = jg.Scheduler(shard, after)
    assert await top.run()
    assert shard.worker is not None and shard.worker.startswith("tcp://")
    assert (first.result(), second.result()) == (1, 2)
    deep = nested.jobs[0]
    assert deep.result() == 3 and deep.worker == shard.worker
    # times moved onto this run's clock: inside the shard's span, in order
    assert shard.started_at is not None and shard.ended_at is not None
    assert first.started_at is not None and second.started_at is not None
    assert shard.started_at <= first.started_at <= second.started_at <= shard.ended_at + 0.5
    report = top.report()
    labels = {entry["label"]: entry for entry in report["jobs"]}
    assert {"shard", "first", "second", "nested", "deep", "after"} <= set(labels)
    assert labels["second"]["outcome"] == "ok" and labels["second"]["worker"] == shard.worker
    assert "second" in top.list_text(ascii=True)


async def test_failing_shard_names_its_inner_job(dask_executor: DaskExecutor) -> None:
    bad = jg.Job(inner_fail, label="inner-bad")
    fine = jg.Job(inner_value, 1, label="fine", critical=False)
    shard = Shard(bad, fine, executor=dask_executor, label="shard")
    top = jg.Scheduler(shard, label="top")
    assert not await top.run()
    assert "'inner-bad'" in top.why() and "'shard'" in top.why()
    assert isinstance(top.failure, jg.CriticalJobError) and top.failure.job is bad
    assert isinstance(bad.exception, ValueError)
    assert "'inner-bad'" in shard.why()


def test_shard_needs_a_dask_executor() -> None:
    with pytest.raises(jg.JobDefinitionError, match="DaskExecutor"):
        Shard(executor=jg.ProcessExecutor())  # type: ignore[arg-type]


def pid_and(value: Any) -> tuple[int, Any]:
    return os.getpid(), value


async def test_results_go_from_worker_to_worker(dask_executor: DaskExecutor) -> None:
    producer = jg.Job(square, 9, executor=dask_executor, label="producer")
    # the transform runs where the consumer runs: the result did not come back through
    # the controller to be transformed here
    consumer = jg.Job(
        pid_and,
        [jg.ResultOf(producer, lambda v: (v, os.getpid()))],
        executor=dask_executor,
    )
    in_loop = jg.Job(value, jg.ResultOf(producer))
    assert await jg.Scheduler(producer, consumer, in_loop).run()
    pid, [(result, transformed_in)] = consumer.result()
    assert result == 81 and transformed_in == pid != os.getpid()
    assert producer.result() == 81 and in_loop.result() == 81


async def inner_wait_for(path: str) -> str:
    # polls a file the test writes (from another process: no event to wait on)
    gate = anyio.Path(path)
    with anyio.fail_after(30):
        while not await gate.exists():  # noqa: ASYNC110
            await anyio.sleep(0.01)
    return "released"


async def test_shard_streams_inner_events_while_it_runs(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    first = jg.Job(inner_value, 1, label="first")
    held = jg.Job(inner_wait_for, str(gate), label="held", requires=first)
    shard = Shard(first, held, executor=dask_executor, label="shard")
    top = jg.Scheduler(shard, label="top")
    seen: list[tuple[jg.EventKind, str, str, bool]] = []

    def watch(event: jg.JobEvent) -> None:
        if event.job in (first, held):
            running = record_of(shard).state is JobState.RUNNING
            seen.append((event.kind, event.job.label, event.scheduler.label, running))
            if event.kind is jg.EventKind.FINISHED and event.job is first:
                gate.write_text("open")  # only a streamed event can let 'held' end

    top.subscribe(watch)
    with anyio.fail_after(60):
        assert await top.run()
    assert held.result() == "released" and held.worker == shard.worker
    kinds = [(kind, label) for kind, label, _, _ in seen]
    assert kinds == [
        (jg.EventKind.SCHEDULED, "first"),
        (jg.EventKind.STARTED, "first"),
        (jg.EventKind.FINISHED, "first"),
        (jg.EventKind.SCHEDULED, "held"),
        (jg.EventKind.STARTED, "held"),
        (jg.EventKind.FINISHED, "held"),
    ]  # each once: the merge at the end adds none
    assert all(scheduler == "shard" and running for _, _, scheduler, running in seen)
    # the records merged at the end agree with what streamed
    assert first.started_at is not None and held.ended_at is not None
    assert shard.started_at is not None and shard.ended_at is not None
    assert shard.started_at <= first.started_at <= held.ended_at <= shard.ended_at + 0.5


def wait_for_file(path: str) -> str:
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "released"


async def test_the_worker_of_a_job_is_known_while_it_runs(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    held = jg.Job(wait_for_file, str(gate), executor=dask_executor, label="held")
    top = jg.Scheduler(held, label="top")
    seen: list[tuple[str, Any, str | None, Any]] = []

    def watch(event: jg.JobEvent) -> None:
        if event.kind is jg.EventKind.NOTE and event.job is held:
            reported = {entry["label"]: entry for entry in top.report()["jobs"]}
            seen.append((event.note, event.data, held.worker, reported["held"]["worker"]))
            gate.write_text("open")  # the job ends only once its worker is known

    top.subscribe(watch)
    output = io.StringIO()
    console = Console(file=output, width=300, color_system=None)
    with anyio.fail_after(60), jg.Progress(top, console=console, live=False, summary=False):
        assert await top.run()
    assert held.result() == "released"
    assert len(seen) == 1
    note, data, worker, reported = seen[0]
    assert note == "running" and data is not None
    assert data["worker"] == worker == reported == held.worker
    assert worker is not None and worker.startswith("tcp://127.0.0.1:")
    lines = output.getvalue().splitlines()
    running = [line for line in lines if line.split()[1:2] == ["running"]]
    assert len(running) == 1 and f"held  on {worker}" in running[0]


async def test_the_progress_view_shows_the_worker_of_running_shard_jobs(
    dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    held = jg.Job(inner_wait_for, str(gate), label="held")
    shard = Shard(held, executor=dask_executor, label="shard")
    top = jg.Scheduler(shard, label="top")
    drawn: list[str] = []
    output = io.StringIO()
    console = Console(file=output, width=300, color_system=None)
    progress = jg.Progress(top, console=console, live=False, summary=False)

    def watch(event: jg.JobEvent) -> None:
        if event.kind is jg.EventKind.STARTED and event.job is held:
            with console.capture() as capture:
                console.print(progress._draw())
            drawn.append(capture.get())
            gate.write_text("open")

    with anyio.fail_after(60), progress:
        top.subscribe(watch)  # after the view's own subscriber: it has seen the event
        assert await top.run()
    assert len(drawn) == 1
    assert shard.worker is not None and f"on {shard.worker}" in drawn[0]
    assert "held" in drawn[0]


async def test_a_job_on_the_cluster_may_follow_a_shard(dask_executor: DaskExecutor) -> None:
    # the shard travels without its record, which names the jobs that follow it
    shard = Shard(jg.Job(inner_value, 1), executor=dask_executor, label="shard")
    after = jg.Job(square, 3, executor=dask_executor, requires=shard)
    assert await jg.Scheduler(shard, after).run()
    assert after.result() == 9


def sized(n: int) -> bytes:
    return bytes(n)


async def test_small_and_large_results_come_back(dask_executor: DaskExecutor) -> None:
    # small outcomes travel as Dask events, larger ones are fetched from the workers
    jobs = [jg.Job(sized, n, executor=dask_executor) for n in (10, 100_000) * 10]
    with anyio.fail_after(60):
        assert await jg.Scheduler(*jobs).run()
    assert [len(job.result()) for job in jobs] == [10, 100_000] * 10
