"""asynciojobs-style jobs (coroutine objects, co_run / co_shutdown) on native jobs."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, KeysView
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import anyio
import sniffio

import jobgraph as _native_job
from jobgraph import JobState, TaskStatusLike
from jobgraph import Scheduler as _NativeScheduler
from jobgraph import Sequence as _NativeSequence
from jobgraph.lowlevel import Requirement, flatten_schedulables

__all__ = ["AbstractJob", "Job", "PrintJob", "Sequence", "run_sync"]

_T = TypeVar("_T")


# -- running coroutines from plain code ------------------------------------------------
def _in_async_code() -> bool:
    """Whether an event loop (asyncio's, trio's...) runs in this thread."""
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
    return True


def run_sync(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run the coroutine that ``make()`` returns in a new asyncio event loop.

    With no event loop running in this thread, the loop runs here. Otherwise (asyncio
    or trio code called ``run()``) it runs on a helper thread and the caller blocks
    until it is done, since one thread cannot run two event loops at once.
    """
    if not _in_async_code():
        with asyncio.Runner() as runner:
            return runner.run(make())
    outcome: list[Any] = []

    def target() -> None:
        try:
            with asyncio.Runner() as runner:
                outcome.append((True, runner.run(make())))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            outcome.append((False, exc))

    # a fresh context: the caller's tells anyio which event loop runs (in the caller)
    helper = threading.Thread(target=target, name="asynciojobs-run")
    helper.start()
    helper.join()
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def _close_if_unstarted(awaitable: object) -> None:
    """Close a coroutine that never started, so that Python does not warn about it."""
    if inspect.iscoroutine(awaitable) and inspect.getcoroutinestate(awaitable) == "CORO_CREATED":
        awaitable.close()


# -- names left to subclasses --------------------------------------------------------
class _Free:
    """Gives a name back to subclasses: on compat classes it is an ordinary attribute,
    which the class's own code may set before or after ``super().__init__()``. Until it
    does, the name reads as the native one (``job.state``, ``scheduler.failure``...).
    The engine itself only reads private fields, so a subclass's value disturbs nothing.
    """

    __slots__ = ("fallback", "name")

    def __init__(self, name: str, fallback: Any) -> None:
        self.name = name
        self.fallback = fallback

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        # a non-data descriptor: reached only when the instance has no value of its own
        if instance is None:
            return self
        getter = getattr(self.fallback, "__get__", None)
        return self.fallback if getter is None else getter(instance, owner)


# native names that asynciojobs jobs and schedulers do not have
_FREE_NAMES = (
    "scheduler",
    "record",
    "state",
    "exception",
    "cancelled",
    "started_at",
    "ended_at",
    "attempts",
    "requirements",
    "retry",
    "on_failed_requirement",
    "default_label",
)


def free_names(*names: str) -> Callable[[type[_T]], type[_T]]:
    """A class decorator that leaves ``names`` (and :data:`_FREE_NAMES`) to subclasses."""

    def decorate(cls: type[_T]) -> type[_T]:
        for name in (*_FREE_NAMES, *names):
            setattr(cls, name, _Free(name, inspect.getattr_static(cls, name)))
        return cls

    return decorate


def computed_label(job: Any) -> str:
    """The label of a job given none: ``text_label()``, else ``NOLABEL``."""
    text: str | None = job.text_label()
    return text if text is not None else "NOLABEL"


def compat_label(job: Any) -> str:
    """The label given, else the computed one, as asynciojobs shows it."""
    given: str | None = job._label
    return given if given is not None else computed_label(job)


def _required_jobs(requirements: tuple[Any, ...]) -> list[_native_job.AbstractJob]:
    """The jobs that ``requires(*requirements)`` means (a sequence counts as its last)."""
    native_job = _native_job.AbstractJob
    # the usual cases first: jobs, and a list (or tuple) of jobs, as in required=[a, b]
    if len(requirements) == 1 and type(requirements[0]) in (list, tuple):
        requirements = requirements[0]
    if all(isinstance(item, native_job) for item in requirements):
        return list(requirements)
    return [
        job
        for item in flatten_schedulables(requirements, "requires()")
        for job in item._tail_jobs()
    ]


