"""Who may call what: Caller, the policies, their combination and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from jobgraph import services as sv

pytestmark = pytest.mark.anyio

LOCAL = sv.Caller("job")
REMOTE = sv.Caller("job", host="node1")


class Guarded(sv.Service):
    @sv.expose(sv.AllowAny())
    def anyone(self) -> str:
        return "anyone"

    @sv.expose(sv.AllowParents())
    def parents(self) -> str:
        return "parents"

    @sv.expose(sv.AllowCallers(["builder"], hosts=["node2"]))
    def chosen(self) -> str:
        return "chosen"

    @sv.expose(sv.AllowCallers(["builder"]) | sv.AllowParents())
    def either(self) -> str:
        return "either"

    @sv.expose(sv.AllowParents())
    @sv.arg_spec(x=int)
    def typed(self, x: int) -> int:
        return x


@pytest.mark.parametrize(
    ("method", "caller", "allowed"),
    [
        ("anyone", LOCAL, True),
        ("anyone", REMOTE, True),
        ("parents", LOCAL, True),
        ("parents", REMOTE, False),
        ("chosen", sv.Caller("builder"), True),
        ("chosen", sv.Caller("builder", host="node9"), True),
        ("chosen", sv.Caller("other", host="node2"), True),
        ("chosen", sv.Caller("other"), False),
        ("chosen", sv.Caller("other", host="node9"), False),
        ("either", sv.Caller("builder", host="node9"), True),
        ("either", LOCAL, True),
        ("either", REMOTE, False),
    ],
)
async def test_policy_decides_who_may_call(method: str, caller: sv.Caller, allowed: bool) -> None:
    async with sv.ServicePool([Guarded()]) as pool:
        if allowed:
            assert await pool.call("Guarded", method, caller=caller) == method
        else:
            with pytest.raises(sv.AccessDeniedError):
                await pool.call("Guarded", method, caller=caller)


async def test_default_caller_is_a_parent() -> None:
    async with sv.ServicePool([Guarded()]) as pool:
        assert await pool.call("Guarded", "parents") == "parents"
        with pytest.raises(sv.AccessDeniedError, match="caller 'local' may not call"):
            await pool.call("Guarded", "chosen")


async def test_access_denied_error_names_caller_service_and_method() -> None:
    async with sv.ServicePool([Guarded()]) as pool:
        with pytest.raises(sv.AccessDeniedError) as info:
            await pool.call("Guarded", "parents", caller=REMOTE)
    error = info.value
    assert error.caller == REMOTE
    assert error.service == "Guarded"
    assert error.method == "parents"
    assert str(error) == (
        "caller 'job' on host 'node1' may not call Guarded.parents: "
        "it allows callers in this process"
    )


async def test_refused_caller_learns_nothing_about_the_arguments() -> None:
    async with sv.ServicePool([Guarded()]) as pool:
        with pytest.raises(sv.AccessDeniedError):
            await pool.call("Guarded", "typed", {"nonsense": 1}, caller=REMOTE)
        with pytest.raises(sv.ServiceArgumentError):
            await pool.call("Guarded", "typed", {"nonsense": 1}, caller=LOCAL)


async def test_where_predicate_sees_the_caller() -> None:
    seen: list[sv.Caller] = []

    def trusted(caller: sv.Caller) -> bool:
        seen.append(caller)
        return caller.name.startswith("trusted-")

    class Predicated(sv.Service):
        @sv.expose(sv.AllowCallers(where=trusted))
        def go(self) -> str:
            return "went"

    good = sv.Caller("trusted-1", host="far")
    bad = sv.Caller("sneaky", host="far")
    async with sv.ServicePool([Predicated()]) as pool:
        assert await pool.call("Predicated", "go", caller=good) == "went"
        with pytest.raises(sv.AccessDeniedError, match=r"callers accepted by .*trusted"):
            await pool.call("Predicated", "go", caller=bad)
    assert seen == [good, bad]


async def test_a_policy_that_raises_refuses_the_call() -> None:
    def broken(caller: sv.Caller) -> bool:
        raise KeyError(caller.name)

    class Fragile(sv.Service):
        @sv.expose(sv.AllowCallers(where=broken))
        def go(self) -> str:
            return "went"

    async with sv.ServicePool([Fragile()]) as pool:
        with pytest.raises(sv.AccessDeniedError, match=r"its policy .* failed: KeyError") as info:
            await pool.call("Fragile", "go", caller=sv.Caller("someone"))
        assert isinstance(info.value.__cause__, KeyError)
        assert pool.stats()[("Fragile", "go")].refused == 1
        assert pool.in_flight == 0


def test_describe_says_who_is_let_in() -> None:
    assert sv.AllowAny().describe() == "any caller"
    assert sv.AllowParents().describe() == "callers in this process"
    assert sv.AllowCallers().describe() == "no caller"
    assert sv.AllowCallers(["b", "a"]).describe() == "callers named 'a', 'b'"
    assert (
        sv.AllowCallers(["a"], hosts=["h2", "h1"]).describe()
        == "callers named 'a' or callers on 'h1', 'h2'"
    )
    assert (sv.AllowCallers(["a"]) | sv.AllowParents()).describe() == (
        "callers named 'a' or callers in this process"
    )
    assert repr(sv.AllowAny()) == "<AllowAny: any caller>"


def test_empty_allow_callers_refuses_everyone() -> None:
    policy = sv.AllowCallers()
    service = Guarded()
    assert not policy.is_authorized(LOCAL, service, "anyone")
    assert not policy.is_authorized(REMOTE, service, "anyone")


def test_hosts_never_match_a_local_caller() -> None:
    # a caller in this process has host None, which no host list can name
    policy = sv.AllowCallers(hosts=["localhost"])
    assert not policy.is_authorized(sv.Caller("x"), Guarded(), "anyone")
    assert policy.is_authorized(sv.Caller("x", host="localhost"), Guarded(), "anyone")


def test_combining_with_a_non_policy_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        sv.AllowAny() | "everyone"  # type: ignore[operator]


def test_custom_policy_subclass() -> None:
    class OnlyMethod(sv.Policy):
        def is_authorized(self, caller: sv.Caller, service: sv.Service, method: str) -> bool:
            return method == "anyone"

    assert OnlyMethod().describe() == "OnlyMethod"
    assert OnlyMethod().is_authorized(REMOTE, Guarded(), "anyone")
    with pytest.raises(NotImplementedError, match="Policy must implement is_authorized"):
        sv.Policy().is_authorized(LOCAL, Guarded(), "anyone")


def test_allow_callers_refuses_a_bare_string() -> None:
    # "builder" would otherwise mean the callers named "b", "u", "i"...
    with pytest.raises(sv.ServiceDefinitionError, match="names must be an iterable of str"):
        sv.AllowCallers("builder")
    with pytest.raises(sv.ServiceDefinitionError, match="hosts must be an iterable of str"):
        sv.AllowCallers(hosts="node1")
    with pytest.raises(sv.ServiceDefinitionError, match="names must be non-empty str, not 3"):
        sv.AllowCallers([3])  # type: ignore[list-item]


def test_allow_callers_refuses_a_where_that_is_not_callable() -> None:
    with pytest.raises(sv.ServiceDefinitionError, match="where must be a callable"):
        sv.AllowCallers(where="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "host"), [("", None), ("x", ""), ("x", 3)])
def test_caller_must_have_a_name_and_a_real_host(name: str, host: Any) -> None:
    with pytest.raises(sv.ServiceDefinitionError, match="a caller's"):
        sv.Caller(name, host)


def test_caller_text_and_parenthood() -> None:
    assert str(sv.Caller("a")) == "'a'"
    assert str(sv.Caller("a", "h")) == "'a' on host 'h'"
    assert sv.Caller("a").is_parent
    assert not sv.Caller("a", "h").is_parent
