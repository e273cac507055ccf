"""Jobs: descriptions of work (an async callable, its arguments and options).

What happened when a job ran lives in its :class:`~jobgraph.JobRecord`, reachable through
the job's read-only properties (``state``, ``exception``, ``result()``...).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Never, Protocol, Self, overload

from ._delegates import JobViews
from ._exceptions import (
    CycleError,
    InvalidOptionError,
    JobDefinitionError,
    RunStateError,
)
from ._executors import Executor, _is_async, check_executor
from ._placeholders import find_placeholders, resolve_placeholders
from ._policy import OnFailedRequirement, Retry, _check_duration
from ._record import JobRecord, JobState

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = [
    "AbstractJob",
    "Job",
    "Requirement",
    "Schedulable",
    "TaskStatusLike",
    "flatten_schedulables",
    "jobs_of",
    "owner_of",
    "record_of",
    "requirements_of",
    "set_record",
]


class TaskStatusLike(Protocol):
    """What a job's ``task_status`` argument offers (as in anyio's ``task_status``)."""

    def started(self, value: object = None) -> None:
        """Tell the starter that the job is up (it goes on running in the background).

        Args:
            value: handed to whoever waits for the start (anyio's ``task_status``
                contract).
        """


class Schedulable:
    """Anything that can be added to a scheduler or required: a job or a sequence."""

    __slots__ = ()

    def _member_jobs(self) -> Iterator[AbstractJob]:
        """The jobs that adding this object to a scheduler adds."""
        raise NotImplementedError

    def _head_jobs(self) -> Iterator[AbstractJob]:
        """The jobs that receive requirements given to this object."""
        raise NotImplementedError

    def _tail_jobs(self) -> Iterator[AbstractJob]:
        """The jobs that a requirement on this object really requires."""
        raise NotImplementedError


Requirement = Schedulable | Iterable[Any] | None


def flatten_schedulables(items: Iterable[Any], what: str) -> Iterator[Schedulable]:
    """Find the jobs and sequences in arbitrarily nested iterables.

    Args:
        items: jobs, sequences, nested iterables of them; ``None`` is ignored.
        what: how error messages name the caller, like ``"add()"``.

    Yields:
        Each job or sequence, in order.

    Raises:
        JobDefinitionError: an item is none of these (a coroutine given by mistake is
            closed first).
    """
    for item in items:
        if item is None:
            continue
        if isinstance(item, Schedulable):
            yield item
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes):
            yield from flatten_schedulables(item, what)
        else:
            if inspect.iscoroutine(item):
                item.close()
            raise JobDefinitionError(
                f"{what} takes jobs, sequences, iterables of them or None, not {item!r}"
            )


def jobs_of(items: Iterable[Any], what: str) -> Iterator[AbstractJob]:
    """Yield the jobs that adding ``items`` to a scheduler would add.

    Args:
        items: jobs, sequences (their jobs, in order), arbitrarily nested iterables of
            them; ``None`` is ignored.
        what: how error messages name the caller, like ``"add()"``.

    Yields:
        Each job, in order.

    Raises:
        JobDefinitionError: an item is none of these.
    """
    for item in flatten_schedulables(items, what):
        yield from item._member_jobs()


_TAKES_STATUS: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()


def _takes_task_status(function: Callable[..., Any]) -> bool:
    """Whether the callable has a ``task_status`` parameter (cached: jobs share functions)."""
    try:
        return _TAKES_STATUS[function]
    except (KeyError, TypeError):  # not seen yet, or not weak-referenceable / hashable
        pass
    try:
        takes = "task_status" in inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        takes = False
    with contextlib.suppress(TypeError):
        _TAKES_STATUS[function] = takes
    return takes


class _View:
    """A read-only attribute computed by a method of the job, which a subclass may still
    shadow with an attribute of its own (asynciojobs-style code sets attributes freely):
    a non-data descriptor, unlike a property."""

    __slots__ = ("method",)

    def __init__(self, method: str) -> None:
        self.method = method

    @overload
    def __get__(self, job: None, owner: type) -> Self: ...
    @overload
    def __get__(self, job: AbstractJob, owner: type) -> Any: ...
    def __get__(self, job: AbstractJob | None, owner: type) -> Any:
        if job is None:
            return self
        return getattr(job, self.method)()


class AbstractJob(Schedulable, JobViews):
    """The base of every job kind. Subclasses implement :meth:`run`.

    All options are keyword-only.

    Args:
        label: how listings, drawings and error messages name the job (default: see
            :meth:`default_label`).
        critical: an exception from this job aborts its scheduler's run (and, through
            critical nested schedulers, the runs above it).
        forever: a daemon; its scheduler does not wait for it, and cancels it once every
            other job is done. Jobs that require it start as soon as it calls
            ``task_status.started()`` (if its ``run`` accepts ``task_status``) or else as
            soon as it starts running.
        requires: jobs or sequences (nested iterables allowed, None ignored).
        timeout: seconds each attempt may last, None for no limit; an attempt that
            exceeds it is cancelled and fails with :class:`~jobgraph.JobTimeoutError`.
        retry: a :class:`~jobgraph.Retry` policy, or an int number of attempts.
        on_failed_requirement: ``"run"`` (default) or ``"skip"``, see
            :class:`~jobgraph.OnFailedRequirement`.
        scheduler: a scheduler to add the job to at once.
        key: the job's identity in a run journal (see :class:`~jobgraph.Journal`);
            default, its label path from the root scheduler.

    Raises:
        JobDefinitionError: an option is of the wrong type (``critical`` and ``forever``
            take True or False only).
        InvalidOptionError: an option is out of range (a negative timeout, an unknown
            ``on_failed_requirement``...).
        CycleError: the job would require itself.
    """

    _run_takes_status: ClassVar[bool] = False
    _is_scheduler: ClassVar[bool] = False
    _timeout: float | None = None
    _key: str | None = None  # its identity in a journal, when given (see Journal)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._run_takes_status = _takes_task_status(cls.run)

    def __init__(
        self,
        *,
        label: str | None = None,
        critical: bool = True,
        forever: bool = False,
        requires: Requirement = None,
        timeout: float | None = None,
        retry: Retry | int | None = None,
        on_failed_requirement: OnFailedRequirement | str = OnFailedRequirement.RUN,
        scheduler: Scheduler | None = None,
        key: str | None = None,
    ) -> None:
        if key is not None:
            if not isinstance(key, str) or not key:
                raise JobDefinitionError(f"key must be a non-empty string, not {key!r}")
            self._key = key
        # the engine reads private names only (``_retry``, ``_record``, ``_owner``...):
        # subclasses, the asynciojobs drop-in's above all, may reuse the public ones
        self._label = None if label is None else str(label)
        # True or False only, as bool("no") is True (the asynciojobs drop-in converts)
        if critical is not True and critical is not False:
            _refuse_flag(self, "critical", critical)
        if forever is not True and forever is not False:
            _refuse_flag(self, "forever", forever)
        self.critical = critical
        self.forever = forever
        # per attempt; stored, not set through the ``timeout`` property, which a
        # subclass may redefine (a Scheduler's ``timeout`` is its whole run's)
        if timeout is not None:  # the label is computed only when there is a value to check
            _check_duration(f"timeout of job {_safe_label(self)!r}", timeout)
        self._timeout = timeout
        self._retry = None if retry is None else self._check_retry(retry)
        self._on_failed_requirement = (
            on_failed_requirement
            if on_failed_requirement is OnFailedRequirement.RUN
            else self._check_on_failed_requirement(on_failed_requirement)
        )
        self._requires: dict[AbstractJob, None] = {}
        self._owner: weakref.ref[Scheduler] | None = None
        self._record = JobRecord()
        if requires is not None:
            self.requires(requires)
        if scheduler is not None:
            _check_scheduler(scheduler)
            scheduler.add(self)

    @staticmethod
    def _check_retry(retry: Retry | int | None) -> Retry | None:
        if retry is None or isinstance(retry, Retry):
            return retry
        if isinstance(retry, int) and not isinstance(retry, bool):
            return Retry(attempts=retry)
        raise JobDefinitionError(f"retry must be a Retry, an int or None, not {retry!r}")

    @staticmethod
    def _check_on_failed_requirement(value: OnFailedRequirement | str) -> OnFailedRequirement:
        try:
            return OnFailedRequirement(value)
        except ValueError:
            raise InvalidOptionError(
                f"on_failed_requirement must be 'run' or 'skip', not {value!r}"
            ) from None

    @property
    def retry(self) -> Retry | None:
        """The job's :class:`~jobgraph.Retry` policy (an int sets that many attempts)."""
        return self._retry

    @retry.setter
    def retry(self, value: Retry | int | None) -> None:
        self._retry = self._check_retry(value)

    @property
    def on_failed_requirement(self) -> OnFailedRequirement:
        """What the job does when a requirement failed: run anyway, or be skipped."""
        return self._on_failed_requirement

    @on_failed_requirement.setter
    def on_failed_requirement(self, value: OnFailedRequirement | str) -> None:
        self._on_failed_requirement = self._check_on_failed_requirement(value)

    # -- pickling (to run a job, or a whole scheduler, in another process) ------------
    def __getstate__(self) -> dict[str, Any]:
        """A pickled job leaves its scheduler behind (a pickled scheduler re-owns its
        jobs when unpickled)."""
        state = self.__dict__.copy()
        state["_owner"] = None
        return state

    # -- the one method to implement -------------------------------------------------
    async def run(self) -> Any:
        """Do the job's work and return its result. Subclasses must implement it.

        It may take a keyword argument ``task_status`` (anyio's idiom): calling
        ``task_status.started()`` tells the scheduler that the jobs requiring this one
        may start, which is how a forever job says it is ready.

        Returns:
            The job's result (see :meth:`result`).

        Raises:
            Exception: whatever it raises is the job's failure, recorded as
                :attr:`exception` (and retried if the job has a ``retry`` policy).

        Cancellation:
            The engine cancels it when its attempt times out, when a critical job
            aborts the run, when the run's timeout expires and, for a forever job, when
            every finite job is done. It must let the cancellation exception propagate
            (clean up in ``finally``, under a shielded scope bounded by a timeout).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement 'async def run(self)'")

    async def shutdown(self) -> object:
        """Optional hook, called by :meth:`Scheduler.shutdown` to release resources.

        Returns:
            Anything; the value is ignored.

        Cancellation:
            Cancelled after the scheduler's ``shutdown_timeout``.
        """
        return None

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        """How the engine calls the job (a scheduler overrides it to nest its run)."""
        del run
        if self._run_takes_status:
            return await self.run(task_status=status)  # type: ignore[call-arg]
        return await self.run()

    def _accepts_status(self) -> bool:
        return self._run_takes_status

    def journal_fingerprint(self) -> object:
        """What a run journal compares to decide that the job's work changed.

        A job that succeeded in a journaled run is restored on resume only if this is
        the same as then (compared through a digest of its plain data: numbers,
        strings, lists, dicts, paths; other objects count by their type only).

        Returns:
            Plain data, or None (the default: nothing to compare). :class:`Job` returns
            its arguments.
        """
        return None

    @property
    def timeout(self) -> float | None:
        """Seconds each attempt of the job may last; None for no limit.

        An attempt that lasts longer is cancelled and fails with
        :class:`~jobgraph.JobTimeoutError` (retried like any failure). The engine reads
        the per-attempt limit from here for every job kind but schedulers, whose
        ``timeout`` bounds their whole run instead (see :attr:`Scheduler.timeout`).
        """
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        _check_duration(f"timeout of job {_safe_label(self)!r}", value)
        self._timeout = value

    # -- description -----------------------------------------------------------------
    @property
    def label(self) -> str:
        """The label given at creation, or a default one computed from the job."""
        return self._label if self._label is not None else self.default_label()

    @label.setter
    def label(self, value: str | None) -> None:
        self._label = value

    def default_label(self) -> str:
        """The label used when none was given. Subclasses may refine it.

        Returns:
            The class name, in the base class.
        """
        return type(self).__name__

    @property
    def explicit_label(self) -> str | None:
        """The label given at creation (or set since); None when :attr:`label` is the
        default one of :meth:`default_label`."""
        return self._label

    def details(self) -> str | None:
        """Optional extra text that listings show with ``details=True``.

        Returns:
            The text, or None (the base class) for nothing.
        """
        return None

    # -- how views show the job: job kinds may override these ------------------------
    # (repr_id, repr_short, text_label, repr_main, repr_result, repr_requires and
    # dot_style come from JobViews, generated from jobgraph.views: see _delegates.py)
    def graph_label(self) -> str | None:
        """The label of the job in drawings (may hold newlines).

        Returns:
            The label, or None (the base class) for ``"<number>: <label>"``.
        """
        return None

    @property
    def scheduler(self) -> Scheduler | None:
        """The scheduler the job belongs to, if any."""
        return self._owner() if self._owner is not None else None

    def requires(self, *requirements: Requirement, remove: bool = False) -> Self:
        """Add (or with ``remove=True`` drop) requirements.

        All are checked before any is changed: a refused call changes nothing.

        Args:
            *requirements: jobs, sequences (a sequence counts as its last job), and
                arbitrarily nested iterables of them; None is ignored.
            remove: drop these requirements instead of adding them.

        Returns:
            The job, for chaining.

        Raises:
            JobDefinitionError: an item is neither a job, a sequence nor an iterable.
            CycleError: the job would require itself.
            KeyError: with ``remove=True``, a job that is not a requirement.
        """
        # all checked before any is changed: a refused call changes nothing
        jobs = [
            job
            for item in flatten_schedulables(requirements, "requires()")
            for job in item._tail_jobs()
        ]
        for job in jobs:
            if remove and job not in self._requires:
                raise KeyError(f"job {self.label!r} does not require {job.label!r}")
            if not remove and job is self:
                raise CycleError([self])
        for job in jobs:
            if remove:
                self._requires.pop(job, None)
            else:
                self._requires[job] = None
        return self

    @property
    def requirements(self) -> tuple[AbstractJob, ...]:
        """The jobs this one requires, in the order they were added."""
        return tuple(self._requires)

    def _member_jobs(self) -> Iterator[AbstractJob]:
        yield self

    _head_jobs = _member_jobs
    _tail_jobs = _member_jobs

    # -- outcome of the last run -----------------------------------------------------
    @property
    def record(self) -> JobRecord:
        """The record of the current (or last) run."""
        return self._record

    @property
    def state(self) -> JobState:
        """idle → scheduled → running → done, or skipped."""
        return self._record.state

    if TYPE_CHECKING:

        @property
        def ok(self) -> bool | None:
            """True if the job completed (without raising, not cancelled); False if it
            failed, was cancelled or skipped; None while it has not ended."""

        @property
        def outcome(self) -> str:
            """One word: ``ok``, ``failed`` (timeouts included), ``cancelled`` or
            ``skipped``; ``idle``, ``scheduled`` or ``running`` while it has not ended."""

    else:
        ok = _View("_ok")
        outcome = _View("_outcome")

    def _outcome(self) -> str:
        return self._record.outcome

    def _ok(self) -> bool | None:
        outcome = self._outcome()
        if outcome == "ok":
            return True
        if outcome in ("idle", "scheduled", "running"):
            return None
        return False

    @property
    def exception(self) -> BaseException | None:
        """What the job raised (after its retries), or None."""
        return self._record.exception

    @property
    def cancelled(self) -> bool:
        """True if the job was cancelled while running (forever jobs end this way)."""
        return self._record.cancelled

    @property
    def started_at(self) -> float | None:
        return self._record.started_at

    @property
    def ended_at(self) -> float | None:
        return self._record.ended_at

    @property
    def attempts(self) -> int:
        return self._record.attempts

    @property
    def worker(self) -> str | None:
        """Where the body ran in the last run, when an executor ran it away from the
        event loop (a thread, ``"pid 1234"``, a Dask worker's address); else None."""
        return self._record.worker

    def result(self) -> Any:
        """The value the job returned in the last run.

        Returns:
            What :meth:`run` returned.

        Raises:
            RunStateError: the job has not completed successfully (it has not run, is
                running, failed, was cancelled or skipped); its exception, if any, is
                the ``__cause__``.
        """
        record = self._record
        if record.state is JobState.DONE and record.exception is None and not record.cancelled:
            return record.result
        raise RunStateError(
            f"job {self.label!r} has no result: it is {record.outcome}"
        ) from record.exception

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} {self._record.outcome}>"