# -- jobs --------------------------------------------------------------------------------
@free_names("timeout")
class AbstractJob(_native_job.AbstractJob):
    """The base of asynciojobs-style jobs: subclasses implement ``co_run()`` and
    ``co_shutdown()`` as coroutines.

    ``forever``, ``critical`` (True by default), ``label``, ``required`` (jobs,
    sequences or nested collections of them, ``None`` ignored) and ``scheduler`` (a
    scheduler to add the job to) mean what they mean in asynciojobs. A job that
    requires a ``forever`` job starts only if that job ever returns.
    """

    if TYPE_CHECKING:  # names left to subclasses (see free_names): plain attributes
        scheduler: Any
        record: Any
        state: Any
        exception: Any
        cancelled: Any
        started_at: Any
        ended_at: Any
        attempts: Any
        requirements: Any
        retry: Any
        on_failed_requirement: Any
        timeout: Any

    def __init__(
        self,
        *,
        forever: bool = False,
        critical: bool = True,
        label: str | None = None,
        required: Requirement = None,
        scheduler: _NativeScheduler | None = None,
        **native: Any,
    ) -> None:
        # ``native``: the native Scheduler's constructor passes its own options along
        # here when a compat Scheduler (a job too) is built; jobs accept none
        if native and not self._is_scheduler:
            raise TypeError(f"unexpected keyword argument {next(iter(native))!r}")
        # asynciojobs takes any truthy value; the native job, True or False only
        super().__init__(
            label=label,
            critical=bool(critical),
            forever=bool(forever),
            scheduler=scheduler,
            **native,
        )
        if required is not None:
            self.requires(required)

    @property
    def label(self) -> str:
        """The label given (or set later), else the one ``text_label()`` computes."""
        return compat_label(self)

    @label.setter
    def label(self, value: str | None) -> None:
        self._label = value

    # -- what subclasses implement ---------------------------------------------------
    async def co_run(self) -> Any:
        """Do the job's work; what it returns becomes :meth:`result`."""
        print(f"AbstractJob.co_run() is not implemented on class {type(self).__name__}")

    async def co_shutdown(self) -> Any:
        """Release what the job holds; called by the scheduler's ``co_shutdown()``."""
        print(f"AbstractJob.co_shutdown() is not implemented on class {type(self).__name__}")

    # -- how the native engine runs it -----------------------------------------------
    _plain_co_shutdown: ClassVar[bool] = False  # see Job

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        del status, run
        return await self.co_run()

    def _accepts_status(self) -> bool:
        # a forever job never says "ready": its dependents wait until it returns
        return True

    def close(self) -> None:
        """Release the coroutines the job holds without running them (no-op here)."""

    def standalone_run(self) -> Any:
        """Run only this job's ``co_run()`` in a new event loop; return its result."""
        return run_sync(self.co_run)

    # -- requirements ----------------------------------------------------------------
    def requires(self, *requirements: Requirement, remove: bool = False) -> Self:
        """Add (or with ``remove=True`` drop) requirements; returns the job.

        Takes jobs, sequences and nested collections of them; ``None`` is ignored and
        so is the job itself. Removing a requirement that is not there raises
        ``KeyError``.
        """
        jobs = _required_jobs(requirements)
        if self in jobs:
            jobs = [job for job in jobs if job is not self]
        mine = self._requires
        if not remove:
            for job in jobs:
                mine[job] = None
            return self
        for job in jobs:  # all checked before any is dropped: a refused call changes nothing
            if job not in mine:
                raise KeyError(f"job {self.label!r} does not require {job.label!r}")
        for job in jobs:
            mine.pop(job, None)
        return self

    @property
    def required(self) -> KeysView[_native_job.AbstractJob]:
        """The jobs this one requires (a read-only, live set view)."""
        return self._requires.keys()

    # -- life cycle ------------------------------------------------------------------
    def is_idle(self) -> bool:
        """True until the job's requirements are all done."""
        return self._record.state in (JobState.IDLE, JobState.SKIPPED)

    def is_scheduled(self) -> bool:
        """True once the requirements are done (the job may wait for a window slot)."""
        return not self.is_idle()

    def is_running(self) -> bool:
        """True once the job got a window slot and started (and after it is done)."""
        return self._record.state in (JobState.RUNNING, JobState.DONE)

    def is_done(self) -> bool:
        """True once the job completed, by returning or by raising (not if cancelled)."""
        record = self._record
        return record.state is JobState.DONE and not record.cancelled

    def is_critical(self) -> bool:
        """Whether an exception from this job aborts its scheduler."""
        return self.critical

    def raised_exception(self) -> BaseException | None:
        """The exception the job raised, or None."""
        record = self._record
        return record.exception if record.state is JobState.DONE else None

    def result(self) -> Any:
        """What ``co_run()`` returned; None while the job is not done or if it raised."""
        record = self._record
        if record.state is JobState.DONE and record.exception is None and not record.cancelled:
            return record.result
        return None

    # -- labels and listings ---------------------------------------------------------
    def text_label(self) -> str | None:
        """A one-line description used when no ``label`` was given (None: no idea)."""
        return None

    def default_label(self) -> str:
        return computed_label(self)

    def repr_result(self) -> str:
        """The job's result, its exception, or ``[not done]`` (cancelled jobs too)."""
        exception = self.raised_exception()
        if exception:
            kind = "CRIT. EXC." if self.is_critical() else "exception"
            return f"!! {kind} => {type(exception).__name__}:{exception}!!"
        if self.is_done():
            return f"[[ -> {self.result()}]]"
        return "[not done]"

    def __repr__(self) -> str:
        return f"{self.repr_short()} {self.repr_main()} {self.repr_result()} {self.repr_requires()}"


