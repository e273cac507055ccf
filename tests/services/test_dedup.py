"""DeduplicatingService: equal calls in progress run once, results are remembered,
failures are shared but not remembered, a cancelled runner hands over."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from jobgraph import services as sv

pytestmark = pytest.mark.anyio


class Resolver(sv.DeduplicatingService):
    """Resolves names; each run waits for the test to open the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[tuple[str, Any]] = []
        self.gate = anyio.Event()
        self.fail_next = False

    @sv.expose(sv.AllowAny())
    async def resolve(self, name: str, extra: Any = None) -> str:
        self.runs.append((name, extra))
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise LookupError(f"cannot resolve {name}")
        return f"{name}.example.org"

    @sv.expose(sv.AllowAny())
    def size(self, name: str) -> int:  # a plain method is shared too
        self.runs.append((name, "size"))
        return len(name)


async def call_many(
    pool: sv.ServicePool, kwargs_list: list[dict[str, Any]], release: Resolver
) -> list[Any]:
    """Make the calls concurrently, open the gate once all wait, return the outcomes."""
    outcomes: list[Any] = [None] * len(kwargs_list)

    async def one(index: int, kwargs: dict[str, Any]) -> None:
        try:
            outcomes[index] = await pool.call("Resolver", "resolve", kwargs)
        except Exception as exc:
            outcomes[index] = exc

    async with anyio.create_task_group() as tg:
        for index, kwargs in enumerate(kwargs_list):
            tg.start_soon(one, index, kwargs)
        await anyio.wait_all_tasks_blocked()
        release.gate.set()
    return outcomes


async def test_concurrent_equal_calls_run_once_and_share_the_result() -> None:
    service = Resolver()
    async with sv.ServicePool([service]) as pool:
        outcomes = await call_many(pool, [{"name": "db"}] * 5, service)
        assert pool.stats()["Resolver", "resolve"] == sv.CallStats(calls=5, succeeded=5)
    assert outcomes == ["db.example.org"] * 5
    assert service.runs == [("db", None)]


async def test_later_equal_call_gets_the_remembered_result() -> None:
    service = Resolver()
    service.gate.set()
    async with sv.ServicePool([service]) as pool:
        assert await pool.call("Resolver", "resolve", {"name": "db"}) == "db.example.org"
        assert await pool.call("Resolver", "resolve", {"name": "db"}) == "db.example.org"
        assert await pool.call("Resolver", "size", {"name": "db"}) == 2
        assert await pool.call("Resolver", "size", {"name": "db"}) == 2
    assert service.runs == [("db", None), ("db", "size")]
    assert service.remembered == 2


async def test_argument_order_does_not_matter() -> None:
    service = Resolver()
    service.gate.set()
    async with sv.ServicePool([service]) as pool:
        await pool.call("Resolver", "resolve", {"name": "db", "extra": 1})
        await pool.call("Resolver", "resolve", {"extra": 1, "name": "db"})
    assert service.runs == [("db", 1)]


async def test_different_arguments_run_separately() -> None:
    service = Resolver()
    async with sv.ServicePool([service]) as pool:
        outcomes = await call_many(
            pool, [{"name": "db"}, {"name": "web"}, {"name": "db", "extra": 2}], service
        )
    assert outcomes == ["db.example.org", "web.example.org", "db.example.org"]
    assert sorted(service.runs, key=repr) == sorted(
        [("db", None), ("web", None), ("db", 2)], key=repr
    )


async def test_failure_reaches_every_waiter_and_is_not_remembered() -> None:
    service = Resolver()
    service.fail_next = True
    async with sv.ServicePool([service]) as pool:
        outcomes = await call_many(pool, [{"name": "db"}] * 3, service)
        for outcome in outcomes:
            assert isinstance(outcome, LookupError)
            assert str(outcome) == "cannot resolve db"
        assert service.remembered == 0
        assert pool.stats()["Resolver", "resolve"] == sv.CallStats(calls=3, failed=3)
        # the next call runs the method again, and this time succeeds
        assert await pool.call("Resolver", "resolve", {"name": "db"}) == "db.example.org"
    assert service.runs == [("db", None), ("db", None)]


async def test_cancelled_runner_hands_over_to_a_waiter() -> None:
    service = Resolver()
    results: list[str] = []
    async with sv.ServicePool([service]) as pool:

        async def waiter() -> None:
            results.append(await pool.call("Resolver", "resolve", {"name": "db"}))

        async with anyio.create_task_group() as tg:
            leader = anyio.CancelScope()

            async def lead() -> None:
                with leader:
                    await pool.call("Resolver", "resolve", {"name": "db"})

            tg.start_soon(lead)
            await anyio.wait_all_tasks_blocked()
            for _ in range(3):
                tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert service.runs == [("db", None)]
            leader.cancel()
            await anyio.wait_all_tasks_blocked()
            assert service.runs == [("db", None), ("db", None)]  # one waiter took over
            service.gate.set()
        assert leader.cancelled_caught
        assert pool.stats()["Resolver", "resolve"] == sv.CallStats(calls=4, succeeded=3, failed=1)
    assert results == ["db.example.org"] * 3
    assert service.remembered == 1


async def test_unhashable_arguments_are_not_shared() -> None:
    service = Resolver()
    async with sv.ServicePool([service]) as pool:
        outcomes = await call_many(pool, [{"name": "db", "extra": [1]}] * 2, service)
        again = await pool.call("Resolver", "resolve", {"name": "db", "extra": [1]})
    assert outcomes == ["db.example.org"] * 2
    assert again == "db.example.org"
    assert service.runs == [("db", [1])] * 3
    assert service.remembered == 0


async def test_forget_drops_remembered_results() -> None:
    service = Resolver()
    service.gate.set()
    async with sv.ServicePool([service]) as pool:
        await pool.call("Resolver", "resolve", {"name": "db"})
        await pool.call("Resolver", "resolve", {"name": "web"})
        assert service.remembered == 2
        service.forget()
        assert service.remembered == 0
        await pool.call("Resolver", "resolve", {"name": "db"})
    assert service.runs == [("db", None), ("web", None), ("db", None)]


async def test_custom_dedup_key_decides_what_is_equal() -> None:
    class CaseBlind(sv.DeduplicatingService):
        def __init__(self) -> None:
            super().__init__()
            self.runs = 0

        def dedup_key(self, method: str, kwargs: Any) -> Any:
            return (method, kwargs["name"].lower())

        @sv.expose(sv.AllowAny())
        def greet(self, name: str) -> str:
            self.runs += 1
            return f"hello {name}"

    service = CaseBlind()
    async with sv.ServicePool([service]) as pool:
        assert await pool.call("CaseBlind", "greet", {"name": "Ann"}) == "hello Ann"
        assert await pool.call("CaseBlind", "greet", {"name": "ANN"}) == "hello Ann"
    assert service.runs == 1


async def test_subclass_that_skips_init_still_works() -> None:
    class Lazy(sv.DeduplicatingService):
        def __init__(self) -> None:  # does not call DeduplicatingService.__init__
            self.runs = 0

        @sv.expose(sv.AllowAny())
        def one(self) -> int:
            self.runs += 1
            return 1

    service = Lazy()
    async with sv.ServicePool([service]) as pool:
        assert await pool.call("Lazy", "one") == 1
        assert await pool.call("Lazy", "one") == 1
    assert service.runs == 1
    assert service.remembered == 1
