"""Executors: where a :class:`~jobgraph.Job`'s body runs.

By default a job's body is awaited in the event loop, as always. An executor, given to a
job (``Job(f, x, executor=...)``) or to a scheduler (``Scheduler(..., executor=...)``,
inherited by nested schedulers and overridden per job), runs it elsewhere:

- :class:`LoopExecutor`: the event loop (to override an inherited executor);
- :class:`ThreadExecutor`: a worker thread (``anyio.to_thread``);
- :class:`ProcessExecutor`: a pool of local processes (``anyio.to_process``): the
  body, its arguments and its result are pickled; cancelling the job (a timeout, an
  abort) kills the process running it;
- ``jobgraph.dask.DaskExecutor``: a Dask cluster.

With an executor other than the loop, a job's body may be a plain function or an async
one (an async body then runs in an event loop of its own, where the job runs).

An executor is started by the outermost run that uses it (every executor in the tree
of schedulers is started before the first job and stopped after the last one), so a
pool or a cluster lives as long as the run. The record of a job that ran through an
executor names where it ran (:attr:`JobRecord.worker`).
"""

from __future__ import annotations

import functools
import inspect
import os
import pickle
import threading
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.to_process
import anyio.to_thread
import sniffio

from ._events import emit_note
from ._exceptions import (
    InvalidOptionError,
    JobDefinitionError,
    RunStateError,
    SerializationError,
    WorkerLostError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._job import AbstractJob

__all__ = [
    "Executor",
    "LoopExecutor",
    "ProcessExecutor",
    "ThreadExecutor",
    "call_body",
    "serialize_call",
]


created = False
"""True once any executor was made in this process: until then a run does not look for
executors in its tree (a process that never makes one pays nothing for them)."""


def _is_async(function: Any) -> bool:
    """Whether calling ``function`` gives a coroutine: an async function, a partial of
    one, or an object whose ``__call__`` is async (a job body, here or in an executor)."""
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(type(function), "__call__", None)  # noqa: B004 - we want the method
    return call is not None and inspect.iscoroutinefunction(call)


def call_body(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], backend: str
) -> Any:
    """Call a job body synchronously, where the executor runs it.

    A plain function is called; an async one (or a plain callable returning a coroutine)
    is run to completion in a new event loop of ``backend`` in the calling thread.

    Args:
        function: the job's body.
        args: its positional arguments.
        kwargs: its keyword arguments.
        backend: ``"asyncio"`` or ``"trio"``, for an async body.

    Returns:
        What the body returned.

    Raises:
        Exception: whatever the body raises, unchanged.
    """
    if _is_async(function):
        return anyio.run(functools.partial(function, *args, **kwargs), backend=backend)
    result = function(*args, **kwargs)
    if inspect.iscoroutine(result):  # a plain callable that returned a coroutine
        coroutine = result

        async def wait() -> Any:
            return await coroutine

        return anyio.run(wait, backend=backend)
    return result


def serialize_call(
    job: AbstractJob,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    dumps: Callable[[Any], bytes] = pickle.dumps,
) -> bytes:
    """Pickle ``(function, args, kwargs)`` with ``dumps``, for an executor to send away.

    Args:
        job: the job the call belongs to, named in errors.
        function: the job's body.
        args: its positional arguments.
        kwargs: its keyword arguments.
        dumps: the serializer (default :func:`pickle.dumps`; cloudpickle's works too).

    Returns:
        The serialized call.

    Raises:
        SerializationError: something cannot be pickled; the error names the job and
            the part at fault (the body, or which argument).
    """
    try:
        return dumps((function, tuple(args), dict(kwargs)))
    except Exception as exc:
        parts: list[tuple[str, object]] = [("body", function)]
        parts += [(f"argument {index + 1}", arg) for index, arg in enumerate(args)]
        parts += [(f"keyword argument {name!r}", value) for name, value in kwargs.items()]
        for what, obj in parts:
            try:
                dumps(obj)
            except Exception as reason:
                raise SerializationError(job, what, obj, reason) from reason
        raise SerializationError(job, "call", function, exc) from exc


