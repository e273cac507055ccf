"""Garbage passed to the public constructors and methods of jobgraph.services: refused
with a JobGraphError (or TypeError / ValueError) that names the argument at fault,
never hanging, and leaving a running pool able to serve the next good call."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobgraph.services import (
    AllowAny,
    AllowCallers,
    Caller,
    Service,
    ServiceCall,
    ServicePool,
    arg_spec,
    expose,
)
from tests.harness.test_fuzz_inputs import REFUSED, garbage, refused_naming


class Adder(Service):
    @expose(AllowAny())
    @arg_spec(a=int, b=int)
    async def add(self, a: int, b: int = 1) -> int:
        await anyio.lowlevel.checkpoint()
        return a + b


def not_a_str(value: Any) -> bool:
    return not isinstance(value, str)


@pytest.mark.parametrize(
    ("option", "name"), [("size", "size"), ("stop_timeout", "stop_timeout"), ("label", "label")]
)
@given(value=garbage)
def test_pool_options_refuse_garbage_by_name(option: str, name: str, value: Any) -> None:
    accepted, pool = refused_naming(lambda: ServicePool([Adder()], **{option: value}), name)
    if accepted:
        assert getattr(pool, option) == value


@given(value=garbage)
def test_pool_refuses_what_is_not_a_service(value: Any) -> None:
    refused_naming(lambda: ServicePool([value]), "Service")


@given(name=garbage, host=garbage)
def test_caller_refuses_garbage_by_name(name: Any, host: Any) -> None:
    def make() -> Caller:
        return Caller(name, host)

    word = "name" if not isinstance(name, str) or not name else "host"
    accepted, caller = refused_naming(make, word)
    if accepted:
        assert (caller.name, caller.host) == (name, host)


@pytest.mark.parametrize("option", ["names", "hosts", "where"])
@given(value=garbage)
def test_allow_callers_refuses_garbage_by_name(option: str, value: Any) -> None:
    accepted, policy = refused_naming(lambda: AllowCallers(**{option: value}), option)
    if accepted:  # whatever was accepted describes itself and judges callers
        assert isinstance(policy.describe(), str)


@given(value=garbage)
def test_expose_and_arg_spec_refuse_garbage(value: Any) -> None:
    refused_naming(lambda: expose(value), "Policy")
    if not isinstance(value, type):
        refused_naming(lambda: arg_spec(x=value), "'x'")


def refusal(call: Any) -> str | None:
    """Call; None if accepted, else the message of the (proper) refusal."""
    try:
        call()
    except REFUSED as exc:
        return str(exc)
    return None


@given(service=garbage | st.just("Adder"), method=garbage | st.just("add"), kwargs=garbage)
def test_service_call_refuses_garbage_when_built(service: Any, method: Any, kwargs: Any) -> None:
    pool = ServicePool([Adder()])
    message = refusal(lambda: ServiceCall(pool, service, method, kwargs))
    if not_a_str(service):
        assert message is not None
        assert "service" in message
    elif not_a_str(method):
        assert message is not None
        assert "method" in message
    elif message is None:
        assert (service, method) == ("Adder", "add")
    else:
        assert "Adder" in message or "add" in message or "kwargs" in message


@given(
    calls=st.lists(
        st.tuples(
            garbage | st.just("Adder"),
            garbage | st.just("add"),
            garbage | st.fixed_dictionaries({"a": garbage}),
            st.none() | garbage,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_garbage_calls_leave_a_running_pool_serving(calls: list[tuple[Any, ...]]) -> None:
    pool = ServicePool([Adder()], stop_timeout=1.0)
    messages: list[str] = []

    async def main() -> int:
        async with pool:
            for service, method, kwargs, caller in calls:
                with anyio.fail_after(5):
                    try:
                        await pool.call(service, method, kwargs, caller=caller)
                    except REFUSED as exc:
                        messages.append(str(exc))
            assert pool.in_flight == 0
            with anyio.fail_after(5):
                return int(await pool.call("Adder", "add", {"a": 40, "b": 2}))

    assert anyio.run(main, backend="trio") == 42
    assert all(messages), "a refusal without a message"
    good = pool.stats()[("Adder", "add")]
    assert good.calls == good.refused + good.succeeded + good.failed