# -- what views, services and tools read: the engine's own fields, whatever the names ----
# A job class may own the public names (``self.record = ...`` in an asynciojobs-style
# subclass): code outside the engine reads through these functions, which no subclass
# overrides, as the engine reads the fields themselves.
def record_of(job: AbstractJob) -> JobRecord:
    """The record of the job's current (or last) run.

    Args:
        job: any job, even one whose class uses the name ``record`` for something else.

    Returns:
        What :attr:`AbstractJob.record` returns for a plain job.
    """
    return job._record


def owner_of(job: AbstractJob) -> Scheduler | None:
    """The scheduler the job belongs to (see :attr:`AbstractJob.scheduler`).

    Args:
        job: any job.

    Returns:
        Its scheduler, or None if it was not added to one (or that one is gone).
    """
    owner = job._owner
    return owner() if owner is not None else None


def requirements_of(job: AbstractJob) -> tuple[AbstractJob, ...]:
    """The jobs the job requires (see :attr:`AbstractJob.requirements`).

    Args:
        job: any job.

    Returns:
        Its requirements, in the order they were added.
    """
    return tuple(job._requires)


def set_record(job: AbstractJob, record: JobRecord) -> None:
    """Make ``record`` the job's current record.

    How a job kind that runs jobs elsewhere (a scheduler run whole on a cluster worker)
    brings their outcome back.

    Args:
        job: the job to update.
        record: its new record.

    Raises:
        JobDefinitionError: ``record`` is not a :class:`JobRecord`.
    """
    if not isinstance(record, JobRecord):
        raise JobDefinitionError(f"set_record() takes a JobRecord, not {record!r}")
    job._record = record


