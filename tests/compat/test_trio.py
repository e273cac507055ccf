"""The compat API awaited with co_run() on both backends, trio included: the adapter does
not force asyncio, so jobs whose coroutines are backend-neutral (anyio) run under trio.
Tests marked ``timing`` also run on trio's MockClock, where time is exact."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from jobgraph.compat.asynciojobs import (
    AbstractJob,
    Job,
    PrintJob,
    PureScheduler,
    Scheduler,
    Sequence,
)

pytestmark = pytest.mark.anyio


async def nap(delay: float, value: Any = None, log: list[str] | None = None) -> Any:
    if log is not None:
        log.append(f"-> {value}")
    await anyio.sleep(delay)
    if log is not None:
        log.append(f"<- {value}")
    return value


async def fail(delay: float, message: str) -> None:
    await anyio.sleep(delay)
    raise ValueError(message)


class Counter(AbstractJob):
    def __init__(self, log: list[str], **kwds: Any) -> None:
        self.log = log
        super().__init__(**kwds)

    async def co_run(self) -> str:
        await anyio.sleep(0.01)
        self.log.append(f"run {self.label}")
        return self.label

    async def co_shutdown(self) -> None:
        self.log.append(f"shutdown {self.label}")


@pytest.mark.timing
async def test_co_run_respects_requirements(mock_clock: bool) -> None:
    log: list[str] = []
    b1 = Job(nap(0.1, "b1", log), label="b1")
    b2 = Job(nap(0.2, "b2", log), label="b2", required=b1)
    b3 = Job(nap(0.25, "b3", log))
    started = anyio.current_time()
    assert await Scheduler(b1, b2, b3).co_run() is True
    elapsed = anyio.current_time() - started
    assert log == ["-> b1", "-> b3", "<- b1", "-> b2", "<- b3", "<- b2"]
    assert (b1.result(), b2.result(), b3.result()) == ("b1", "b2", "b3")
    if mock_clock:
        assert elapsed == pytest.approx(0.3)


async def test_co_run_raises_the_job_exception_when_critical() -> None:
    failing = Job(fail(0.01, "trio boom"))
    scheduler = Scheduler(Sequence(failing, Job(nap(0, "never"))))
    with pytest.raises(ValueError, match="trio boom") as caught:
        await scheduler.co_run()
    assert caught.value is failing.raised_exception()
    assert scheduler.failed_critical()


async def test_co_run_returns_false_when_not_critical() -> None:
    scheduler = Scheduler(Job(fail(0.01, "x")), critical=False)
    assert await scheduler.co_run() is False
    assert await PureScheduler(Job(fail(0.01, "y"))).co_run() is False


@pytest.mark.timing
async def test_co_run_timeout_raises_timeout_error(mock_clock: bool) -> None:
    scheduler = Scheduler(Job(nap(10)), timeout=0.2)
    started = anyio.current_time()
    with pytest.raises(TimeoutError):
        await scheduler.co_run()
    assert scheduler.failed_time_out() and scheduler.why() == "TIMED OUT after 0.2s"
    if mock_clock:
        assert anyio.current_time() - started == pytest.approx(0.2)


@pytest.mark.timing
async def test_window_serialises_jobs(mock_clock: bool) -> None:
    scheduler = Scheduler(*(Job(nap(0.1, i)) for i in range(8)), jobs_window=4)
    started = anyio.current_time()
    assert await scheduler.co_run() is True
    elapsed = anyio.current_time() - started
    if mock_clock:
        assert elapsed == pytest.approx(0.2)
    else:
        assert 0.19 < elapsed < 1


async def test_forever_job_is_cancelled_and_not_done() -> None:
    forever = Job(nap(3600), forever=True, label="daemon")
    finite = Job(nap(0.01, "ok"))
    assert await Scheduler(forever, finite).co_run() is True
    assert forever.is_running() and not forever.is_done() and forever.result() is None
    assert repr(forever) == "⚠ ☉ ↺ ∞ <Job `daemon`> [not done] "


async def test_nested_schedulers_and_shutdown() -> None:
    log: list[str] = []
    inner = Scheduler(
        Sequence(Counter(log, label="i1"), Counter(log, label="i2")),
        jobs_window=1,
        label="inner",
    )
    outer = Scheduler(Sequence(Counter(log, label="start"), inner, Counter(log, label="end")))
    assert await outer.co_run() is True
    # each scheduler shuts its jobs down when it ends, concurrently (in any order)
    assert log[:3] == ["run start", "run i1", "run i2"]
    assert set(log[3:5]) == {"shutdown i1", "shutdown i2"}
    assert log[5] == "run end"
    assert set(log[6:]) == {"shutdown start", "shutdown end"}
    assert inner.result() is True


async def test_nested_critical_failure_reaches_the_top_as_the_original() -> None:
    inner = Scheduler(Job(fail(0.01, "inner trio")), label="inner")
    outer = Scheduler(inner, Job(nap(10)), critical=True)
    with pytest.raises(ValueError, match="inner trio"):
        await outer.co_run()
    assert isinstance(inner.raised_exception(), ValueError)


async def test_print_job_and_standalone_style_co_run(capsys: pytest.CaptureFixture[str]) -> None:
    job = PrintJob("hello", sleep=0.01)
    await job.co_run()
    assert capsys.readouterr().out == "hello\nSleeping for 0.01s\n"


async def test_co_shutdown_honours_shutdown_timeout() -> None:
    job = Job(nap(0), coshutdown=nap(10))
    scheduler = Scheduler(job, shutdown_timeout=0.05)
    assert await scheduler.co_shutdown() is False
    job.close()


@pytest.mark.timing
async def test_co_shutdown_calls_run_concurrently(mock_clock: bool) -> None:
    """Shutdowns that block overlap (they do not run one after the other), a failing
    one does not stop the others, and the many that return at once all run too."""
    log: list[str] = []

    async def failing_shutdown() -> None:
        await anyio.sleep(0.05)
        raise OSError("cannot close")

    scheduler = PureScheduler(
        *(Job(nap(0), coshutdown=nap(0.3, f"slow {i}", log)) for i in range(5)),
        Job(nap(0), coshutdown=failing_shutdown(), label="broken"),
        *(Job(nap(0), coshutdown=nap(0, f"instant {i}", log)) for i in range(600)),
        shutdown_timeout=1,
    )
    started = anyio.current_time()
    assert await scheduler.co_shutdown() is False  # because of the failing one
    elapsed = anyio.current_time() - started
    assert sorted(entry for entry in log if entry.startswith("<- slow")) == [
        f"<- slow {i}" for i in range(5)
    ]
    assert sum(entry.startswith("<- instant") for entry in log) == 600
    # five 0.3 s shutdowns one after the other would take 1.5 s (and time out)
    assert 0.3 <= elapsed < (0.31 if mock_clock else 0.9)
    scheduler.close_all_jobs()  # the jobs never ran: close their coroutines
