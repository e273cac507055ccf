"""Services inside a scheduler run: the pool's forever job, ServiceCall jobs that
require it, their results and failures."""

from __future__ import annotations

import anyio
import pytest

import jobgraph as jg
from jobgraph import services as sv

pytestmark = pytest.mark.anyio


class Counter(sv.Service):
    concurrency = 1

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.total = 0

    async def on_start(self) -> None:
        self.log.append("start")

    async def on_stop(self) -> None:
        self.log.append("stop")

    @sv.expose(sv.AllowParents())
    @sv.arg_spec(amount=int)
    async def add(self, amount: int) -> int:
        await anyio.sleep(0.001)
        self.total += amount
        return self.total

    @sv.expose(sv.AllowCallers(["auditor"]))
    def audit(self) -> int:
        return self.total

    @sv.expose(sv.AllowAny())
    async def explode(self) -> None:
        raise ValueError("counter exploded")


async def test_service_calls_return_the_method_results() -> None:
    counter = Counter()
    pool = sv.ServicePool([counter])
    serve = pool.job()
    adds = [sv.ServiceCall(pool, "Counter", "add", {"amount": n}, requires=serve) for n in (1, 2)]
    audit = sv.ServiceCall(pool, "Counter", "audit", label="auditor", requires=[serve, adds])
    scheduler = jg.Scheduler(serve, *adds, audit)
    with anyio.fail_after(10):
        assert await scheduler.run()
    assert sorted(job.result() for job in adds) in ([1, 3], [2, 3])
    assert audit.result() == 3
    assert counter.log == ["start", "stop"]  # the pool stopped with the run
    assert not pool.running
    assert serve.cancelled  # the forever job ended by being cancelled
    assert pool.stats()["Counter", "add"] == sv.CallStats(calls=2, succeeded=2)


async def test_pool_job_defaults_and_options() -> None:
    pool = sv.ServicePool([Counter()], label="infra")
    assert pool.job().label == "infra"
    assert pool.job().forever
    assert pool.job(label="other").label == "other"
    with pytest.raises(jg.JobDefinitionError, match="always a forever job"):
        pool.job(forever=False)


async def test_service_call_label_and_details() -> None:
    pool = sv.ServicePool([Counter()], label="infra")
    call = sv.ServiceCall(pool, "Counter", "add", {"amount": 1})
    assert call.label == "Counter.add"
    assert call.caller == sv.Caller("Counter.add")
    assert call.details() == "calls Counter.add(amount=1) in pool 'infra'"
    assert dict(call.kwargs) == {"amount": 1}


async def test_refused_service_call_raises_at_construction() -> None:
    pool = sv.ServicePool([Counter()])
    with pytest.raises(sv.AccessDeniedError) as info:
        sv.ServiceCall(pool, "Counter", "audit", label="intruder")
    assert info.value.caller == sv.Caller("intruder")
    assert (info.value.service, info.value.method) == ("Counter", "audit")
    with pytest.raises(sv.ServiceArgumentError, match="argument 'amount' must be int"):
        sv.ServiceCall(pool, "Counter", "add", {"amount": "1"})
    with pytest.raises(sv.UnknownServiceError, match="has no service 'Nope'"):
        sv.ServiceCall(pool, "Nope", "add")
    with pytest.raises(sv.UnknownServiceError, match="does not expose method 'on_start'"):
        sv.ServiceCall(pool, "Counter", "on_start")
    with pytest.raises(jg.JobDefinitionError, match="kwargs must be a mapping"):
        sv.ServiceCall(pool, "Counter", "add", [("amount", 1)])  # type: ignore[arg-type]
    with pytest.raises(jg.JobDefinitionError, match="takes a ServicePool first"):
        sv.ServiceCall("pool", "Counter", "add")  # type: ignore[arg-type]


async def test_failing_method_fails_its_job_and_others_stay_inspectable() -> None:
    pool = sv.ServicePool([Counter()])
    serve = pool.job()
    good = sv.ServiceCall(pool, "Counter", "add", {"amount": 5}, requires=serve)
    bad = sv.ServiceCall(pool, "Counter", "explode", requires=serve, critical=False)
    after = sv.ServiceCall(pool, "Counter", "add", {"amount": 1}, requires=[serve, bad])
    scheduler = jg.Scheduler(serve, good, bad, after)
    with anyio.fail_after(10):
        assert await scheduler.run()  # the failing job is not critical
    assert isinstance(bad.exception, ValueError)
    assert str(bad.exception) == "counter exploded"
    with pytest.raises(jg.RunStateError):
        bad.result()
    assert good.result() == 5
    assert after.result() == 6