_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})


def _refuse_flag(job: AbstractJob, name: str, value: object) -> Never:
    """Refuse a ``critical`` or ``forever`` flag that is not a bool."""
    raise JobDefinitionError(
        f"{name} of job {_safe_label(job)!r} must be True or False, not {value!r}"
    )


def _safe_label(job: AbstractJob) -> str:
    """The job's label, even while it is being built (a subclass's ``default_label()``
    may read attributes not set yet)."""
    try:
        return job.label
    except Exception:  # noqa: BLE001 - a half-built job: name its class
        return type(job).__name__


def _check_scheduler(scheduler: object) -> None:
    """Refuse a ``scheduler=`` option that is not a scheduler (before anything changes)."""
    if not getattr(scheduler, "_is_scheduler", False):
        raise JobDefinitionError(f"scheduler must be a Scheduler or None, not {scheduler!r}")


def _callable_name(function: Any) -> str:
    while isinstance(function, functools.partial):
        function = function.func
    return str(getattr(function, "__qualname__", None) or type(function).__qualname__)


def _refuse_keywords(function: Any, label: str | None, unexpected: Mapping[str, Any]) -> None:
    names = ", ".join(repr(name) for name in unexpected)
    plural = "s" if len(unexpected) > 1 else ""
    name = label if label is not None else _callable_name(function)
    raise JobDefinitionError(
        f"Job() got unexpected keyword argument{plural} {names} (job {name!r}): keyword "
        f"arguments for the function go in kwargs=, as in Job(f, x, kwargs={dict(unexpected)!r})"
    )


