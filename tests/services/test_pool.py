"""The pool's life: start and stop hooks, calls outside a run, stopping with calls in
progress, and the limits on how many calls run at once."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest

import jobgraph as jg
from jobgraph import services as sv

pytestmark = pytest.mark.anyio


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition()`` holds (without letting time pass)."""
    with anyio.fail_after(5):
        while not condition():
            await anyio.lowlevel.checkpoint()


def is_running(pool: sv.ServicePool) -> bool:
    return pool.running  # read afresh: mypy would keep a narrowed pool.running


class Recorder(sv.Service):
    """Records its start and stop in a shared list; may fail to start or to stop."""

    def __init__(
        self, log: list[str], name: str, *, fail_start: bool = False, fail_stop: bool = False
    ) -> None:
        super().__init__(name=name)
        self.log = log
        self.fail_start = fail_start
        self.fail_stop = fail_stop

    async def on_start(self) -> None:
        self.log.append(f"start {self.service_name}")
        if self.fail_start:
            raise RuntimeError("no disk")

    async def on_stop(self) -> None:
        self.log.append(f"stop {self.service_name}")
        if self.fail_stop:
            raise OSError("stuck")

    @sv.expose(sv.AllowAny())
    def ping(self) -> str:
        return f"pong from {self.service_name}"


