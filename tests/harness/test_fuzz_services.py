"""Garbage passed to the public constructors and methods of jobgraph.services: refused
with a JobGraphError (or TypeError / ValueError) that names the argument at fault,
never hanging, and leaving a running pool able to serve the next good call."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jobgraph.services import (
    AccessDeniedError,
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


POOL_ACCEPTS: dict[str, Any] = {"size": 3, "stop_timeout": 0.5, "label": "adders"}


@pytest.mark.parametrize(
    ("option", "name"), [("size", "size"), ("stop_timeout", "stop_timeout"), ("label", "label")]
)
@given(value=garbage)
@example(value=None)  # each option's own good value is checked first, below
def test_pool_options_refuse_garbage_by_name(option: str, name: str, value: Any) -> None:
    # a good value is accepted and kept: the check on accepted input always runs
    good = POOL_ACCEPTS[option]
    accepted, pool = refused_naming(lambda: ServicePool([Adder()], **{option: good}), name)
    assert accepted and getattr(pool, option) == good
    accepted, pool = refused_naming(lambda: ServicePool([Adder()], **{option: value}), name)
    if accepted:
        assert getattr(pool, option) == value


@given(value=garbage)
def test_pool_refuses_what_is_not_a_service(value: Any) -> None:
    accepted, _ = refused_naming(lambda: ServicePool([value]), "Service")
    assert not accepted, f"ServicePool accepted {value!r} as a service"


@given(name=garbage, host=garbage)
@example(name="alice", host="h1")
@example(name="alice", host=None)
def test_caller_refuses_garbage_by_name(name: Any, host: Any) -> None:
    def make() -> Caller:
        return Caller(name, host)

    word = "name" if not isinstance(name, str) or not name else "host"
    accepted, caller = refused_naming(make, word)
    if name == "alice" and host in ("h1", None):
        assert accepted, f"Caller refused {name!r}, {host!r}"
    if accepted:
        assert (caller.name, caller.host) == (name, host)


def verdict(policy: AllowCallers, caller: Caller) -> bool | None:
    """Whether a pool whose ``Adder.add`` has ``policy`` lets ``caller`` add: True if
    the call went through, False if it was denied; None if it failed otherwise."""
    exposed = expose(policy)

    class Guarded(Service):
        @exposed
        async def add(self, a: int, b: int = 1) -> int:
            await anyio.lowlevel.checkpoint()
            return a + b

    pool = ServicePool([Guarded(name="Adder")], stop_timeout=1.0)

    async def main() -> bool | None:
        async with pool:
            with anyio.fail_after(5):
                try:
                    return bool(await pool.call("Adder", "add", {"a": 1}, caller=caller) == 2)
                except AccessDeniedError:
                    return False
                except REFUSED:
                    return None

    return anyio.run(main, backend="trio")


def expected_verdict(option: str, value: Any, caller: Caller) -> bool:
    """What AllowCallers(**{option: value}) says of ``caller``, worked out directly."""
    if option == "names":
        return caller.name in set(value)
    if option == "hosts":
        return caller.host in set(value)
    try:
        return bool(value(caller))
    except Exception:  # a predicate that raises denies the call
        return False


ALLOW_ACCEPTS: dict[str, Any] = {
    "names": ["a", "x"],
    "hosts": {"h"},
    "where": lambda c: c.name == "x",
}


@pytest.mark.parametrize("option", ["names", "hosts", "where"])
@given(value=garbage, name=st.sampled_from(["a", "bc", "x"]), host=st.sampled_from(["a", "h"]))
@example(value=ALLOW_ACCEPTS, name="a", host="h")  # stands for each option's good value
@example(value=ALLOW_ACCEPTS, name="bc", host="a")
def test_allow_callers_refuses_garbage_by_name(
    option: str, value: Any, name: str, host: str
) -> None:
    if value is ALLOW_ACCEPTS:  # the accepted path, whatever the fuzzer draws
        value = ALLOW_ACCEPTS[option]
        assert refused_naming(lambda: AllowCallers(**{option: value}), option)[0]
    accepted, policy = refused_naming(lambda: AllowCallers(**{option: value}), option)
    if not accepted:
        return
    # whatever was accepted describes itself and judges callers as it says
    assert isinstance(policy.describe(), str)
    caller = Caller(name, host)
    assert verdict(policy, caller) is expected_verdict(option, value, caller), (
        f"AllowCallers({option}={value!r}) judged {caller} wrongly"
    )


def test_allow_callers_judges_as_documented() -> None:
    """The cases the fuzzing above may not draw: allowed by name, host or predicate."""
    alice, bob = Caller("alice", "h1"), Caller("bob", "h2")
    assert verdict(AllowCallers(["alice"]), alice) is True
    assert verdict(AllowCallers(["alice"]), bob) is False
    assert verdict(AllowCallers(hosts={"h2"}), bob) is True
    assert verdict(AllowCallers(hosts={"h2"}), alice) is False
    assert verdict(AllowCallers(where=lambda c: c.name == "bob"), bob) is True
    assert verdict(AllowCallers(where=lambda c: c.name == "bob"), alice) is False
    assert verdict(AllowCallers(), alice) is False


@given(value=garbage)
def test_expose_and_arg_spec_refuse_garbage(value: Any) -> None:
    accepted, _ = refused_naming(lambda: expose(value), "Policy")
    assert not accepted, f"expose() accepted {value!r} as a policy"
    if not isinstance(value, type):
        accepted, _ = refused_naming(lambda: arg_spec(x=value), "'x'")
        assert not accepted, f"arg_spec() accepted {value!r} as a type"


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