class Job(AbstractJob):
    """A job made of an async callable and the arguments to call it with.

    The callable is an ``async def`` function (or a ``functools.partial`` of one, or an
    object with an ``async def __call__``), or any callable that returns an awaitable,
    such as ``lambda: fetch(url)``; one that returns something else fails its job with a
    :class:`~jobgraph.JobDefinitionError` naming the job.

    ``Job(fetch, url, label="fetch", timeout=10)`` calls ``await fetch(url)`` when the
    job runs. Because the job keeps the callable rather than a coroutine object, it can
    be retried and its scheduler reset and run again.

    Arguments may hold :class:`~jobgraph.ResultOf` placeholders (also inside lists,
    tuples, sets and dicts): each adds its job to the requirements and is replaced by
    that job's result just before this one starts.

    Args:
        function: an async callable (``async def`` function, a partial of one, or an
            object whose ``__call__`` is ``async def``), or any callable returning an
            awaitable. If it has a ``task_status`` parameter, the job passes one (see
            :meth:`AbstractJob.run`).
        *args: positional arguments for ``function``.
        kwargs: keyword arguments for ``function`` (a mapping, copied).
        label: the job's label; default, the function's qualified name.
        critical: see :class:`AbstractJob`, like the other options below.
        forever: see :class:`AbstractJob`.
        requires: see :class:`AbstractJob`.
        timeout: seconds each attempt may last; see :class:`AbstractJob`.
        retry: see :class:`AbstractJob`.
        on_failed_requirement: see :class:`AbstractJob`.
        scheduler: see :class:`AbstractJob`.
        key: see :class:`AbstractJob`.
        executor: where the body runs (see :mod:`jobgraph.executors`); None (the
            default) inherits the scheduler's, which is the event loop unless a
            scheduler says otherwise. Away from the event loop, the body may also be a
            plain (synchronous) function.

    Raises:
        JobDefinitionError: ``function`` is a coroutine object (write ``Job(f, x)``,
            not ``Job(f(x))``) or not callable, ``kwargs`` is not a mapping, or an
            unknown keyword was given (keyword arguments for ``function`` go in
            ``kwargs=``).
        InvalidOptionError: an option is out of range.

    Cancellation:
        Cancelling the job cancels the awaited call (see :meth:`AbstractJob.run`).
    """

    def __init__(
        self,
        function: Callable[..., Awaitable[Any]] | Callable[..., Any],
        *args: Any,
        kwargs: Mapping[str, Any] | None = None,
        label: str | None = None,
        critical: bool = True,
        forever: bool = False,
        requires: Requirement = None,
        timeout: float | None = None,
        retry: Retry | int | None = None,
        on_failed_requirement: OnFailedRequirement | str = OnFailedRequirement.RUN,
        scheduler: Scheduler | None = None,
        executor: Executor | None = None,
        key: str | None = None,
        **unexpected: Never,
    ) -> None:
        if unexpected:
            _refuse_keywords(function, label, unexpected)
        self.executor = (
            None if executor is None else check_executor(executor, f"Job() (label {label!r})")
        )
        if inspect.iscoroutine(function):
            function.close()  # type: ignore[unreachable]  # typed callers cannot, others do
            raise JobDefinitionError(
                f"Job() takes an async function and its arguments, not a coroutine object "
                f"({function!r}): write Job(f, x) rather than Job(f(x)); code that builds "
                "jobs from coroutine objects can use jobgraph.compat.asynciojobs"
            )
        if not callable(function):
            raise JobDefinitionError(
                f"Job() needs an async function (async def), not {function!r}"
                + (f" (label {label!r})" if label else "")
            )
        # a plain callable (a lambda returning a coroutine...) is checked when called in
        # the event loop; an executor away from the loop runs a plain function as it is
        self._plain = not _is_async(function)
        self.function = function
        self.args = args
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise JobDefinitionError(
                f"Job() kwargs must be a mapping of keyword arguments, not {kwargs!r}"
            )
        self.kwargs: Mapping[str, Any] = MappingProxyType(dict(kwargs)) if kwargs else _NO_KWARGS
        self._takes_status = _takes_task_status(function)
        if self._takes_status and executor is not None and not executor.in_loop:
            raise JobDefinitionError(
                f"Job() with executor {executor!r}: the body cannot take task_status "
                "(it runs away from the event loop)" + (f" (label {label!r})" if label else "")
            )
        placeholders = (
            [p.job for p in find_placeholders((args, tuple(self.kwargs.values())))]
            if args or self.kwargs
            else []
        )
        self._placeholders = bool(placeholders)
        super().__init__(
            label=label,
            critical=critical,
            forever=forever,
            requires=(requires, placeholders) if placeholders else requires,
            timeout=timeout,
            retry=retry,
            on_failed_requirement=on_failed_requirement,
            scheduler=scheduler,
            key=key,
        )

    def default_label(self) -> str:
        return _callable_name(self.function)

    def journal_fingerprint(self) -> object:
        """The job's arguments (see :meth:`AbstractJob.journal_fingerprint`).

        Returns:
            ``[args, kwargs]``, or None for a job without arguments.
        """
        if not self.args and not self.kwargs:
            return None
        return [list(self.args), dict(self.kwargs)]

    async def run(self) -> Any:
        """Call the function with the job's arguments (placeholders resolved).

        Returns:
            What the function returned (awaited, if it returned an awaitable).

        Raises:
            ResultUnavailableError: a :class:`ResultOf` argument's job has no result.
            Exception: whatever the function raises.

        Cancellation:
            Cancelling the job cancels the awaited call (see :meth:`AbstractJob.run`).
        """
        args, kwargs = self.args, self.kwargs
        if self._placeholders:
            args = resolve_placeholders(args, self)
            kwargs = resolve_placeholders(dict(kwargs), self)
        if self._plain:
            return await self._awaitable(self.function(*args, **kwargs))
        return await self.function(*args, **kwargs)

    def _awaitable(self, result: Any) -> Awaitable[Any]:
        """What a plain callable returned, if it can be awaited."""
        if inspect.isawaitable(result):
            return result
        raise JobDefinitionError(
            f"job {self.label!r}: {_callable_name(self.function)} returned {result!r}, "
            "not an awaitable; Job() needs an async function (async def), or a callable "
            "that returns a coroutine; a plain function needs an executor= (threads, "
            "processes...)"
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._custom_run = cls.run is not Job.run

    _custom_run: ClassVar[bool] = False

    def _accepts_status(self) -> bool:
        return super()._accepts_status() if self._custom_run else self._takes_status

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        if self._custom_run:  # a subclass overrode run(): honour it
            return await super()._invoke(status, run)
        executor = self.executor or run.executor
        if executor is None and not self._placeholders and not self._plain:
            # the common case, kept fast
            if self._takes_status:
                return await self.function(*self.args, task_status=status, **self.kwargs)
            return await self.function(*self.args, **self.kwargs)
        args, kwargs = self.args, self.kwargs
        if self._placeholders and not (executor is not None and executor.resolves_placeholders):
            args = resolve_placeholders(args, self)
            kwargs = resolve_placeholders(dict(kwargs), self)
        if executor is None or executor.in_loop:
            if self._takes_status:
                kwargs = {**kwargs, "task_status": status}
            if self._plain:
                return await self._awaitable(self.function(*args, **kwargs))
            return await self.function(*args, **kwargs)
        if self._takes_status:
            raise JobDefinitionError(
                f"job {self.label!r}: a body taking task_status runs in the event loop, "
                f"not on {executor!r}"
            )
        return await executor.call(self, self.function, args, kwargs)
