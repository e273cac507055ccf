"""The scheduler: a set of jobs and their requirements, and what it takes to run them.

:class:`Scheduler` holds the jobs (membership, events, outcome of the last run) and checks
the whole tree before a run (:meth:`Scheduler._prepare`); the run itself is the run loop of
:mod:`jobgraph._core._run`, which hands back its outcome (``failure``, ``stragglers``).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import anyio

from jobgraph.views._graph import GraphMixin
from jobgraph.views._report import SchedulerViewsMixin

from ._events import EventKind, Subscriber
from ._exceptions import (
    CriticalJobError,
    InvalidOptionError,
    JobDefinitionError,
    OwnershipError,
    RunStateError,
    SchedulerTimeoutError,
    UnknownRequirementError,
)
from ._job import AbstractJob, Requirement, Schedulable, TaskStatusLike, flatten_schedulables
from ._policy import OnFailedRequirement, Retry, _check_duration
from ._record import JobRecord, JobState
from ._run import _Run

__all__ = ["Scheduler"]

logger = logging.getLogger("jobgraph")

_IDLE, _RUNNING, _DONE = JobState.IDLE, JobState.RUNNING, JobState.DONE


class Scheduler(SchedulerViewsMixin, GraphMixin, AbstractJob):
    """A set of jobs and their requirements; running it runs them in a valid order.

    ``Scheduler(*jobs_or_sequences, jobs_window=None, timeout=None, ...)``:

    - ``jobs_window``: at most this many (finite) jobs run at once; ``None``, no limit.
      Forever jobs do not take a slot. Jobs with all requirements done that wait for a
      slot are in state ``SCHEDULED``.
    - ``timeout``: seconds the whole run may last; ``None``, no limit.
    - ``shutdown_timeout``: seconds given to cancelled jobs to end (and to the jobs'
      ``shutdown()`` hooks in :meth:`shutdown`) before they are reported.

    A scheduler is a job, so it can be added to another scheduler: its window and
    timeout then apply to its own jobs only, and if it fails (a critical job in it
    failed, or it timed out) it raises, which aborts the enclosing run when it is
    critical. Its other options are those of :class:`AbstractJob`.

    ``await scheduler.run()`` runs it under any anyio backend and returns True when
    every finite job completed within the timeout and no critical job failed;
    :func:`jobgraph.run` is the synchronous entry.
    """

    _is_scheduler: ClassVar[bool] = True

    def __init__(
        self,
        *jobs_or_sequences: Schedulable,
        jobs_window: int | None = None,
        timeout: float | None = None,
        shutdown_timeout: float | None = 1.0,
        label: str | None = None,
        critical: bool = True,
        forever: bool = False,
        requires: Requirement = None,
        retry: Retry | int | None = None,
        on_failed_requirement: OnFailedRequirement | str = OnFailedRequirement.RUN,
        scheduler: Scheduler | None = None,
    ) -> None:
        self._jobs: dict[AbstractJob, None] = {}
        self._selfref = weakref.ref(self)
        self._subscribers: tuple[Subscriber, ...] = ()
        self._failure: BaseException | None = None
        self._stragglers: tuple[AbstractJob, ...] = ()
        self._running = False
        self.jobs_window = jobs_window
        _check_duration(f"shutdown_timeout of scheduler {label!r}", shutdown_timeout)
        self.shutdown_timeout = shutdown_timeout
        super().__init__(
            label=label,
            critical=critical,
            forever=forever,
            requires=requires,
            timeout=timeout,
            retry=retry,
            on_failed_requirement=on_failed_requirement,
            scheduler=scheduler,
        )
        self.update(jobs_or_sequences)

    def default_label(self) -> str:
        return "Scheduler"

    @property
    def jobs_window(self) -> int | None:
        """At most this many finite jobs run at once; None for no limit."""
        return self._jobs_window

    @jobs_window.setter
    def jobs_window(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise JobDefinitionError(f"jobs_window must be an int or None, not {value!r}")
        if value is not None and value < 1:
            raise InvalidOptionError(
                f"jobs_window must be >= 1 (or None for no limit), not {value}"
            )
        self._jobs_window = value

    @property
    def timeout(self) -> float | None:
        """Seconds the whole run may last; None for no limit."""
        return self._run_timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        _check_duration(f"timeout of scheduler {self._label or 'Scheduler'!r}", value)
        self._run_timeout = value

    # -- membership ----------------------------------------------------------------
    @property
    def jobs(self) -> tuple[AbstractJob, ...]:
        """The scheduler's own jobs (nested schedulers count as one), in insertion order."""
        return tuple(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def __bool__(self) -> bool:  # an empty scheduler is still a scheduler
        return True

    def __contains__(self, job: object) -> bool:
        return job in self._jobs

    def __iter__(self) -> Iterator[AbstractJob]:
        return iter(tuple(self._jobs))

    def add(self, job: Schedulable) -> Any:
        """Add a job or a sequence; returns it, so ``j = s.add(Job(...))`` works."""
        self.update((job,))
        return job

    def update(self, jobs: Any) -> Scheduler:
        """Add jobs, sequences, or nested iterables of them; returns the scheduler."""
        self._check_not_running("add jobs to")
        # all checked before any is added: a refused call changes nothing
        members = [
            job
            for item in flatten_schedulables(jobs if isinstance(jobs, tuple) else (jobs,), "add()")
            for job in item._member_jobs()
        ]
        for job in members:
            owner = job.scheduler
            if owner is self:
                continue
            if owner is not None:
                raise OwnershipError(
                    f"job {job.label!r} is already in scheduler {owner.label!r}; a job "
                    f"belongs to one scheduler: remove it from there before adding it "
                    f"to {self.label!r}"
                )
            if job._is_scheduler:
                ancestor: Scheduler | None = self
                while ancestor is not None:
                    if ancestor is job:
                        raise OwnershipError(
                            f"scheduler {job.label!r} cannot be nested inside itself"
                        )
                    ancestor = ancestor.scheduler
        for job in members:
            job._owner = self._selfref
            self._jobs[job] = None
        return self

    def remove(self, job: Schedulable) -> Scheduler:
        """Remove a job (or a sequence's jobs); raises ``KeyError`` if one is not here.

        Jobs that required it keep that requirement; see :meth:`sanitize`.
        """
        self._check_not_running("remove jobs from")
        if not isinstance(job, Schedulable):
            raise JobDefinitionError(f"remove() takes a job or a sequence, not {job!r}")
        members = list(job._member_jobs())
        for member in members:
            if member not in self._jobs:
                raise KeyError(f"job {member.label!r} is not in scheduler {self.label!r}")
        for member in members:
            del self._jobs[member]
            member._owner = None
        return self

    def _check_not_running(self, action: str) -> None:
        if self._running:
            raise RunStateError(f"cannot {action} scheduler {self.label!r} while it runs")

    # -- events --------------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every event of this scheduler's runs (nested
        schedulers included). Returns a function that unsubscribes."""
        if not callable(subscriber):
            raise JobDefinitionError(f"subscribe() takes a callable, not {subscriber!r}")
        self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    # -- running -------------------------------------------------------------------
    async def run(self) -> bool:
        """Run every job; return True on success, False if the run failed.

        The run fails when a critical job raises (the run is aborted at once: running
        jobs are cancelled, no new job starts) or when ``timeout`` expires; :meth:`why`
        and :attr:`failure` then say which. Bad graphs raise before anything runs
        (:class:`~jobgraph.CycleError`, :class:`~jobgraph.UnknownRequirementError`), and
        so does running a scheduler again without :meth:`reset`
        (:class:`~jobgraph.RunStateError`). If the caller's cancel scope is cancelled,
        running jobs are cancelled and the cancellation propagates.
        """
        record = self._record
        if record.state is not _IDLE or self._running:
            raise RunStateError(
                f"scheduler {self.label!r} has already run; call reset() to run it again"
            )
        self._prepare()
        record.state = _RUNNING
        record.started_at = anyio.current_time()
        record.attempts = 1
        try:
            ok = await self._orchestrate(self._subscribers)
        except anyio.get_cancelled_exc_class():
            record.cancelled = True
            raise
        finally:
            record.state = _DONE
            record.ended_at = anyio.current_time()
        record.result = ok
        return ok

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        """Run as a job of another scheduler: raise on failure, so that the
        enclosing scheduler sees it (and aborts, if this scheduler is critical)."""
        del status
        if self._record.attempts > 1:  # retried: start afresh
            self._reset_jobs()
            self._prepare()
        ok = await self._orchestrate(run.subscribers + self._subscribers)
        if not ok:
            assert self._failure is not None
            raise self._failure
        return ok

    async def _orchestrate(self, subscribers: tuple[Subscriber, ...]) -> bool:
        run = _Run(self, self._jobs, subscribers)
        self._failure = None
        self._stragglers = ()
        self._running = True
        if subscribers:
            run.emit(EventKind.RUN_STARTED, self)
        try:
            await run.orchestrate()
        finally:
            self._running = False
            # the run hands its outcome back (also when it was cancelled from outside)
            self._failure = run.failure
            self._stragglers = run.stragglers
            if subscribers:
                run.emit(EventKind.RUN_FINISHED, self, exception=run.failure)
        return run.failure is None

    def _prepare(self) -> None:
        """Check the whole tree (cycles, requirements, states) and count requirements."""
        try:
            self._prepare_level()
        except BaseException:
            for job in self.iterate_jobs(scan_schedulers=True):
                job._record.successors = None
            raise

    def _prepare_level(self) -> None:
        jobs = self._jobs
        for job in jobs:
            record = job._record
            if record.state is not _IDLE:
                raise RunStateError(
                    f"job {job.label!r} in scheduler {self.label!r} has already run; "
                    "call reset() on the scheduler to run it again"
                )
            requirements = job._requires
            record.pending = len(requirements)
            record.failed_requirement = False
            record.successors = None
            for requirement in requirements:
                if requirement not in jobs:
                    raise UnknownRequirementError(job, requirement, self)
            if job._is_scheduler:
                job._prepare_level()  # type: ignore[attr-defined]
        for job in jobs:
            for requirement in job._requires:
                rrecord = requirement._record
                if rrecord.successors is None:
                    rrecord.successors = [job]
                else:
                    rrecord.successors.append(job)
        # Kahn's algorithm on the records: every count reaches 0 iff there is no cycle
        queue = [job for job in jobs if not job._record.pending]
        ordered = 0
        while queue:
            ordered += 1
            successors = queue.pop()._record.successors
            if successors:
                for successor in successors:
                    srecord = successor._record
                    srecord.pending -= 1
                    if not srecord.pending:
                        queue.append(successor)
        if ordered != len(jobs):
            self._raise_on_cycle()  # names the cycle
        for job in jobs:
            job._record.pending = len(job._requires)

    def reset(self) -> Scheduler:
        """Forget the last run (of this scheduler and all nested ones) to run again."""
        self._check_not_running("reset")
        self._reset_jobs()
        self._record = JobRecord()
        return self

    def _reset_jobs(self) -> None:
        self._failure = None
        self._stragglers = ()
        for job in self._jobs:
            if job._is_scheduler:
                job._reset_jobs()  # type: ignore[attr-defined]
            job._record = JobRecord()

    async def shutdown(self) -> bool:
        """Call every job's ``shutdown()`` hook (nested schedulers included) concurrently.

        Returns True if they all completed without raising within ``shutdown_timeout``.
        """
        outcome = {"ok": True}

        async def one(job: AbstractJob) -> None:
            try:
                await job.shutdown()
            except Exception:
                logger.exception("shutdown of job %r failed", job.label)
                outcome["ok"] = False

        with anyio.move_on_after(self.shutdown_timeout) as scope:
            async with anyio.create_task_group() as tg:
                for job in self._jobs:
                    tg.start_soon(one, job)
        return outcome["ok"] and not scope.cancelled_caught

    # -- outcome -------------------------------------------------------------------
    @property
    def failure(self) -> BaseException | None:
        """Why the last run failed: a :class:`~jobgraph.CriticalJobError` or a
        :class:`~jobgraph.SchedulerTimeoutError`; None if it did not fail."""
        return self._failure

    @property
    def stragglers(self) -> tuple[AbstractJob, ...]:
        """Jobs that kept running ``shutdown_timeout`` after being cancelled."""
        return self._stragglers

    def failed_critical(self) -> bool:
        """True if the last run was aborted by a critical job's exception."""
        return isinstance(self._failure, CriticalJobError)

    def failed_time_out(self) -> bool:
        """True if the last run exceeded the scheduler's timeout."""
        return isinstance(self._failure, SchedulerTimeoutError)

    def why(self) -> str:
        """One line: why the last run failed, or that it did not."""
        record = self._record
        if record.state is _IDLE:
            return f"scheduler {self.label!r} has not run"
        if record.state is _RUNNING:
            return f"scheduler {self.label!r} is running"
        if record.cancelled:
            return f"scheduler {self.label!r} was cancelled from outside"
        if self._failure is None:
            text = f"scheduler {self.label!r} succeeded"
        elif isinstance(self._failure, CriticalJobError):
            text = f"run aborted: {self._failure}"
        else:
            text = f"run failed: {self._failure}"
        if self._stragglers:
            names = ", ".join(repr(job.label) for job in self._stragglers)
            text += f" (jobs ignoring cancellation: {names})"
        return text