class Job(AbstractJob):
    """A job made of a coroutine object (``Job(fetch(url))``), awaited when it runs.

    ``coshutdown``, if given, is a coroutine object awaited by ``co_shutdown()``.
    Coroutines that never get to run are closed (by :meth:`close`, at the end of a run
    that stopped early, or when the job is garbage-collected), so Python does not warn
    that they were never awaited.
    """

    def __init__(
        self,
        corun: Awaitable[Any],
        *args: Any,
        coshutdown: Awaitable[Any] | None = None,
        **kwds: Any,
    ) -> None:
        self.corun = corun
        self.coshutdown = coshutdown
        super().__init__(*args, **kwds)

    # whether co_run() / co_shutdown() are Job's own: the engine then awaits the
    # coroutine directly, and the scheduler's co_shutdown() skips a job without one
    _plain_co_run: ClassVar[bool] = True
    _plain_co_shutdown: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._plain_co_run = cls.co_run is Job.co_run
        cls._plain_co_shutdown = cls.co_shutdown is Job.co_shutdown

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        del status, run
        if self._plain_co_run:
            return await self.corun
        return await self.co_run()

    def text_label(self) -> str:
        name = getattr(self.corun, "__name__", None)
        return f"Job[{name} (...)]" if name is not None else "Job instance"

    async def co_run(self) -> Any:
        return await self.corun

    async def co_shutdown(self) -> Any:
        if self.coshutdown is not None:
            return await self.coshutdown
        return None

    def close(self) -> None:
        """Close the job's coroutines without running them (they cannot run after)."""
        for awaitable in (self.corun, self.coshutdown):
            if inspect.iscoroutine(awaitable):
                awaitable.close()

    def __del__(self) -> None:
        for awaitable in (getattr(self, "corun", None), getattr(self, "coshutdown", None)):
            _close_if_unstarted(awaitable)


class PrintJob(AbstractJob):
    """A job that prints its messages (after ``banner``), then sleeps ``sleep`` seconds."""

    def __init__(
        self,
        *messages: Any,
        sleep: float | None = None,
        banner: str | None = None,
        scheduler: _NativeScheduler | None = None,
        label: str | None = None,
        required: Requirement = None,
    ) -> None:
        self.messages = messages
        self.sleep = sleep
        self.banner = banner
        super().__init__(label=label, required=required, scheduler=scheduler)

    async def co_run(self) -> None:
        if self.banner:
            print(self.banner + " ", end="")
        print(*self.messages)
        if self.sleep:
            print(f"Sleeping for {self.sleep}s")
            await anyio.sleep(self.sleep)

    async def co_shutdown(self) -> None:
        return None

    def details(self) -> str:
        text = f"[+ sleep {self.sleep}s] " if self.sleep else ""
        text += "msg= "
        if self.messages:
            text += str(self.messages[0]) + ("..." if len(self.messages) > 1 else "")
        return text


# -- sequences ---------------------------------------------------------------------------
class Sequence(_NativeSequence):
    """Jobs that run one after the other; usable wherever a job is.

    ``required`` goes to the first job; with ``scheduler``, the jobs (and those appended
    later) are added to it.
    """

    __slots__ = ("scheduler",)

    def __init__(
        self,
        *sequences_or_jobs: Any,
        required: Requirement = None,
        scheduler: _NativeScheduler | None = None,
    ) -> None:
        self.scheduler = scheduler
        super().__init__(*sequences_or_jobs, requires=required, scheduler=scheduler)

    def append(self, *sequences_or_jobs: Any) -> Self:
        """Add jobs or sequences at the end (and to the sequence's scheduler, if any)."""
        super().append(*sequences_or_jobs)
        if getattr(self, "scheduler", None) is not None:
            assert self.scheduler is not None
            self.scheduler.update(self)
        return self

    def close_idle_jobs(self) -> None:
        """Close the coroutines of the jobs that did not start."""
        for job in self._jobs:
            if isinstance(job, AbstractJob) and job.is_idle():
                job.close()
