"""Mistakes in a service class are caught when the class is created, and the error
names the class and the method; what a class exposes follows its definition."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

import jobgraph as jg
from jobgraph import services as sv

pytestmark = pytest.mark.anyio


def test_positional_only_argument_is_refused_at_class_creation() -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"Positional\.lookup: argument 'key'"):

        class Positional(sv.Service):
            @sv.expose(sv.AllowAny())
            def lookup(self, key: str, /) -> str:
                return key


def test_var_positional_argument_is_refused_at_class_creation() -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"Starred\.gather: argument 'items'"):

        class Starred(sv.Service):
            @sv.expose(sv.AllowAny())
            def gather(self, *items: int) -> int:
                return sum(items)


def test_method_without_self_is_refused() -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"NoSelf\.ping must be a plain method"):

        class NoSelf(sv.Service):
            @sv.expose(sv.AllowAny())
            def ping(*args: Any) -> None:
                pass


def test_arg_spec_naming_an_unknown_argument_is_refused() -> None:
    message = r"arg_spec\(\) of .*Typo\.add names argument 'hots'"
    with pytest.raises(sv.ServiceDefinitionError, match=message):

        class Typo(sv.Service):
            @sv.expose(sv.AllowAny())
            @sv.arg_spec(hots=str)
            def add(self, host: str) -> None:
                pass


def test_arg_spec_may_name_any_argument_of_a_method_taking_kwargs() -> None:
    class Open(sv.Service):
        @sv.expose(sv.AllowAny())
        @sv.arg_spec(anything=int)
        def take(self, **options: Any) -> None:
            pass

    assert Open.exposed["take"].arg_types == {"anything": int}


def test_arg_spec_without_expose_is_refused() -> None:
    message = r"Forgot\.add has an arg_spec\(\) but is not exposed; add @expose\(policy\)"
    with pytest.raises(sv.ServiceDefinitionError, match=message):

        class Forgot(sv.Service):
            @sv.arg_spec(host=str)
            def add(self, host: str) -> None:
                pass


@pytest.mark.parametrize("kind", [staticmethod, classmethod])
def test_exposed_static_or_class_method_is_refused(
    kind: Callable[[Callable[..., None]], Any],
) -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"Odd\.ping must be a plain method"):

        class Odd(sv.Service):
            @kind
            @sv.expose(sv.AllowAny())
            def ping(*args: Any) -> None:
                pass


@pytest.mark.parametrize("kind", [staticmethod, classmethod])
def test_expose_above_static_or_class_method_is_refused(
    kind: Callable[[Callable[..., None]], Any],
) -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"Odd\.ping must be a plain method"):

        class Odd(sv.Service):
            @sv.expose(sv.AllowAny())
            @kind
            def ping(*args: Any) -> None:
                pass


def test_expose_takes_a_policy_instance() -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"expose\(\) takes a Policy"):
        sv.expose(sv.AllowAny)  # type: ignore[arg-type]


@pytest.mark.parametrize("wanted", ["str", (), (int, "x"), None])
def test_arg_spec_takes_classes_only(wanted: Any) -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"the type of argument 'x' must be"):
        sv.arg_spec(x=wanted)


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5, "2"])
def test_bad_concurrency_is_refused_at_class_creation(concurrency: Any) -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"Busy\.concurrency must be None or"):
        type("Busy", (sv.Service,), {"concurrency": concurrency})


def test_only_exposed_methods_are_listed() -> None:
    class Mixed(sv.Service):
        @sv.expose(sv.AllowAny())
        def public(self) -> None:
            pass

        def private(self) -> None:
            pass

    assert list(Mixed.exposed) == ["public"]
    assert Mixed.exposed["public"].policy.describe() == "any caller"


def test_subclass_inherits_exposed_methods_and_an_override_without_expose_hides_one() -> None:
    class Base(sv.Service):
        @sv.expose(sv.AllowAny())
        def first(self) -> int:
            return 1

        @sv.expose(sv.AllowAny())
        def second(self) -> int:
            return 2

    class Child(Base):
        def second(self) -> int:  # not exposed any more
            return 20

        @sv.expose(sv.AllowParents())
        def third(self) -> int:
            return 3

    assert sorted(Child.exposed) == ["first", "third"]
    assert sorted(Base.exposed) == ["first", "second"]


def test_service_name_comes_from_instance_then_class_then_class_name() -> None:
    class Plain(sv.Service):
        pass

    class Named(sv.Service):
        name = "registry"

    assert Plain().service_name == "Plain"
    assert Named().service_name == "registry"
    assert Named(name="other").service_name == "other"
    assert repr(Named(name="other")) == "<Named 'other'>"
    with pytest.raises(sv.ServiceDefinitionError, match="non-empty str"):
        Plain(name="")


def test_exposure_describe_shows_types_defaults_and_policy() -> None:
    class Registry(sv.Service):
        @sv.expose(sv.AllowParents())
        @sv.arg_spec(host=str, port=(int, type(None)))
        def add(self, host: str, port: int | None = 22, **tags: str) -> None:
            pass

    described = Registry.exposed["add"].describe()
    assert described == (
        "add(host: str, port: int or NoneType=22, **tags)  allowed: callers in this process"
    )


def test_pool_refuses_bad_services_and_options() -> None:
    class One(sv.Service):
        pass

    with pytest.raises(sv.ServiceDefinitionError, match=re.escape("wrap it: [service]")):
        sv.ServicePool(One())  # type: ignore[arg-type]
    with pytest.raises(sv.ServiceDefinitionError, match="takes Service instances"):
        sv.ServicePool([object()])  # type: ignore[list-item]
    with pytest.raises(jg.InvalidOptionError, match="size of a service pool"):
        sv.ServicePool([One()], size=0)
    with pytest.raises(sv.ServiceDefinitionError, match="already has a service named 'One'"):
        sv.ServicePool([One(), One()])
    pool = sv.ServicePool([One(), One(name="One2")])
    assert list(pool.services) == ["One", "One2"]


@pytest.mark.parametrize("name", [3, "", b"svc"])
def test_bad_class_name_is_refused_at_class_creation(name: Any) -> None:
    with pytest.raises(sv.ServiceDefinitionError, match=r"Named\.name must be None or a non-empty"):
        type("Named", (sv.Service,), {"name": name})