async def test_critical_failing_call_fails_the_run() -> None:
    counter = Counter()
    pool = sv.ServicePool([counter])
    serve = pool.job()
    first = sv.ServiceCall(pool, "Counter", "add", {"amount": 5}, requires=serve)
    bad = sv.ServiceCall(pool, "Counter", "explode", requires=first)
    scheduler = jg.Scheduler(serve, first, bad)
    with anyio.fail_after(10):
        assert not await scheduler.run()
    assert isinstance(scheduler.failure, jg.CriticalJobError)
    assert isinstance(bad.exception, ValueError)
    assert first.result() == 5
    assert counter.log == ["start", "stop"]
    assert not pool.running


async def test_call_without_the_pool_job_fails_with_pool_closed() -> None:
    pool = sv.ServicePool([Counter()])
    orphan = sv.ServiceCall(pool, "Counter", "add", {"amount": 1}, critical=False)
    scheduler = jg.Scheduler(orphan)
    assert await scheduler.run()
    assert isinstance(orphan.exception, sv.PoolClosedError)


async def test_pool_that_fails_to_start_fails_the_run() -> None:
    class Broken(sv.Service):
        async def on_start(self) -> None:
            raise OSError("no socket")

        @sv.expose(sv.AllowAny())
        def ping(self) -> str:
            return "pong"

    pool = sv.ServicePool([Broken()], label="infra")
    serve = pool.job()
    call = sv.ServiceCall(pool, "Broken", "ping", requires=serve)
    scheduler = jg.Scheduler(serve, call)
    with anyio.fail_after(10):
        assert not await scheduler.run()
    assert isinstance(serve.exception, sv.ServiceError)
    assert "service 'Broken' of pool 'infra' failed to start" in str(serve.exception)
    assert call.exception is None
    with pytest.raises(jg.RunStateError):
        call.result()


async def test_service_failing_to_stop_fails_the_pool_job() -> None:
    class Sticky(sv.Service):
        async def on_stop(self) -> None:
            raise OSError("still busy")

        @sv.expose(sv.AllowAny())
        def ping(self) -> str:
            return "pong"

    pool = sv.ServicePool([Sticky()], label="infra")
    serve = pool.job()
    call = sv.ServiceCall(pool, "Sticky", "ping", requires=serve)
    scheduler = jg.Scheduler(serve, call)
    with anyio.fail_after(10):
        assert not await scheduler.run()  # the failure is not swallowed
    assert call.result() == "pong"
    assert isinstance(serve.exception, sv.ServiceError)
    assert "service(s) 'Sticky' of pool 'infra' failed to stop" in str(serve.exception)
    assert not pool.running


async def test_many_calls_through_a_small_pool() -> None:
    class Echo(sv.Service):
        @sv.expose(sv.AllowAny())
        async def echo(self, value: int) -> int:
            await anyio.sleep(0.001)
            return value

    pool = sv.ServicePool([Echo()], size=3)
    serve = pool.job()
    calls = [sv.ServiceCall(pool, "Echo", "echo", {"value": i}, requires=serve) for i in range(30)]
    scheduler = jg.Scheduler(serve, *calls)
    with anyio.fail_after(10):
        assert await scheduler.run()
    assert [call.result() for call in calls] == list(range(30))


def test_sync_run_with_trio_and_asyncio() -> None:
    for backend in ("asyncio", "trio"):
        counter = Counter()
        pool = sv.ServicePool([counter])
        serve = pool.job()
        call = sv.ServiceCall(pool, "Counter", "add", {"amount": 7}, requires=serve)
        assert jg.run(jg.Scheduler(serve, call), backend=backend)
        assert call.result() == 7


async def test_service_call_with_an_empty_label_calls_as_its_default_label() -> None:
    pool = sv.ServicePool([Counter()], label="infra")
    call = sv.ServiceCall(pool, "Counter", "add", {"amount": 1}, label="")
    assert call.caller == sv.Caller("Counter.add")
