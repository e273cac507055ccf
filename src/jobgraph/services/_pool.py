"""The pool: runs services, and routes each call to its service under the rules.

A call goes through these checks, in order, each with its own error: the pool is
running (:class:`PoolClosedError`), the service exists and exposes the method
(:class:`UnknownServiceError`), the method's policy allows the caller
(:class:`AccessDeniedError`), the arguments fit (:class:`ServiceArgumentError`).
Then it waits for a slot (the pool's ``size`` and the service's ``concurrency``)
and runs in the caller's task, so that cancelling the caller cancels the call.

Stopping the pool refuses new calls, lets calls in progress finish for up to
``stop_timeout`` seconds, cancels the rest (they raise :class:`PoolClosedError`),
then runs every service's ``on_stop`` in reverse order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Self

import anyio

from jobgraph import InvalidOptionError, Job, JobDefinitionError, RunStateError, TaskStatusLike
from jobgraph.lowlevel import check_duration

from ._exceptions import (
    AccessDeniedError,
    PoolClosedError,
    ServiceArgumentError,
    ServiceDefinitionError,
    ServiceError,
    UnknownServiceError,
)
from ._policy import Caller
from ._service import Exposure, Service

__all__ = ["CallStats", "ServicePool"]

_LOCAL = Caller()


@dataclass(slots=True)
class CallStats:
    """How the calls to one method went.

    Attributes:
        calls: calls that reached the method's checks.
        refused: refused by the policy or for bad arguments.
        succeeded: ran and returned.
        failed: ran and raised (a call cancelled while running counts as failed).
    """

    calls: int = 0
    refused: int = 0
    succeeded: int = 0
    failed: int = 0


class ServicePool:
    """Runs a set of services and lets jobs call them.

    Use it as an async context manager (``async with pool: ...``), or put
    :meth:`job` in a scheduler: a forever job that runs the pool, and that jobs
    calling the services can require. A stopped pool may be started again.

    Args:
        services: :class:`Service` instances, with distinct names.
        size: how many calls may run at once over the whole pool (``None``: no limit).
        stop_timeout: how long stopping waits for calls in progress, then for each
            ``on_stop``.
        label: the pool's name in messages, and the default label of :meth:`job`.

    Raises:
        InvalidOptionError: ``size`` is not None or an int >= 1, or ``stop_timeout`` is
            not a valid duration.
        JobDefinitionError: ``label`` is not a str.
        ServiceDefinitionError: ``services`` is a single service, holds something else,
            or two services share a name.
    """

    def __init__(
        self,
        services: Iterable[Service] = (),
        *,
        size: int | None = None,
        stop_timeout: float = 5.0,
        label: str = "services",
    ) -> None:
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise InvalidOptionError(
                f"size of a service pool must be None or an int >= 1, not {size!r}"
            )
        check_duration("stop_timeout of a service pool", stop_timeout)
        if not isinstance(label, str):
            raise JobDefinitionError(f"label of a service pool must be a str, not {label!r}")
        self.label = label
        self.size = size
        self.stop_timeout = stop_timeout
        self._services: dict[str, Service] = {}
        self._stats: dict[tuple[str, str], CallStats] = {}
        self._running = False
        self._busy = False  # starting or stopping
        self._in_flight: set[anyio.CancelScope] = set()
        self._idle: anyio.Event | None = None
        self._limit: anyio.Semaphore | None = None
        self._service_limits: dict[str, anyio.Semaphore] = {}
        if isinstance(services, Service):
            raise ServiceDefinitionError(
                "ServicePool takes an iterable of services; wrap it: [service]"
            )
        for service in services:
            self.add(service)

    # -- description ----------------------------------------------------------------
    def add(self, service: Service) -> Self:
        """Add a service, only while the pool is stopped.

        Args:
            service: the service; its name must be new to the pool.

        Returns:
            The pool, for chaining.

        Raises:
            ServiceDefinitionError: ``service`` is not a :class:`Service`, or the pool
                already has a service of that name.
            RunStateError: the pool is running, starting or stopping.
        """
        if not isinstance(service, Service):
            raise ServiceDefinitionError(f"a service pool takes Service instances, not {service!r}")
        if self._running or self._busy:
            raise RunStateError(f"cannot add {service!r} while service pool {self.label!r} runs")
        name = service.service_name
        if name in self._services:
            raise ServiceDefinitionError(
                f"service pool {self.label!r} already has a service named {name!r}; "
                "give one of them another name (Service.__init__(self, name=...))"
            )
        self._services[name] = service
        return self

    @property
    def services(self) -> Mapping[str, Service]:
        """The services, by name."""
        return MappingProxyType(self._services)

    @property
    def running(self) -> bool:
        """True while the pool accepts calls."""
        return self._running

    @property
    def in_flight(self) -> int:
        """How many calls are in progress."""
        return len(self._in_flight)

    def stats(self) -> dict[tuple[str, str], CallStats]:
        """The call counts so far.

        Returns:
            A copy of the counts, by ``(service, method)``.
        """
        return {
            key: CallStats(s.calls, s.refused, s.succeeded, s.failed)
            for key, s in self._stats.items()
        }

    def describe(self) -> str:
        """A listing of the services, their exposed methods and who may call them.

        Returns:
            Several lines of text, starting with the pool's label and state.
        """
        state = "running" if self._running else "stopped"
        lines = [f"service pool {self.label!r} ({state}, {len(self._services)} services)"]
        for name, service in self._services.items():
            limit = type(service).concurrency
            extra = "" if limit is None else f", {limit} call(s) at a time"
            lines.append(f"  {name} ({type(service).__qualname__}{extra})")
            lines += [f"    {exposure.describe()}" for exposure in type(service).exposed.values()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<ServicePool {self.label!r} {state}: {', '.join(self._services) or 'empty'}>"

    # -- lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every service (``on_start``, in order), then accept calls.

        Raises:
            RunStateError: the pool is already running (or starting, or stopping).
            ServiceError: a service failed to start; those already started were stopped.

        Cancellation:
            The services already started are stopped (shielded) and the cancellation
            propagates; the pool stays stopped.
        """
        if self._running or self._busy:
            raise RunStateError(f"service pool {self.label!r} is already running")
        self._busy = True
        try:
            self._limit = None if self.size is None else anyio.Semaphore(self.size)
            self._service_limits = {
                name: anyio.Semaphore(limit)
                for name, service in self._services.items()
                if (limit := type(service).concurrency) is not None
            }
            started: list[Service] = []
            for name, service in self._services.items():
                try:
                    await service.on_start()
                except Exception as exc:
                    error = ServiceError(
                        f"service {name!r} of pool {self.label!r} failed to start: "
                        f"{type(exc).__name__}: {exc}"
                    )
                    try:
                        await self._stop_services(started)
                    except ServiceError as cleanup:  # the start failure comes first
                        error.add_note(f"then, stopping the services already started: {cleanup}")
                    raise error from exc
                except BaseException:
                    await self._stop_services(started)
                    raise
                started.append(service)
            self._running = True
        finally:
            self._busy = False

    async def stop(self) -> None:
        """Refuse new calls, end those in progress, stop the services in reverse order.

        Calls in progress get ``stop_timeout`` seconds to finish; the rest are cancelled
        (their callers get :class:`PoolClosedError`). Does nothing if the pool is not
        running.

        Raises:
            ServiceError: a service's ``on_stop`` raised (every service was still stopped).

        Cancellation:
            The whole stop runs shielded: cancelling the caller does not interrupt it (it
            is bounded by the ``stop_timeout`` waits); the cancellation is delivered after.
        """
        if not self._running:
            return
        self._running = False
        self._busy = True
        try:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self.stop_timeout):
                    await self._wait_idle()
                for scope in self._in_flight:
                    scope.cancel()
                with anyio.move_on_after(self.stop_timeout):
                    await self._wait_idle()
                await self._stop_services(list(self._services.values()))
        finally:
            self._busy = False

    async def _wait_idle(self) -> None:
        if self._in_flight:
            self._idle = anyio.Event()
            await self._idle.wait()

    async def _stop_services(self, services: list[Service]) -> None:
        failures: list[tuple[Service, Exception]] = []
        with anyio.CancelScope(shield=True):
            for service in reversed(services):
                with anyio.move_on_after(self.stop_timeout):
                    try:
                        await service.on_stop()
                    except Exception as exc:  # noqa: BLE001 - every service gets stopped
                        failures.append((service, exc))
        if failures:
            first = failures[0][1]
            names = ", ".join(repr(s.service_name) for s, _ in failures)
            raise ServiceError(
                f"service(s) {names} of pool {self.label!r} failed to stop; first: "
                f"{type(first).__name__}: {first}"
            ) from first

    def job(self, **options: Any) -> Job:
        """A forever job that runs the pool.

        The job starts the services, says it is ready (so jobs requiring it may call
        them), and stops the pool when cancelled.

        Args:
            **options: the usual job options; ``label`` defaults to the pool's label.

        Returns:
            The job, to add to a scheduler.

        Raises:
            JobDefinitionError: ``forever`` is given, or an option is invalid for a job.
        """
        if "forever" in options:
            raise JobDefinitionError("the job of a service pool is always a forever job")
        options.setdefault("label", self.label)
        return Job(self._serve, forever=True, **options)

    async def _serve(self, *, task_status: TaskStatusLike) -> None:
        async with self:
            task_status.started()
            await anyio.sleep_forever()

    # -- calls ----------------------------------------------------------------------
    def lookup(
        self, service: str, method: str, *, caller: Caller | None = None
    ) -> tuple[Service, Exposure]:
        """The service and exposed method a call names.

        When a name is unknown, the error lists the names there are; given a
        ``caller``, only those of the methods whose policy allows that caller (so a
        caller learns nothing of what it may not call).

        Args:
            service: the service's name.
            method: the method's name.
            caller: who asks (None: list every name).

        Returns:
            The service and the method's :class:`Exposure`.

        Raises:
            UnknownServiceError: a name is not a str, there is no such service, or it does
                not expose that method.
        """
        self._check_names(service, method)
        target = self._services.get(service)
        if target is None:
            names = [
                name
                for name, known in self._services.items()
                if caller is None or self._visible(known, caller)
            ]
            known_names = ", ".join(repr(name) for name in names) or "none"
            raise UnknownServiceError(
                f"service pool {self.label!r} has no service {service!r} (it has: {known_names})"
            )
        exposure = type(target).exposed.get(method)
        if exposure is None:
            methods = [
                name
                for name in type(target).exposed
                if caller is None or self._visible(target, caller, name)
            ]
            exposed = ", ".join(repr(name) for name in methods) or "none"
            has = "does not expose" if callable(getattr(target, str(method), None)) else "has no"
            raise UnknownServiceError(
                f"service {service!r} {has} method {method!r} (exposed: {exposed})"
            )
        return target, exposure

    @staticmethod
    def _visible(target: Service, caller: Caller, method: str | None = None) -> bool:
        """Whether ``caller`` may call ``method`` of ``target`` (None: any of its methods)."""
        exposed = type(target).exposed
        for name in exposed if method is None else (method,):
            try:
                if exposed[name].policy.is_authorized(caller, target, name):
                    return True
            except Exception:  # noqa: BLE001, S112 - a broken policy shows nothing
                continue
        return False

    def _check_names(self, service: object, method: object) -> None:
        for what, value in (("service", service), ("method", method)):
            if not isinstance(value, str):
                raise UnknownServiceError(
                    f"service pool {self.label!r}: the {what} of a call must be named by a "
                    f"str, not {value!r}"
                )

    def check_call(
        self, service: str, method: str, kwargs: Mapping[str, Any], caller: Caller
    ) -> tuple[Service, Exposure]:
        """Check that ``caller`` may make this call with these arguments, without making it.

        The pool need not be running.

        Args:
            service: the service's name.
            method: the method's name.
            kwargs: the call's arguments, by name.
            caller: who would call.

        Returns:
            The service and the method's :class:`Exposure`.

        Raises:
            UnknownServiceError: as :meth:`lookup`.
            AccessDeniedError: the method's policy refuses ``caller`` (or fails).
            ServiceArgumentError: the arguments do not fit the method.
        """
        target, exposure = self.lookup(service, method, caller=caller)
        self._admit(target, exposure, kwargs, caller)
        return target, exposure

    def _admit(
        self, target: Service, exposure: Exposure, kwargs: Mapping[str, Any], caller: Caller
    ) -> None:
        """The policy and the arguments: raise unless ``caller`` may make this call."""
        service, method = target.service_name, exposure.name
        try:
            allowed = exposure.policy.is_authorized(caller, target, method)
        except Exception as exc:  # a broken policy refuses: it fails closed
            raise AccessDeniedError(
                f"caller {caller} may not call {service}.{method}: its policy "
                f"({exposure.policy.describe()}) failed: {type(exc).__name__}: {exc}",
                caller=caller,
                service=service,
                method=method,
            ) from exc
        if not allowed:
            raise AccessDeniedError(
                f"caller {caller} may not call {service}.{method}: it allows "
                f"{exposure.policy.describe()}",
                caller=caller,
                service=service,
                method=method,
            )
        exposure.check_arguments(service, kwargs)

    async def call(
        self,
        service: str,
        method: str,
        kwargs: Mapping[str, Any] | None = None,
        /,
        *,
        caller: Caller | None = None,
    ) -> Any:
        """Call ``method`` of ``service`` with ``kwargs``, and return what it returns.

        The checks run in the order the module's text gives; then the call waits for a slot
        (the pool's ``size``, the service's ``concurrency``) and runs in the calling task.

        Args:
            service: the service's name.
            method: the exposed method's name.
            kwargs: its arguments, by name (None: none).
            caller: who calls (default: an anonymous caller in this process).

        Returns:
            What the method returned.

        Raises:
            ServiceDefinitionError: ``caller`` is not a :class:`Caller` or None.
            PoolClosedError: the pool is not running, or stopped while the call ran.
            UnknownServiceError: no such service or exposed method.
            AccessDeniedError: the method's policy refuses the caller.
            ServiceArgumentError: the arguments do not fit the method.
            Exception: whatever the method raises, unchanged.

        Cancellation:
            Cancelling the caller cancels the call (waiting for a slot or running); it
            counts as failed in :meth:`stats`.
        """
        if caller is None:
            caller = _LOCAL
        elif not isinstance(caller, Caller):
            raise ServiceDefinitionError(f"caller must be a Caller or None, not {caller!r}")
        self._check_names(service, method)
        if not self._running:
            raise PoolClosedError(
                f"service pool {self.label!r} is not running: cannot call {service}.{method} "
                "(use 'async with pool:' or require the pool's job)"
            )
        arguments: Mapping[str, Any] = {} if kwargs is None else kwargs
        # unknown names are not counted; the names listed are those the caller may call
        target, exposure = self.lookup(service, method, caller=caller)
        stats = self._stats.get((service, method))
        if stats is None:
            stats = self._stats[service, method] = CallStats()
        stats.calls += 1
        try:
            self._admit(target, exposure, arguments, caller)
        except (AccessDeniedError, ServiceArgumentError):
            stats.refused += 1
            raise
        with anyio.CancelScope() as scope:
            self._in_flight.add(scope)
            try:
                async with self._slots(service):
                    result = await target._invoke(exposure, arguments)
            except BaseException:
                stats.failed += 1
                raise
            else:
                stats.succeeded += 1
                return result
            finally:
                self._in_flight.discard(scope)
                if not self._in_flight and self._idle is not None:
                    self._idle.set()
        raise PoolClosedError(
            f"service pool {self.label!r} stopped while {service}.{method} was running"
        )

    @contextlib.asynccontextmanager
    async def _slots(self, service: str) -> AsyncIterator[None]:
        limit = self._limit
        own = self._service_limits.get(service)
        if limit is None and own is None:
            yield
            return
        async with contextlib.AsyncExitStack() as stack:
            if own is not None:
                await stack.enter_async_context(own)
            if limit is not None:
                await stack.enter_async_context(limit)
            yield