class Gauge:
    """How many calls run now, and the most that ran at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.release = anyio.Event()


class Sleeper(sv.Service):
    """Counts how many of its calls run at once (in its own gauge or a shared one)."""

    def __init__(self, *, name: str | None = None, gauge: Gauge | None = None) -> None:
        super().__init__(name=name)
        self.gauge = Gauge() if gauge is None else gauge

    @sv.expose(sv.AllowAny())
    async def nap(self, seconds: float) -> float:
        self.gauge.now += 1
        self.gauge.most = max(self.gauge.most, self.gauge.now)
        try:
            await anyio.sleep(seconds)
        finally:
            self.gauge.now -= 1
        return seconds

    @sv.expose(sv.AllowAny())
    async def hold(self) -> None:
        self.gauge.now += 1
        self.gauge.most = max(self.gauge.most, self.gauge.now)
        try:
            await self.gauge.release.wait()
        finally:
            self.gauge.now -= 1


class OneAtATime(Sleeper):
    concurrency = 1


class TwoAtATime(Sleeper):
    concurrency = 2


# -- lifecycle ---------------------------------------------------------------------


async def test_calls_before_start_and_after_stop_raise_pool_closed() -> None:
    pool = sv.ServicePool([Recorder([], "a")], label="infra")
    with pytest.raises(sv.PoolClosedError) as info:
        await pool.call("a", "ping")
    assert str(info.value) == (
        "service pool 'infra' is not running: cannot call a.ping "
        "(use 'async with pool:' or require the pool's job)"
    )
    async with pool:
        assert is_running(pool)
        assert await pool.call("a", "ping") == "pong from a"
    assert not is_running(pool)
    with pytest.raises(sv.PoolClosedError, match="is not running"):
        await pool.call("a", "ping")


async def test_hooks_run_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    pool = sv.ServicePool([Recorder(log, "a"), Recorder(log, "b"), Recorder(log, "c")])
    async with pool:
        assert log == ["start a", "start b", "start c"]
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_stopped_pool_can_start_again() -> None:
    log: list[str] = []
    pool = sv.ServicePool([Recorder(log, "a")])
    for _ in range(2):
        async with pool:
            assert await pool.call("a", "ping") == "pong from a"
    assert log == ["start a", "stop a", "start a", "stop a"]


async def test_failing_start_stops_the_started_services_and_names_the_culprit() -> None:
    log: list[str] = []
    services = [Recorder(log, "a"), Recorder(log, "b", fail_start=True), Recorder(log, "c")]
    pool = sv.ServicePool(services, label="infra")
    with pytest.raises(sv.ServiceError) as info:
        await pool.start()
    assert str(info.value) == ("service 'b' of pool 'infra' failed to start: RuntimeError: no disk")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert log == ["start a", "start b", "stop a"]
    assert not pool.running
    with pytest.raises(sv.PoolClosedError):
        await pool.call("a", "ping")


async def test_failing_stop_still_stops_the_others_and_is_reported() -> None:
    log: list[str] = []
    services = [Recorder(log, "a"), Recorder(log, "b", fail_stop=True), Recorder(log, "c")]
    pool = sv.ServicePool(services, label="infra")
    await pool.start()
    with pytest.raises(sv.ServiceError) as info:
        await pool.stop()
    assert str(info.value) == (
        "service(s) 'b' of pool 'infra' failed to stop; first: OSError: stuck"
    )
    assert isinstance(info.value.__cause__, OSError)
    assert log[-3:] == ["stop c", "stop b", "stop a"]
    assert not pool.running


async def test_failing_start_is_reported_even_if_cleanup_fails_to_stop() -> None:
    log: list[str] = []
    services = [Recorder(log, "a", fail_stop=True), Recorder(log, "b", fail_start=True)]
    pool = sv.ServicePool(services, label="infra")
    failed = "service 'b' of pool 'infra' failed to start"
    with pytest.raises(sv.ServiceError, match=failed) as info:
        await pool.start()
    assert isinstance(info.value.__cause__, RuntimeError)
    notes = getattr(info.value, "__notes__", [])
    assert any("service(s) 'a' of pool 'infra' failed to stop" in note for note in notes)
    assert not pool.running


async def test_add_while_running_and_start_twice_are_refused() -> None:
    pool = sv.ServicePool([Recorder([], "a")], label="infra")
    async with pool:
        with pytest.raises(jg.RunStateError, match="while service pool 'infra' runs"):
            pool.add(Recorder([], "b"))
        with pytest.raises(jg.RunStateError, match="'infra' is already running"):
            await pool.start()
    assert pool.add(Recorder([], "b")) is pool
    assert list(pool.services) == ["a", "b"]


async def test_duplicate_names_are_refused() -> None:
    pool = sv.ServicePool([Recorder([], "a")], label="infra")
    with pytest.raises(sv.ServiceDefinitionError, match="'infra' already has a service named 'a'"):
        pool.add(Recorder([], "a"))


async def test_stop_of_a_stopped_pool_does_nothing() -> None:
    log: list[str] = []
    pool = sv.ServicePool([Recorder(log, "a")])
    await pool.stop()
    assert log == []


# -- stopping with calls in progress -------------------------------------------------


@pytest.mark.timing
async def test_stop_lets_quick_calls_finish_and_cancels_slow_ones(mock_clock: bool) -> None:
    timeout = 2.0 if mock_clock else 0.3
    quick, slow = timeout / 2, timeout * 50
    service = Sleeper()
    pool = sv.ServicePool([service], stop_timeout=timeout, label="infra")
    outcomes: dict[str, object] = {}

    async def call(name: str, seconds: float) -> None:
        try:
            outcomes[name] = await pool.call("Sleeper", "nap", {"seconds": seconds})
        except sv.PoolClosedError as exc:
            outcomes[name] = exc

    await pool.start()
    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "quick", quick)
        tg.start_soon(call, "slow", slow)
        await until(lambda: service.gauge.now == 2)
        assert pool.in_flight == 2
        before = anyio.current_time()
        await pool.stop()
        elapsed = anyio.current_time() - before
    if mock_clock:
        assert elapsed == timeout
    else:
        assert timeout * 0.9 <= elapsed < timeout * 5
    assert outcomes["quick"] == quick
    error = outcomes["slow"]
    assert isinstance(error, sv.PoolClosedError)
    assert str(error) == "service pool 'infra' stopped while Sleeper.nap was running"
    assert pool.in_flight == 0
    assert pool.stats()["Sleeper", "nap"] == sv.CallStats(calls=2, succeeded=1, failed=1)


@pytest.mark.timing
async def test_stop_returns_as_soon_as_calls_are_done(mock_clock: bool) -> None:
    quick = 1.0 if mock_clock else 0.1
    service = Sleeper()
    pool = sv.ServicePool([service], stop_timeout=quick * 100)
    results: list[float] = []
    await pool.start()
    async with anyio.create_task_group() as tg:

        async def call() -> None:
            results.append(await pool.call("Sleeper", "nap", {"seconds": quick}))

        tg.start_soon(call)
        await until(lambda: service.gauge.now == 1)
        before = anyio.current_time()
        await pool.stop()
        elapsed = anyio.current_time() - before
    if mock_clock:
        assert elapsed == quick
    else:
        assert quick * 0.5 <= elapsed < quick * 20
    assert results == [quick]


@pytest.mark.timing
async def test_on_stop_runs_after_the_last_call(mock_clock: bool) -> None:
    log: list[str] = []

    class Tidy(sv.Service):
        async def on_stop(self) -> None:
            log.append("on_stop")

        @sv.expose(sv.AllowAny())
        async def work(self) -> None:
            try:
                await anyio.sleep(100)
            finally:
                log.append("call ended")

    pool = sv.ServicePool([Tidy()], stop_timeout=0.1)
    await pool.start()
    async with anyio.create_task_group() as tg:

        async def call() -> None:
            with pytest.raises(sv.PoolClosedError):
                await pool.call("Tidy", "work")

        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        await pool.stop()
    assert log == ["call ended", "on_stop"]


# -- how many calls run at once --------------------------------------------------------


@pytest.mark.timing
async def test_concurrency_one_serializes_calls(mock_clock: bool) -> None:
    service = OneAtATime()
    nap = 1.0 if mock_clock else 0.02
    async with sv.ServicePool([service]) as pool:
        before = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(pool.call, "OneAtATime", "nap", {"seconds": nap})
        elapsed = anyio.current_time() - before
    assert service.gauge.most == 1
    assert pool.stats()["OneAtATime", "nap"].succeeded == 4
    if mock_clock:
        assert elapsed == 4 * nap
    else:
        assert elapsed >= 4 * nap * 0.9


async def test_concurrency_one_runs_calls_in_the_order_they_arrive() -> None:
    order: list[int] = []
    release = anyio.Event()

    class Queue(sv.Service):
        concurrency = 1

        @sv.expose(sv.AllowAny())
        async def take(self, n: int) -> None:
            order.append(n)
            await release.wait()

    async with sv.ServicePool([Queue()]) as pool, anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(pool.call, "Queue", "take", {"n": n})
            await until(lambda: pool.in_flight == n + 1)  # noqa: B023 - checked at once
        assert order == [0]
        release.set()
    assert order == list(range(6))


async def test_concurrency_limit_is_per_service() -> None:
    two, free = TwoAtATime(), Sleeper()
    async with sv.ServicePool([two, free]) as pool, anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(pool.call, "TwoAtATime", "nap", {"seconds": 0.01})
            tg.start_soon(pool.call, "Sleeper", "nap", {"seconds": 0.01})
    assert two.gauge.most == 2
    assert free.gauge.most == 6


async def test_pool_size_bounds_all_calls_together() -> None:
    gauge = Gauge()
    services = [Sleeper(name=name, gauge=gauge) for name in "abc"]
    async with sv.ServicePool(services, size=2) as pool:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                for service in services:
                    tg.start_soon(pool.call, service.service_name, "hold")
            await anyio.wait_all_tasks_blocked()
            assert gauge.now == 2
            assert pool.in_flight == 9  # calls waiting for a slot are in flight too
            gauge.release.set()
        assert pool.in_flight == 0
    assert gauge.most == 2
    assert sum(pool.stats()[s.service_name, "hold"].succeeded for s in services) == 9