class Executor:
    """Where job bodies run. Subclass it for a new kind (see ``jobgraph.dask``).

    Subclasses implement :meth:`call`, and may implement :meth:`start` and :meth:`stop`
    to hold resources (a pool, a cluster connection) for as long as a run uses them.
    The engine opens a :meth:`session` around the outermost run that uses the executor;
    sessions nest (the executor starts once, and stops when the last one ends).
    """

    in_loop: ClassVar[bool] = False
    """True for executors that run async bodies in the event loop (no pickling)."""

    resolves_placeholders: ClassVar[bool] = False
    """True for executors whose :meth:`call` receives the arguments with their
    :class:`~jobgraph.ResultOf` placeholders and resolves them itself (a cluster passing
    results between its workers); others receive the arguments resolved."""

    def __init__(self) -> None:
        global created
        created = True
        self._sessions = 0
        self._starting: anyio.Event | None = None

    @property
    def active(self) -> bool:
        """True while a session is open (the executor is started)."""
        return self._sessions > 0

    async def start(self) -> None:
        """Acquire what the executor needs (called once, when the first session opens).

        The base class does nothing.

        Cancellation:
            A cancelled start propagates; :meth:`session` then does not count the session
            and does not call :meth:`stop`, so a subclass should release what it got so far.
        """

    async def stop(self) -> None:
        """Release what :meth:`start` acquired (called when the last session ends).

        The base class does nothing.

        Cancellation:
            :meth:`session` calls it in a shielded scope, so it runs to completion even when
            the run is being cancelled.
        """

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Keep the executor started for the duration of the block.

        The first session calls :meth:`start`, the last one to end calls :meth:`stop`;
        a session opened while another is starting waits for that start.

        Yields:
            Nothing; the executor is active inside the block.

        Cancellation:
            If cancelled while starting, the cancellation propagates and no session is
            counted. On leaving the block, cancelled or not, :meth:`stop` runs shielded.
        """
        if self._starting is not None:  # another run is starting it: wait for that
            await self._starting.wait()
        if self._sessions == 0:
            self._starting = anyio.Event()
            try:
                await self.start()
            finally:
                self._starting.set()
                self._starting = None
        self._sessions += 1
        try:
            yield
        finally:
            self._sessions -= 1
            if self._sessions == 0:
                with anyio.CancelScope(shield=True):
                    await self.stop()

    def check_active(self, job: AbstractJob) -> None:
        """Refuse to run a job through an executor that is not started.

        Args:
            job: the job about to run, named in the error.

        Raises:
            RunStateError: no session is open.
        """
        if not self._sessions:
            raise RunStateError(
                f"job {job.label!r}: executor {self!r} is not started; jobs run through an "
                "executor inside a scheduler's run, which starts it"
            )

    async def call(
        self,
        job: AbstractJob,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> Any:
        """Run ``function(*args, **kwargs)`` for ``job`` and return its result.

        Called once per attempt. Set ``job.record.worker`` to say where the body ran.
        An executor that learns it while the body runs may set it then, and tell the
        run's subscribers with :func:`~jobgraph.lowlevel.emit_note`
        (``emit_note(job, "running", worker=where)``, which views show). The base class
        raises :class:`NotImplementedError`.

        Args:
            job: the job being run.
            function: its body.
            args: positional arguments, placeholders resolved (unless
                :attr:`resolves_placeholders`).
            kwargs: keyword arguments, likewise.

        Returns:
            What the body returned.

        Raises:
            Exception: whatever the body raises; subclasses add their own (for instance
                :class:`~jobgraph.SerializationError`, :class:`~jobgraph.WorkerLostError`).

        Cancellation:
            A cancellation of the caller (a timeout, an abort) must end the wait at once
            and stop the body where possible: :class:`LoopExecutor` cancels the coroutine,
            :class:`ThreadExecutor` abandons the thread (it finishes the call on its own).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LoopExecutor(Executor):
    """Run async bodies in the event loop: the default, given explicitly to override an
    executor inherited from a scheduler."""

    in_loop = True

    async def call(
        self,
        job: AbstractJob,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> Any:
        return await function(*args, **kwargs)


class ThreadExecutor(Executor):
    """Run bodies in worker threads (``anyio.to_thread``).

    A cancelled job (timeout, abort) is abandoned: the run does not wait for its
    thread, which finishes the call on its own (threads cannot be killed).

    Args:
        max_workers: at most this many bodies at once (None: anyio's default limiter,
            40 threads).

    Raises:
        JobDefinitionError: ``max_workers`` is neither None nor an int.
        InvalidOptionError: ``max_workers`` is less than 1.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__()
        self.max_workers = _check_workers(max_workers)
        self._limiter: anyio.CapacityLimiter | None = None

    async def start(self) -> None:
        if self.max_workers is not None:
            self._limiter = anyio.CapacityLimiter(self.max_workers)

    async def call(
        self,
        job: AbstractJob,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> Any:
        self.check_active(job)
        _tell_running(job, "a worker thread")  # which one is known inside it (at the end here)
        backend = sniffio.current_async_library()

        def body() -> Any:
            job._record.worker = f"thread {threading.current_thread().name}"
            return call_body(function, args, kwargs, backend)

        return await anyio.to_thread.run_sync(body, abandon_on_cancel=True, limiter=self._limiter)

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self.max_workers})"


def _run_pickled(payload: bytes, backend: str) -> tuple[str, bool, Any]:
    """In a worker process: run the call, return (where, succeeded, result or exception)."""
    function, args, kwargs = pickle.loads(payload)  # noqa: S301 - our own controller sent it
    where = f"pid {os.getpid()}"
    try:
        value = call_body(function, args, kwargs, backend)
    except Exception as exc:  # noqa: BLE001 - the job's failure travels back
        return where, False, exc
    try:
        pickle.dumps(value)
    except Exception as exc:  # noqa: BLE001 - say so rather than break the pipe
        return where, False, _ResultNotPicklableError(f"{type(exc).__name__}: {exc}", repr(value))
    return where, True, value


class _ResultNotPicklableError(Exception):
    def __init__(self, reason: str, value: str) -> None:
        super().__init__(reason, value)
        self.reason = reason
        self.value = value


class ProcessExecutor(Executor):
    """Run bodies in a pool of local processes.

    The body, its arguments and its result are pickled (the body must be importable:
    a module-level function). Cancelling a job (its timeout, an abort, the scheduler's
    timeout) kills the process running it; the run does not wait. A process that dies
    mid-job fails the job with :class:`~jobgraph.WorkerLostError`.

    Args:
        max_workers: at most this many bodies at once (None: one per CPU).

    Raises:
        JobDefinitionError: ``max_workers`` is neither None nor an int.
        InvalidOptionError: ``max_workers`` is less than 1.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__()
        self.max_workers = _check_workers(max_workers)
        self._limiter: anyio.CapacityLimiter | None = None

    async def start(self) -> None:
        self._limiter = anyio.CapacityLimiter(self.max_workers or os.cpu_count() or 1)

    async def call(
        self,
        job: AbstractJob,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> Any:
        self.check_active(job)
        payload = serialize_call(job, function, args, kwargs)
        _tell_running(job, "a local process")  # its pid comes back with the outcome
        backend = sniffio.current_async_library()
        try:
            where, ok, value = await anyio.to_process.run_sync(
                _run_pickled, payload, backend, cancellable=True, limiter=self._limiter
            )
        except anyio.BrokenWorkerProcess as exc:
            raise WorkerLostError(job, "a local process", "it exited mid-job") from exc
        job._record.worker = where
        if ok:
            return value
        if isinstance(value, _ResultNotPicklableError):
            raise SerializationError(job, "result", value.value, TypeError(value.reason))
        raise value

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"


def _tell_running(job: AbstractJob, where: str) -> None:
    """Tell the run's subscribers (and the report) where the body is being sent: a
    ``"running"`` note, as the Dask executor sends with the worker's address."""
    emit_note(job, "running", worker=where)


def _check_workers(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobDefinitionError(f"max_workers must be an int or None, not {value!r}")
    if value < 1:
        raise InvalidOptionError(f"max_workers must be >= 1 (or None), not {value}")
    return value


def check_executor(value: object, what: str) -> Executor | None:
    """Refuse an ``executor=`` option that is not an :class:`Executor` (or None)."""
    if value is None or isinstance(value, Executor):
        return value
    raise JobDefinitionError(f"{what} executor must be an Executor or None, not {value!r}")
