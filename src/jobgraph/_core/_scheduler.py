"""The scheduler: a set of jobs and their requirements, and what it takes to run them.

:class:`Scheduler` holds the jobs (membership, events, outcome of the last run) and checks
the whole tree before a run (:meth:`Scheduler._prepare`); the run itself is the run loop of
:mod:`jobgraph._core._run`, which hands back its outcome (``failure``, ``stragglers``).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from typing import Any, ClassVar

import anyio

from . import _executors as _executors_module
from ._cycles import find_cycle
from ._delegates import SchedulerViews
from ._events import EventKind, Subscriber
from ._exceptions import (
    CriticalJobError,
    CycleError,
    InvalidOptionError,
    JobDefinitionError,
    OwnershipError,
    RunStateError,
    SchedulerTimeoutError,
    UnknownRequirementError,
)
from ._executors import Executor, check_executor
from ._job import AbstractJob, Requirement, Schedulable, TaskStatusLike, jobs_of
from ._journal import Journal, _JournalRun
from ._policy import OnFailedRequirement, Retry, _check_duration
from ._record import JobRecord, JobState
from ._run import _Run

__all__ = ["Scheduler", "abandon_journal", "failure_of", "journal_mark_of", "stragglers_of"]

logger = logging.getLogger("jobgraph")

_IDLE, _SCHEDULED, _RUNNING, _DONE, _SKIPPED = (
    JobState.IDLE,
    JobState.SCHEDULED,
    JobState.RUNNING,
    JobState.DONE,
    JobState.SKIPPED,
)


class Scheduler(AbstractJob, SchedulerViews):
    """A set of jobs and their requirements; running it runs them in a valid order.

    Args:
        *jobs_or_sequences: jobs, sequences, or nested iterables of them, added at once
            (see :meth:`update`).
        jobs_window: at most this many (finite) jobs run at once; None, no limit.
            Forever jobs do not take a slot. Jobs with all requirements done that wait
            for a slot are in state ``SCHEDULED``.
        timeout: seconds the whole run may last; None, no limit (a job's ``timeout``
            bounds each of its attempts instead).
        shutdown_timeout: seconds given to cancelled jobs to end (and to the jobs'
            ``shutdown()`` hooks in :meth:`shutdown`) before they are reported.
        label: as for :class:`AbstractJob`, which also documents ``critical``,
            ``forever``, ``requires``, ``retry``, ``on_failed_requirement`` and
            ``scheduler`` (they matter when this scheduler is nested in another).
        executor: where the bodies of its jobs (:class:`~jobgraph.Job`) run unless a
            job says otherwise (see :mod:`jobgraph.executors`); nested schedulers
            inherit it. None: the enclosing scheduler's, or the event loop.
        key: its identity in a run journal when nested, and the prefix of its jobs'
            keys (see :class:`~jobgraph.Journal`); default, its label path from the
            root. A root scheduler's runs are matched by its label instead.

    Raises:
        JobDefinitionError: an option or a job is of the wrong type.
        InvalidOptionError: an option is out of range (``jobs_window`` < 1, a negative
            duration...).
        OwnershipError: a job already belongs to another scheduler.

    A scheduler is a job, so it can be added to another scheduler: its window and
    timeout then apply to its own jobs only, and if it fails (a critical job in it
    failed, or it timed out) it raises, which aborts the enclosing run when it is
    critical. Its other options are those of :class:`AbstractJob`.

    ``await scheduler.run()`` runs it under any anyio backend and returns True when
    every finite job completed within the timeout and no critical job failed;
    :func:`jobgraph.run` is the synchronous entry.
    """

    _is_scheduler: ClassVar[bool] = True
    # what a journaled run says of some jobs ("↺ restored"...), made when there is one
    _journal_marks: dict[AbstractJob, str] | None = None
    # the journal's side of the journaled run going on, if any (see abandon_journal)
    _journal_writer: _JournalRun | None = None

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
        executor: Executor | None = None,
        key: str | None = None,
    ) -> None:
        self.executor = check_executor(executor, f"Scheduler() (label {label!r})")
        self._jobs: dict[AbstractJob, None] = {}
        self._selfref = weakref.ref(self)
        self._subscribers: tuple[Subscriber, ...] = ()
        self._failure: BaseException | None = None
        self._stragglers: tuple[AbstractJob, ...] = ()
        self._interrupt: BaseException | None = None  # KeyboardInterrupt, SystemExit
        self._running = False
        self._live_run: _Run | None = None  # while it runs: for emit_note()
        # what its jobs told in its last run (see emit_note), made on the first note
        self._job_notes: dict[AbstractJob, list[tuple[float, str, Mapping[str, Any]]]] = {}
        self._label = None if label is None else str(label)  # named by the checks below
        self.jobs_window = jobs_window
        _check_duration(f"shutdown_timeout of scheduler {self.label!r}", shutdown_timeout)
        self.shutdown_timeout = shutdown_timeout
        # the whole run's timeout is the scheduler's own (``_run_timeout``, which the run
        # loop reads): AbstractJob's per-attempt one stays None (a retried nested
        # scheduler gets a fresh run, bounded the same way). Stored, not set through the
        # ``timeout`` property, whose name a subclass may own.
        name = label if label is None else str(label)
        _check_duration(f"timeout of scheduler {name or 'Scheduler'!r}", timeout)
        self._run_timeout = timeout
        super().__init__(
            label=label,
            critical=critical,
            forever=forever,
            requires=requires,
            retry=retry,
            on_failed_requirement=on_failed_requirement,
            scheduler=scheduler,
            key=key,
        )
        self.update(jobs_or_sequences)

    def default_label(self) -> str:
        return "Scheduler"

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        del state["_selfref"]
        state["_subscribers"] = ()  # callbacks stay with the process that subscribed them
        state["_running"] = False
        state["_live_run"] = None
        state["_job_notes"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._selfref = weakref.ref(self)
        for job in self._jobs:
            job._owner = self._selfref

    @property
    def jobs_window(self) -> int | None:
        """At most this many finite jobs run at once; None for no limit."""
        return self._jobs_window

    @jobs_window.setter
    def jobs_window(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise JobDefinitionError(
                f"jobs_window of scheduler {self.label!r} must be an int or None, not {value!r}"
            )
        if value is not None and value < 1:
            raise InvalidOptionError(
                f"jobs_window of scheduler {self.label!r} must be >= 1 (or None for no limit), "
                f"not {value}"
            )
        self._jobs_window = value

    @property
    def timeout(self) -> float | None:
        """Seconds the whole run may last; None for no limit.

        Unlike a job's per-attempt :attr:`AbstractJob.timeout`, it bounds the run: when
        it expires, running jobs are cancelled and the run fails with
        :class:`~jobgraph.SchedulerTimeoutError` (raised by a nested scheduler, so that
        its parent sees it fail; returned as False by :meth:`run` at the top).
        """
        return self._run_timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        _check_duration(f"timeout of scheduler {self.label!r}", value)
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
        """Add a job or a sequence.

        Args:
            job: the job or sequence to add (a sequence adds its jobs).

        Returns:
            ``job`` itself, so that ``j = s.add(Job(...))`` works.

        Raises:
            JobDefinitionError: ``job`` is neither a job nor a sequence.
            OwnershipError: a job already belongs to another scheduler, or a scheduler
                would be nested inside itself.
            RunStateError: the scheduler is running.
        """
        self.update((job,))
        return job

    def update(self, jobs: Any) -> Scheduler:
        """Add jobs, sequences, or nested iterables of them (``None`` is ignored).

        All are checked before any is added: a refused call changes nothing.

        Args:
            jobs: what to add.

        Returns:
            The scheduler, for chaining.

        Raises:
            JobDefinitionError: an item is neither a job, a sequence nor an iterable.
            OwnershipError: a job already belongs to another scheduler, or a scheduler
                would be nested inside itself.
            RunStateError: the scheduler is running.
        """
        self._check_not_running("add jobs to")
        # all checked before any is added: a refused call changes nothing
        members = list(jobs_of(jobs if isinstance(jobs, tuple) else (jobs,), "add()"))
        for job in members:
            owner = job._owner() if job._owner is not None else None
            if owner is self:
                continue
            if owner is not None:
                raise OwnershipError(
                    f"job {job.label!r} is already in scheduler {owner.label!r}; a job "
                    f"belongs to one scheduler: remove it from there before adding it "
                    f"to {self.label!r}"
                )
            if isinstance(job, Scheduler):
                ancestor: Scheduler | None = self
                while ancestor is not None:
                    if ancestor is job:
                        raise OwnershipError(
                            f"scheduler {job.label!r} cannot be nested inside itself"
                        )
                    ancestor = ancestor._owner() if ancestor._owner is not None else None
        for job in members:
            job._owner = self._selfref
            self._jobs[job] = None
        return self

    def remove(self, job: Schedulable) -> Scheduler:
        """Remove a job (or a sequence's jobs).

        Jobs that required it keep that requirement; see :meth:`sanitize`.

        Args:
            job: a job or a sequence of this scheduler.

        Returns:
            The scheduler, for chaining.

        Raises:
            KeyError: a job is not in this scheduler (nothing is removed then).
            JobDefinitionError: ``job`` is neither a job nor a sequence.
            RunStateError: the scheduler is running.
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

    @property
    def running(self) -> bool:
        """True while a run of this scheduler is in progress (jobs cannot be added,
        removed or reset meanwhile)."""
        return self._running

    def _every_job(self) -> Iterator[AbstractJob]:
        """Every job at any depth, nested schedulers included (before their jobs)."""
        for job in self._jobs:
            yield job
            if isinstance(job, Scheduler):
                yield from job._every_job()

    def _check_not_running(self, action: str) -> None:
        if self._running:
            raise RunStateError(f"cannot {action} scheduler {self.label!r} while it runs")

    # -- events --------------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every event of this scheduler's runs.

        Events of nested schedulers are included. The subscriber is called synchronously
        from the run loop: it must be quick and must not block; what it raises is logged.

        Args:
            subscriber: a callable taking one :class:`~jobgraph.JobEvent`.

        Returns:
            A function that unsubscribes it.

        Raises:
            JobDefinitionError: ``subscriber`` is not callable.
        """
        if not callable(subscriber):
            raise JobDefinitionError(f"subscribe() takes a callable, not {subscriber!r}")
        self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    # -- running -------------------------------------------------------------------
    async def run(
        self, *, journal: Journal | str | os.PathLike[str] | None = None, resume: bool | int = False
    ) -> bool:
        """Run every job, under whichever anyio backend runs this task.

        The run fails when a critical job raises (the run is aborted at once: running
        jobs are cancelled, no new job starts) or when ``timeout`` expires; :meth:`why`
        and :attr:`failure` then say which.

        Args:
            journal: record the run and each job's outcome in this journal file (a path
                or a :class:`~jobgraph.Journal`); None, no journal.
            resume: with a journal, restore the jobs that succeeded in the latest run of
                the same pipeline (same root label) rather than run them; an int resumes
                that run id. Jobs downstream of a job that runs again run again too.

        Returns:
            True if every finite job completed (whatever non-critical jobs raised) within
            the timeout and no critical job failed; False otherwise.

        Raises:
            CycleError: the jobs (or those of a nested scheduler) form a cycle.
            UnknownRequirementError: a job requires a job outside its scheduler.
            RunStateError: the scheduler (or a job) already ran: call :meth:`reset`; or
                the scheduler is running now.
            JournalError: the journal cannot be used (not a jobgraph journal, a newer
                schema, a read-only location), or two jobs have the same key
                (:class:`~jobgraph.DuplicateKeyError`).

        Nothing runs when one of these is raised.

        Cancellation:
            If the caller's cancel scope is cancelled (or, under asyncio, the task is
            cancelled with ``task.cancel()`` or ``asyncio.wait_for``), running jobs are
            cancelled and waited for (shielded, at most ``shutdown_timeout``; later ones
            are reported as :attr:`stragglers`), then the cancellation propagates; the
            scheduler's record says ``cancelled``. A ``KeyboardInterrupt`` (Ctrl-C) or a
            ``SystemExit`` raised by a job cancels the run the same way, then propagates
            as itself (never inside an exception group); :meth:`why` says the run was
            interrupted.
        """
        record = self._record
        if record.state is not _IDLE or self._running:
            if self._running or record.state is _RUNNING:
                raise RunStateError(
                    f"scheduler {self.label!r} is running now; wait for its run to end "
                    "(then call reset() to run it again)"
                )
            raise RunStateError(
                f"scheduler {self.label!r} has already run; call reset() to run it again"
            )
        if journal is not None or resume:
            return await self._run_journaled(journal, resume)
        self._prepare()
        record.state = _RUNNING
        record.started_at = anyio.current_time()
        record.attempts = 1
        try:
            executors = self._executors() if _executors_module.created else ()
            if executors:
                async with AsyncExitStack() as stack:
                    for executor in executors:
                        await stack.enter_async_context(executor.session())
                    ok = await self._orchestrate(self._subscribers, record.started_at)
            else:
                ok = await self._orchestrate(self._subscribers, record.started_at)
        except anyio.get_cancelled_exc_class():
            record.cancelled = True
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            self._interrupted_by(exc)
            raise
        finally:
            record.state = _DONE
            record.ended_at = anyio.current_time()
        record.result = ok
        return ok

    async def _run_journaled(
        self, journal: Journal | str | os.PathLike[str] | None, resume: bool | int
    ) -> bool:
        """:meth:`run` with a journal (see :mod:`jobgraph._core._journal`)."""
        if journal is None:
            raise InvalidOptionError(
                f"run(resume=...) of scheduler {self.label!r} needs a journal= to resume from"
            )
        if not isinstance(resume, bool | int):
            raise InvalidOptionError(f"resume must be True, False or a run id, not {resume!r}")
        if not isinstance(journal, Journal):
            journal = Journal(journal)
        writer = _JournalRun(journal, self, resume)  # checks keys and the file
        self._journal_marks = None
        for scheduler in writer.schedulers:
            scheduler._journal_marks = None  # type: ignore[attr-defined]
        try:
            self._prepare()
            started = anyio.current_time()
            writer.begin(started)  # the run's row, the restored jobs
        except BaseException:
            writer.close()
            for job in self._every_job():
                job._record.successors = None
            raise
        record = self._record
        record.state = _RUNNING
        record.started_at = started
        record.attempts = 1
        outcome = "cancelled"
        self._journal_writer = writer
        try:
            executors = self._executors() if _executors_module.created else ()
            async with AsyncExitStack() as stack:
                for executor in executors:
                    await stack.enter_async_context(executor.session())
                ok = await self._orchestrate(self._subscribers, record.started_at, journal=writer)
            if writer.error is not None and self._failure is None:
                self._failure = writer.error
                ok = False
            outcome = "ok" if ok else "failed"
        except anyio.get_cancelled_exc_class():
            record.cancelled = True
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            outcome = "interrupted"
            self._interrupted_by(exc)
            raise
        finally:
            self._journal_writer = None
            record.state = _DONE
            record.ended_at = anyio.current_time()
            if writer.run_id:
                writer.finish(outcome, self._failure)
            else:
                writer.close()
        if writer.error is not None and self._failure is None:
            self._failure = writer.error
            ok = False
        record.result = ok
        return ok

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        """Run as a job of another scheduler: raise on failure, so that the
        enclosing scheduler sees it (and aborts, if this scheduler is critical)."""
        del status
        if self._record.attempts > 1:  # retried: start afresh
            self._reset_jobs()
            self._prepare()
            if run.journal is not None:
                run.journal.retrying(self)  # its jobs' rows of the last attempt go
        ok = await self._orchestrate(
            run.subscribers + self._subscribers,
            run.origin,
            self.executor or run.executor,
            journal=run.journal,
        )
        if not ok:
            assert self._failure is not None
            raise self._failure
        return ok

    def _executors(self) -> list[Executor]:
        """Every executor a run of this tree may use (started around the run)."""
        found: dict[Executor, None] = {}
        if self.executor is not None:
            found[self.executor] = None
        for job in self._every_job():
            executor = getattr(job, "executor", None)
            if isinstance(executor, Executor):
                found[executor] = None
        return list(found)

    async def _orchestrate(
        self,
        subscribers: tuple[Subscriber, ...],
        origin: float | None = None,
        executor: Executor | None = None,
        journal: _JournalRun | None = None,
    ) -> bool:
        run = _Run(
            self, self._jobs, subscribers, origin, executor or self.executor, journal=journal
        )
        self._failure = None
        self._stragglers = ()
        self._interrupt = None
        self._running = True
        self._live_run = run
        if self._job_notes:
            self._job_notes = {}
        if subscribers:
            run.emit(EventKind.RUN_STARTED, self)
        try:
            await run.orchestrate()
        finally:
            self._running = False
            self._live_run = None
            # the run hands its outcome back (also when it was cancelled from outside)
            self._failure = run.failure
            self._stragglers = run.stragglers
            self._interrupt = run.interrupt
            if subscribers:
                run.emit(EventKind.RUN_FINISHED, self, exception=run.failure)
        return run.failure is None

    def _prepare(self) -> None:
        """Check the whole tree (cycles, requirements, states) and count requirements."""
        try:
            self._prepare_level()
        except BaseException:
            for job in self._every_job():
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
            if isinstance(job, Scheduler):
                job._prepare_level()
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
            cycle = find_cycle(jobs)
            assert cycle is not None
            raise CycleError(cycle)
        for job in jobs:
            job._record.pending = len(job._requires)

    def reset(self) -> Scheduler:
        """Forget the last run (of this scheduler and all nested ones) to run again.

        Every job gets a fresh :class:`~jobgraph.JobRecord`; descriptions are unchanged.

        Returns:
            The scheduler, for chaining.

        Raises:
            RunStateError: the scheduler is running.
        """
        self._check_not_running("reset")
        self._reset_jobs()
        self._record = JobRecord()
        return self

    def _reset_jobs(self) -> None:
        self._journal_marks = None
        self._failure = None
        self._stragglers = ()
        self._interrupt = None
        for job in self._jobs:
            if isinstance(job, Scheduler):
                job._reset_jobs()
            job._record = JobRecord()

    async def shutdown(self) -> bool:
        """Call every job's ``shutdown()`` hook (nested schedulers included) concurrently.

        A hook that raises is logged, not propagated.

        Returns:
            True if they all completed without raising within ``shutdown_timeout``.

        Cancellation:
            Hooks still running after ``shutdown_timeout`` are cancelled; if the caller
            is cancelled, so are all hooks, and the cancellation propagates.
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

    def _outcome(self) -> str:
        outcome = self._record.outcome
        if outcome == "ok" and self._failure is not None:
            return "failed"  # a top-level run returns False rather than raise
        return outcome

    def _interrupted_by(self, exc: BaseException) -> None:
        """Record that a KeyboardInterrupt or SystemExit ended the run (the asyncio
        entry sees Ctrl-C only as a cancellation, then as the KeyboardInterrupt)."""
        self._interrupt = exc
        self._record.exception = exc

    def failed_critical(self) -> bool:
        """Whether the last run was aborted by a critical job's exception.

        Returns:
            True if :attr:`failure` is a :class:`CriticalJobError`.
        """
        return isinstance(self._failure, CriticalJobError)

    def failed_time_out(self) -> bool:
        """Whether the last run exceeded the scheduler's timeout.

        Returns:
            True if :attr:`failure` is a :class:`SchedulerTimeoutError`.
        """
        return isinstance(self._failure, SchedulerTimeoutError)

    def why(self) -> str:
        """One line: why the last run failed, or that it did not.

        Returns:
            A sentence naming the culprit (the critical job and its exception, the
            timeout), or saying the scheduler succeeded (naming the non-critical jobs
            that failed and the jobs skipped), is running, has not run, was interrupted
            (Ctrl-C, ``SystemExit``: naming the jobs cancelled and those that never ran)
            or was cancelled from outside; stragglers are named too.
        """
        record = self._record
        if record.state is _IDLE:
            return f"scheduler {self.label!r} has not run"
        if record.state is _RUNNING:
            return f"scheduler {self.label!r} is running"
        if self._interrupt is not None:
            return self._why_interrupted(self._interrupt)
        if record.cancelled:
            return f"scheduler {self.label!r} was cancelled from outside"
        if self._failure is None:
            text = f"scheduler {self.label!r} succeeded"
            failed, skipped = self._non_critical_losses()
            if failed:
                text += f", {_jobs(len(failed), 'non-critical ')} failed: {_some(failed)}"
            if skipped:
                text += ";" if failed else ","
                text += f" {_jobs(len(skipped))} skipped: {_some(skipped)}"
        elif isinstance(self._failure, CriticalJobError):
            text = f"run aborted: {self._failure}"
        else:
            text = f"run failed: {self._failure}"
        if self._stragglers:
            names = ", ".join(repr(job.label) for job in self._stragglers)
            text += f" (jobs ignoring cancellation: {names})"
        return text

    def _non_critical_losses(self) -> tuple[list[str], list[str]]:
        """The labels of the jobs that failed and of those skipped, in a run that
        succeeded (nested schedulers that succeeded included)."""
        failed: list[str] = []
        skipped: list[str] = []
        levels: list[Scheduler] = [self]
        while levels:
            for job in levels.pop(0)._jobs:
                record = job._record
                if record.exception is not None:
                    failed.append(repr(job.label))
                elif record.state is _SKIPPED:
                    skipped.append(repr(job.label))
                elif isinstance(job, Scheduler) and record.state is _DONE and not record.cancelled:
                    levels.append(job)
        return failed, skipped

    def _why_interrupted(self, exc: BaseException) -> str:
        cause = type(exc).__name__
        cancelled: list[str] = []
        never_ran: list[str] = []
        for job in self._every_job():
            if isinstance(job, Scheduler):
                continue  # its jobs tell the story
            job_record = job._record
            if job_record.exception is exc:
                cause += f" in job {job.label!r}"
            elif job_record.cancelled:
                cancelled.append(repr(job.label))
            elif job_record.state is _IDLE or job_record.state is _SCHEDULED:
                never_ran.append(repr(job.label))
        text = f"scheduler {self.label!r} was interrupted ({cause})"
        parts = [
            f"{len(names)} {what}: {_some(names)}"
            for what, names in (("cancelled", cancelled), ("never ran", never_ran))
            if names
        ]
        if parts:
            text += "; " + "; ".join(parts)
        if self._stragglers:
            names = ", ".join(repr(job.label) for job in self._stragglers)
            text += f" (jobs ignoring cancellation: {names})"
        return text

    def __repr__(self) -> str:
        done, running, idle, total = self.counts()
        name = type(self).__name__
        if self._label is not None:
            name += f" {self._label!r}"
        return f"{name} with {done} done + {running} ongoing + {idle} idle = {total} job(s)"

    # -- printing and graphics files -----------------------------------------------
    # The view methods (list_text, dot_format, timeline_svg...) come from SchedulerViews,
    # generated from jobgraph.views (see _delegates.py); these build on them.
    def list_safe(self, silence_done_jobs: bool = False) -> None:
        """Print :meth:`list_safe_text`.

        Args:
            silence_done_jobs: leave out jobs that are done.
        """
        from jobgraph import views

        views.print_text(self.list_safe_text(silence_done_jobs))

    def debrief(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print :meth:`debrief_text`: meant for a scheduler whose run failed.

        Args:
            details: as in :meth:`debrief_text`.
            silence_done_jobs: as in :meth:`debrief_text`.

        Raises:
            CycleError: the jobs form a cycle.
        """
        from jobgraph import views

        views.print_text(self.debrief_text(details, silence_done_jobs))

    def export_as_graphic(self, filename: str | os.PathLike[str], suffix: str) -> str:
        """Render the graph with graphviz's ``dot`` into ``<filename>.<suffix>``.

        No other file is written.

        Args:
            filename: the file's name, without the suffix.
            suffix: a format ``dot`` knows: ``svg``, ``png``, ``pdf``...

        Returns:
            The name of the file written.

        Raises:
            JobDefinitionError: ``filename`` is not a str or path-like.
            InvalidOptionError: ``filename`` is empty, or ``suffix`` names no format.
            FileNotFoundError: ``dot`` is not installed (Debian and Ubuntu:
                ``apt-get install graphviz``).
            RuntimeError: ``dot`` failed.
        """
        import jobgraph.views

        return jobgraph.views.export_as_graphic(self, filename, suffix)

    def export_as_svgfile(self, filename: str | os.PathLike[str]) -> str:
        """:meth:`export_as_graphic` with ``suffix="svg"``.

        Args:
            filename: the file's name, without the suffix.

        Returns:
            The name of the file written.
        """
        return self.export_as_graphic(filename, "svg")

    def export_as_pngfile(self, filename: str | os.PathLike[str]) -> str:
        """:meth:`export_as_graphic` with ``suffix="png"``.

        Args:
            filename: the file's name, without the suffix.

        Returns:
            The name of the file written.
        """
        return self.export_as_graphic(filename, "png")

    # defined last: inside the class body, the name shadows the builtin ``list``
    def list(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print the jobs in topological order with their status (see :meth:`list_text`).

        Args:
            details: as in :meth:`list_text`.
            silence_done_jobs: as in :meth:`list_text`.

        Raises:
            CycleError: the jobs form a cycle (see :meth:`list_safe`).
        """
        import jobgraph.views

        jobgraph.views.print_text(self.list_text(details, silence_done_jobs))


def abandon_journal(scheduler: Scheduler) -> bool:
    """Make the journaled run of ``scheduler`` going on stop writing its journal at once,
    as if its process had been killed (``kill -9``) at this moment: the successes not
    yet committed are lost, and nothing more is written, not even the run's end.

    For tests of crash safety that stay in one process (the property harness's
    ``run_graph(..., crash_after=N)``): the run itself goes on, and the caller cancels
    it and ignores what happens after. A resume then sees exactly what a crash would
    have left. An ordinary cancellation is not a crash: the run would still write its
    pending successes and every other job's row.

    Args:
        scheduler: the root scheduler of a run started with ``journal=``.

    Returns:
        True if a journal was being written, False otherwise (nothing done).
    """
    writer = scheduler._journal_writer
    if writer is None:
        return False
    writer.abandon()
    return True


# what views and tools read, whatever a subclass calls ``failure`` or ``stragglers``
# (see jobgraph._core._job.record_of)
def journal_mark_of(job: AbstractJob) -> str | None:
    """What the last journaled run says of ``job``: ``"↺ restored"`` for a job restored
    from the journal on resume, or why it ran again, or why its result could not be
    journaled; None otherwise.

    Args:
        job: any job.

    Returns:
        The mark, or None.
    """
    owner = job._owner() if job._owner is not None else None
    if owner is None or not owner._journal_marks:
        return None
    return owner._journal_marks.get(job)


def failure_of(scheduler: Scheduler) -> BaseException | None:
    """Why the scheduler's last run failed (see :attr:`Scheduler.failure`).

    Args:
        scheduler: the scheduler to read, whatever its class calls ``failure``.

    Returns:
        The exception that ended the last run, or None if it succeeded or never ran.
    """
    return scheduler._failure


def stragglers_of(scheduler: Scheduler) -> tuple[AbstractJob, ...]:
    """The jobs of the last run that ignored cancellation (see :attr:`Scheduler.stragglers`).

    Args:
        scheduler: the scheduler to read.

    Returns:
        Those jobs, in no particular order; empty if every job honoured cancellation.
    """
    return scheduler._stragglers


def _jobs(count: int, kind: str = "") -> str:
    return f"{count} {kind}job" if count == 1 else f"{count} {kind}jobs"


def _some(names: list[str], shown: int = 10) -> str:
    """The first ``shown`` names, and how many more."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" and {len(names) - shown} more"
