"""Services: objects whose explicitly exposed methods jobs call through a pool.

A method is reachable only if :func:`expose` marked it, with the :class:`Policy`
that says who may call it. :func:`arg_spec` adds type checks on its arguments; the
method's own signature decides which arguments are required and which are unknown.
Calls pass arguments by keyword, as one mapping, so that a call can later travel
from a remote host as plain data.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import anyio

from ._exceptions import ServiceArgumentError, ServiceDefinitionError
from ._policy import Policy

__all__ = ["DeduplicatingService", "Exposure", "Service", "arg_spec", "expose"]

F = TypeVar("F", bound=Callable[..., Any])
TypeSpec = type | tuple[type, ...]

_POLICY = "__jobgraph_policy__"
_ARG_TYPES = "__jobgraph_arg_types__"


def expose(policy: Policy) -> Callable[[F], F]:
    """Make a method of a :class:`Service` callable through a pool.

    Methods without it cannot be called from outside. Use it as a decorator on a plain
    (not static or class) method whose arguments can all be passed by keyword.

    Args:
        policy: who may call the method.

    Returns:
        A decorator that marks the method and returns it unchanged.

    Raises:
        ServiceDefinitionError: ``policy`` is not a :class:`Policy` (a malformed method
            is refused when its class is defined).
    """
    if not isinstance(policy, Policy):
        raise ServiceDefinitionError(
            f"expose() takes a Policy (AllowAny(), AllowParents()...), not {policy!r}"
        )

    def mark(method: F) -> F:
        setattr(method, _POLICY, policy)
        return method

    return mark


def arg_spec(spec: Mapping[str, TypeSpec] | None = None, /, **types: TypeSpec) -> Callable[[F], F]:
    """Check the types of a method's arguments before each call.

    A call whose argument is not an instance of its type is refused with
    :class:`ServiceArgumentError` before the method runs. Which arguments are required
    comes from the method's signature. The method must also be exposed.

    Args:
        spec: a mapping from argument name to a type or a tuple of types.
        **types: more of the same, by keyword (they override ``spec``).

    Returns:
        A decorator that marks the method and returns it unchanged.

    Raises:
        ServiceDefinitionError: a type is not a class or a non-empty tuple of classes.
    """
    merged: dict[str, TypeSpec] = dict(spec or {})
    merged.update(types)
    for name, wanted in merged.items():
        if not _is_type_spec(wanted):
            raise ServiceDefinitionError(
                f"arg_spec(): the type of argument {name!r} must be a class or a tuple of "
                f"classes, not {wanted!r}"
            )

    def mark(method: F) -> F:
        setattr(method, _ARG_TYPES, MappingProxyType(merged))
        return method

    return mark


def _is_type_spec(value: object) -> bool:
    if isinstance(value, type):
        return True
    return isinstance(value, tuple) and bool(value) and all(isinstance(v, type) for v in value)


def _type_name(wanted: TypeSpec) -> str:
    if isinstance(wanted, tuple):
        return " or ".join(kind.__qualname__ for kind in wanted)
    return wanted.__qualname__


@dataclass(frozen=True, slots=True)
class Exposure:
    """An exposed method, as a pool sees it (read ``Service.exposed``).

    Attributes:
        name: the method's name.
        policy: who may call it.
        arg_types: the types :func:`arg_spec` checks, by argument name.
        signature: its signature, without ``self``.
        is_async: True for an ``async def`` method.
    """

    name: str
    policy: Policy
    arg_types: Mapping[str, TypeSpec]
    signature: inspect.Signature
    is_async: bool

    def check_arguments(self, service: str, kwargs: Mapping[str, Any]) -> None:
        """Check that ``kwargs`` fit the method, without calling it.

        Args:
            service: the service's name, for the error message.
            kwargs: the call's arguments, by name.

        Raises:
            ServiceArgumentError: ``kwargs`` is not a mapping with str keys, or has an
                unexpected or missing argument, or one of the wrong type; ``argument``
                names it.
        """
        where = f"{service}.{self.name}"
        if not isinstance(kwargs, Mapping):
            raise ServiceArgumentError(
                f"{where}: arguments are passed as a mapping of names to values, not {kwargs!r}"
            )
        for key in kwargs:
            if not isinstance(key, str):
                raise ServiceArgumentError(f"{where}: argument names must be str, not {key!r}")
        if not any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values()):
            unknown = [key for key in kwargs if key not in self.signature.parameters]
            if unknown:
                raise ServiceArgumentError(
                    f"{where}{self.parameters_text()}: unexpected argument(s) "
                    + ", ".join(map(repr, unknown)),
                    argument=unknown[0],
                )
        missing = [
            name
            for name, p in self.signature.parameters.items()
            if p.default is p.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            and name not in kwargs
        ]
        try:
            self.signature.bind(**kwargs)
        except TypeError as exc:
            raise ServiceArgumentError(
                f"{where}{self.parameters_text()}: {exc}", argument=missing[0] if missing else None
            ) from None
        for name, wanted in self.arg_types.items():
            if name in kwargs and not isinstance(kwargs[name], wanted):
                raise ServiceArgumentError(
                    f"{where}: argument {name!r} must be {_type_name(wanted)}, "
                    f"not {type(kwargs[name]).__qualname__} ({kwargs[name]!r})",
                    argument=name,
                )

    def describe(self) -> str:
        """The method as callers see it, and who may call it.

        Returns:
            One line, like ``"add(x: int, y=0)  allowed: any caller"``.
        """
        return f"{self.name}{self.parameters_text()}  allowed: {self.policy.describe()}"

    def parameters_text(self) -> str:
        """The arguments the method takes, with their checked types and defaults.

        Returns:
            A parenthesized list, like ``"(x: int, y=0)"``.
        """
        parameters = []
        for parameter in self.signature.parameters.values():
            text = parameter.name
            if parameter.name in self.arg_types:
                text += f": {_type_name(self.arg_types[parameter.name])}"
            if parameter.default is not inspect.Parameter.empty:
                text += f"={parameter.default!r}"
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                text = "**" + text
            parameters.append(text)
        return f"({', '.join(parameters)})"


def _exposure(owner: type, name: str, method: Callable[..., Any]) -> Exposure:
    where = f"{owner.__qualname__}.{name}"
    policy = getattr(method, _POLICY)
    arg_types: Mapping[str, TypeSpec] = getattr(method, _ARG_TYPES, MappingProxyType({}))
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError) as exc:
        raise ServiceDefinitionError(f"exposed method {where} has no signature: {exc}") from None
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ServiceDefinitionError(f"exposed method {where} must be a plain method taking self")
    parameters = parameters[1:]
    for parameter in parameters:
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
            raise ServiceDefinitionError(
                f"exposed method {where}: argument {parameter.name!r} cannot be passed by "
                "keyword, and calls pass every argument by keyword"
            )
    names = {p.name for p in parameters}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    for arg in arg_types:
        if arg not in names and not takes_any:
            raise ServiceDefinitionError(
                f"arg_spec() of {where} names argument {arg!r}, which the method does not take"
            )
    return Exposure(
        name=name,
        policy=policy,
        arg_types=arg_types,
        signature=signature.replace(parameters=parameters),
        is_async=inspect.iscoroutinefunction(method),
    )


class Service:
    """A long-lived object that jobs call through a :class:`ServicePool`.

    Subclasses mark the methods callers may use with :func:`expose` (and
    :func:`arg_spec`); methods may be ``async`` or plain. Class options:

    - ``name``: the name callers use (default: the class name); an instance may
      override it with ``Service.__init__(self, name=...)``;
    - ``concurrency``: how many calls may run at once in this service (``None``: no
      limit; ``1``: one at a time, in the order they arrive).

    :meth:`on_start` and :meth:`on_stop` run when the pool starts and stops.

    Args:
        name: this instance's name, overriding the class's.

    Raises:
        ServiceDefinitionError: ``name`` is not None or a non-empty str; at class
            definition, a bad ``name`` or ``concurrency`` option, a malformed exposed
            method, or an :func:`arg_spec` on a method that is not exposed.
    """

    name: ClassVar[str | None] = None
    concurrency: ClassVar[int | None] = None
    exposed: ClassVar[Mapping[str, Exposure]] = MappingProxyType({})
    _instance_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            raise ServiceDefinitionError(
                f"{cls.__qualname__}.name must be None or a non-empty str, not {name!r}"
            )
        concurrency = cls.__dict__.get("concurrency", cls.concurrency)
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ServiceDefinitionError(
                f"{cls.__qualname__}.concurrency must be None or an int >= 1, not {concurrency!r}"
            )
        exposed: dict[str, Exposure] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                wrapped = isinstance(value, classmethod | staticmethod)
                function = value.__func__ if wrapped else value
                if hasattr(value, _POLICY) or (callable(function) and hasattr(function, _POLICY)):
                    if wrapped:  # expose() above or below @staticmethod / @classmethod
                        raise ServiceDefinitionError(
                            f"exposed method {cls.__qualname__}.{attr} must be a plain method"
                        )
                    exposed[attr] = _exposure(cls, attr, function)
                elif attr in exposed:
                    del exposed[attr]  # overridden without expose(): no longer reachable
        for attr, value in vars(cls).items():
            function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
            spec = hasattr(value, _ARG_TYPES) or hasattr(function, _ARG_TYPES)
            if spec and attr not in exposed:
                raise ServiceDefinitionError(
                    f"{cls.__qualname__}.{attr} has an arg_spec() but is not exposed; "
                    "add @expose(policy)"
                )
        cls.exposed = MappingProxyType(exposed)

    def __init__(self, *, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ServiceDefinitionError(f"a service name must be a non-empty str, not {name!r}")
        self._instance_name = name

    @property
    def service_name(self) -> str:
        """The name callers use to reach this service."""
        return self._instance_name or type(self).name or type(self).__name__

    async def on_start(self) -> None:
        """Called once when the pool starts, before any call; may acquire resources.

        The base class does nothing. An exception makes :meth:`ServicePool.start` stop the
        services already started and raise :class:`ServiceError` naming this one.

        Cancellation:
            If the pool's start is cancelled here, the services already started are
            stopped (their ``on_stop``, shielded) and the cancellation propagates; this
            service's ``on_stop`` is not called.
        """

    async def on_stop(self) -> None:
        """Called once when the pool stops, after the last call.

        The base class does nothing. An exception is collected: the other services are
        still stopped, then :meth:`ServicePool.stop` raises :class:`ServiceError`.

        Cancellation:
            The pool runs it shielded from outside cancellation, but cancels it after its
            ``stop_timeout`` seconds.
        """

    async def _invoke(self, exposure: Exposure, kwargs: Mapping[str, Any]) -> Any:
        method = getattr(self, exposure.name)
        if exposure.is_async:
            return await method(**kwargs)
        result = method(**kwargs)
        if inspect.isawaitable(result):
            return await result
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.service_name!r}>"


class _Shared:
    """One execution that concurrent equal calls wait for."""

    __slots__ = ("done", "error", "finished", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.finished = False
        self.result: Any = None
        self.error: Exception | None = None


class DeduplicatingService(Service):
    """A service whose calls are shared and remembered.

    Calls to one method with equal arguments (as :meth:`dedup_key` says) run once:
    callers arriving while it runs wait for it and get the same result, and later
    callers get the remembered result at once. A failure reaches every caller waiting
    for it and is not remembered. If the caller running the method is cancelled, one
    of the waiting callers runs it again. Unhashable arguments are not shared.

    Args:
        name: this instance's name, overriding the class's.
    """

    _results: dict[Hashable, Any]
    _running: dict[Hashable, _Shared]

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._results = {}
        self._running = {}

    def dedup_key(self, method: str, kwargs: Mapping[str, Any]) -> Hashable:
        """The key under which a call is shared.

        Override it to share calls that differ in irrelevant arguments.

        Args:
            method: the name of the method called.
            kwargs: the call's arguments.

        Returns:
            A hashable key: by default the method and its sorted arguments (if it turns out
            unhashable, the call is not shared).
        """
        return (method, tuple(sorted(kwargs.items())))

    def forget(self) -> None:
        """Drop every remembered result."""
        self._tables()[0].clear()

    @property
    def remembered(self) -> int:
        """How many results are remembered."""
        return len(self._tables()[0])

    def _tables(self) -> tuple[dict[Hashable, Any], dict[Hashable, _Shared]]:
        # a subclass may not call DeduplicatingService.__init__: make the tables lazily
        if "_results" not in self.__dict__:
            self._results = {}
            self._running = {}
        return self._results, self._running

    async def _invoke(self, exposure: Exposure, kwargs: Mapping[str, Any]) -> Any:
        try:
            key = self.dedup_key(exposure.name, kwargs)
            hash(key)
        except TypeError:
            return await super()._invoke(exposure, kwargs)
        return await self._shared(key, functools.partial(Service._invoke, self, exposure, kwargs))

    async def _shared(self, key: Hashable, invoke: Callable[[], Awaitable[Any]]) -> Any:
        results, running = self._tables()
        while True:
            if key in results:
                return results[key]
            shared = running.get(key)
            if shared is None:
                break
            await shared.done.wait()
            if shared.error is not None:
                raise shared.error
            if shared.finished:
                return shared.result
            # the caller running it was cancelled: try again, perhaps as the one running it
        shared = running[key] = _Shared()
        try:
            result = await invoke()
        except Exception as exc:
            shared.error = exc
            raise
        else:
            results[key] = shared.result = result
            shared.finished = True
            return result
        finally:
            del running[key]
            shared.done.set()
