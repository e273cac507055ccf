"""Calling a service through a running pool: routing, argument checks, sync and async
methods, the errors of a bad call, the call counts and the pool's description."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from jobgraph import services as sv

pytestmark = pytest.mark.anyio


class Hosts(sv.Service):
    def __init__(self) -> None:
        super().__init__()
        self.hosts: dict[str, int] = {}

    @sv.expose(sv.AllowAny())
    @sv.arg_spec(host=str, port=int)
    async def add(self, host: str, port: int = 22) -> int:
        await anyio.lowlevel.checkpoint()
        self.hosts[host] = port
        return len(self.hosts)

    @sv.expose(sv.AllowAny())
    def port(self, host: str) -> int:  # a plain method
        return self.hosts[host]

    @sv.expose(sv.AllowAny())
    @sv.arg_spec(value=(int, float))
    def double(self, value: float) -> float:
        return value * 2

    @sv.expose(sv.AllowAny())
    def later(self, value: int) -> Awaitable[int]:  # plain, but returns an awaitable
        async def compute() -> int:
            await anyio.lowlevel.checkpoint()
            return value + 1

        return compute()

    @sv.expose(sv.AllowParents())
    async def fail(self, message: str) -> None:
        raise ValueError(message)

    def helper(self) -> str:  # not exposed
        return "secret"


async def test_async_and_plain_methods_return_their_values() -> None:
    service = Hosts()
    async with sv.ServicePool([service]) as pool:
        assert await pool.call("Hosts", "add", {"host": "a", "port": 2222}) == 1
        assert await pool.call("Hosts", "add", {"host": "b"}) == 2  # default port
        assert await pool.call("Hosts", "port", {"host": "a"}) == 2222
        assert await pool.call("Hosts", "port", {"host": "b"}) == 22
        assert await pool.call("Hosts", "later", {"value": 41}) == 42
    assert service.hosts == {"a": 2222, "b": 22}


async def test_exception_of_the_method_reaches_the_caller_unchanged() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(ValueError, match=r"^broken$"):
            await pool.call("Hosts", "fail", {"message": "broken"})
        with pytest.raises(KeyError):
            await pool.call("Hosts", "port", {"host": "nowhere"})


async def test_unexposed_method_cannot_be_called() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.UnknownServiceError) as info:
            await pool.call("Hosts", "helper")
    assert str(info.value) == (
        "service 'Hosts' does not expose method 'helper' "
        "(exposed: 'add', 'port', 'double', 'later', 'fail')"
    )


async def test_missing_method_and_private_attributes_are_unknown() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.UnknownServiceError, match="service 'Hosts' has no method 'nope'"):
            await pool.call("Hosts", "nope")
        for name in ("_invoke", "on_start", "__init__", "hosts"):
            with pytest.raises(sv.UnknownServiceError):
                await pool.call("Hosts", name)


async def test_unknown_service_lists_the_known_ones() -> None:
    async with sv.ServicePool([Hosts()], label="infra") as pool:
        with pytest.raises(sv.UnknownServiceError) as info:
            await pool.call("Inventory", "add")
    assert str(info.value) == "service pool 'infra' has no service 'Inventory' (it has: 'Hosts')"
    assert isinstance(info.value, LookupError)


async def test_service_and_method_must_be_named_by_str() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.UnknownServiceError, match="the method of a call must be named"):
            await pool.call("Hosts", 3)  # type: ignore[arg-type]
        with pytest.raises(sv.UnknownServiceError, match="the service of a call must be named"):
            await pool.call(None, "add")  # type: ignore[arg-type]


async def test_arguments_must_be_a_mapping() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.ServiceArgumentError, match=r"Hosts\.add: arguments are passed as a"):
            await pool.call("Hosts", "add", [("host", "a")])  # type: ignore[arg-type]
        with pytest.raises(sv.ServiceArgumentError, match="argument names must be str, not 1"):
            await pool.call("Hosts", "add", {1: "a"})  # type: ignore[dict-item]


async def test_unexpected_argument_is_named() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.ServiceArgumentError) as info:
            await pool.call("Hosts", "add", {"host": "a", "prot": 22, "user": "me"})
    message = str(info.value)
    # the message shows the signature (its annotations as written) after the method
    assert message.startswith("Hosts.add(host: ")
    assert message.endswith(": unexpected argument(s) 'prot', 'user'")
    assert info.value.argument == "prot"


async def test_missing_argument_is_named() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.ServiceArgumentError) as info:
            await pool.call("Hosts", "add", {"port": 22})
    assert "Hosts.add" in str(info.value)
    assert "missing a required argument: 'host'" in str(info.value)
    assert info.value.argument == "host"


async def test_wrong_type_names_argument_expected_and_actual_types() -> None:
    service = Hosts()
    async with sv.ServicePool([service]) as pool:
        with pytest.raises(sv.ServiceArgumentError) as info:
            await pool.call("Hosts", "add", {"host": "a", "port": "22"})
        assert str(info.value) == "Hosts.add: argument 'port' must be int, not str ('22')"
        assert info.value.argument == "port"
        with pytest.raises(sv.ServiceArgumentError, match="must be int or float, not str"):
            await pool.call("Hosts", "double", {"value": "1"})
        assert await pool.call("Hosts", "double", {"value": 1.5}) == 3.0
    assert service.hosts == {}  # refused calls did not run


async def test_unchecked_arguments_accept_any_type() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        await pool.call("Hosts", "add", {"host": "a", "port": 1})
        # port() has no arg_spec: a wrong type reaches the method, which fails its own way
        with pytest.raises(KeyError):
            await pool.call("Hosts", "port", {"host": 3})


async def test_caller_must_be_a_caller() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        with pytest.raises(sv.ServiceDefinitionError, match="caller must be a Caller"):
            await pool.call("Hosts", "port", {"host": "a"}, caller="me")  # type: ignore[arg-type]


async def test_check_call_works_on_a_stopped_pool() -> None:
    pool = sv.ServicePool([Hosts()])
    target, exposure = pool.check_call("Hosts", "add", {"host": "a"}, sv.Caller("j"))
    assert target is pool.services["Hosts"]
    assert exposure.name == "add"
    with pytest.raises(sv.AccessDeniedError):
        pool.check_call("Hosts", "fail", {"message": "m"}, sv.Caller("j", "h"))
    with pytest.raises(sv.ServiceArgumentError):
        pool.check_call("Hosts", "add", {}, sv.Caller("j"))


async def test_stats_count_calls_refusals_successes_and_failures() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        await pool.call("Hosts", "add", {"host": "a"})
        await pool.call("Hosts", "add", {"host": "b"})
        with pytest.raises(sv.ServiceArgumentError):
            await pool.call("Hosts", "add", {"host": 1})
        with pytest.raises(sv.AccessDeniedError):
            await pool.call("Hosts", "fail", {"message": "x"}, caller=sv.Caller("j", "far"))
        with pytest.raises(ValueError, match="x"):
            await pool.call("Hosts", "fail", {"message": "x"})
        with pytest.raises(sv.UnknownServiceError):
            await pool.call("Hosts", "helper")
    stats = pool.stats()
    assert stats == {
        ("Hosts", "add"): sv.CallStats(calls=3, refused=1, succeeded=2, failed=0),
        ("Hosts", "fail"): sv.CallStats(calls=2, refused=1, succeeded=0, failed=1),
    }


async def test_stats_are_a_copy() -> None:
    async with sv.ServicePool([Hosts()]) as pool:
        await pool.call("Hosts", "double", {"value": 1})
        pool.stats()["Hosts", "double"].calls = 100
        assert pool.stats()["Hosts", "double"].calls == 1


async def test_cancelled_call_counts_as_failed() -> None:
    started = anyio.Event()

    class Slow(sv.Service):
        @sv.expose(sv.AllowAny())
        async def wait(self) -> None:
            started.set()
            await anyio.sleep_forever()

    async with sv.ServicePool([Slow()]) as pool:
        with anyio.CancelScope() as scope:

            async def cancel_when_started() -> None:
                await started.wait()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_when_started)
                await pool.call("Slow", "wait")
        assert scope.cancelled_caught
        assert pool.in_flight == 0
        assert pool.stats()["Slow", "wait"] == sv.CallStats(calls=1, failed=1)
        assert pool.running  # cancelling a caller does not touch the pool


def test_describe_lists_services_methods_and_policies() -> None:
    class Queue(sv.Service):
        concurrency = 1

        @sv.expose(sv.AllowCallers(["worker"]))
        def pop(self) -> Any:
            return None

    pool = sv.ServicePool([Hosts(), Queue()], label="infra")
    assert pool.describe() == "\n".join(
        [
            "service pool 'infra' (stopped, 2 services)",
            "  Hosts (Hosts)",
            "    add(host: str, port: int=22)  allowed: any caller",
            "    port(host)  allowed: any caller",
            "    double(value: int or float)  allowed: any caller",
            "    later(value)  allowed: any caller",
            "    fail(message)  allowed: callers in this process",
            (
                "  Queue (test_describe_lists_services_methods_and_policies.<locals>.Queue, "
                "1 call(s) at a time)"
            ),
            "    pop()  allowed: callers named 'worker'",
        ]
    )
    assert repr(pool) == "<ServicePool 'infra' stopped: Hosts, Queue>"
    assert repr(sv.ServicePool()) == "<ServicePool 'services' stopped: empty>"
