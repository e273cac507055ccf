"""The scheduler: a set of jobs and their requirements, and what it takes to run them.

:class:`Scheduler` holds the jobs (membership, events, outcome of the last run) and checks
the whole tree before a run (:meth:`Scheduler._prepare`); the run itself is the run loop of
:mod:`jobgraph._core._run`, which hands back its outcome (``failure``, ``stragglers``).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, ClassVar

import anyio

from . import _executors as _executors_module
from ._cycles import find_cycle
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
from ._policy import OnFailedRequirement, Retry, _check_duration
from ._record import JobRecord, JobState
from ._run import _Run

__all__ = ["Scheduler"]

logger = logging.getLogger("jobgraph")

_IDLE, _RUNNING, _DONE = JobState.IDLE, JobState.RUNNING, JobState.DONE


class Scheduler(AbstractJob):
    """A set of jobs and their requirements; running it runs them in a valid order.

    ``Scheduler(*jobs_or_sequences, jobs_window=None, timeout=None, ...)``:

    - ``jobs_window``: at most this many (finite) jobs run at once; ``None``, no limit.
      Forever jobs do not take a slot. Jobs with all requirements done that wait for a
      slot are in state ``SCHEDULED``.
    - ``timeout``: seconds the whole run may last; ``None``, no limit.
    - ``shutdown_timeout``: seconds given to cancelled jobs to end (and to the jobs'
      ``shutdown()`` hooks in :meth:`shutdown`) before they are reported.
    - ``executor``: where the bodies of its jobs (:class:`~jobgraph.Job`) run unless a job
      says otherwise (see :mod:`jobgraph.executors`); nested schedulers inherit it.
      None: the enclosing scheduler's, or the event loop.

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
        executor: Executor | None = None,
    ) -> None:
        self.executor = check_executor(executor, f"Scheduler() (label {label!r})")
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

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        del state["_selfref"]
        state["_subscribers"] = ()  # callbacks stay with the process that subscribed them
        state["_running"] = False
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
        members = list(jobs_of(jobs if isinstance(jobs, tuple) else (jobs,), "add()"))
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
            if isinstance(job, Scheduler):
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
            executors = self._executors() if _executors_module.created else ()
            if executors:
                async with AsyncExitStack() as stack:
                    for executor in executors:
                        await stack.enter_async_context(executor.session())
                    ok = await self._orchestrate(self._subscribers)
            else:
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
        ok = await self._orchestrate(
            run.subscribers + self._subscribers, self.executor or run.executor
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
        self, subscribers: tuple[Subscriber, ...], executor: Executor | None = None
    ) -> bool:
        run = _Run(self, self._jobs, subscribers, executor or self.executor)
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
        """Forget the last run (of this scheduler and all nested ones) to run again."""
        self._check_not_running("reset")
        self._reset_jobs()
        self._record = JobRecord()
        return self

    def _reset_jobs(self) -> None:
        self._failure = None
        self._stragglers = ()
        for job in self._jobs:
            if isinstance(job, Scheduler):
                job._reset_jobs()
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

    def counts(self) -> tuple[int, int, int, int]:
        """(done, running, idle, total) among the scheduler's own jobs.

        Done means finished whatever the outcome (completed, failed, cancelled or
        skipped); idle includes scheduled jobs waiting for a window slot. Listings,
        :meth:`stats` and reports use it; a subclass may count otherwise.
        """
        from jobgraph import views

        return views.counts(self)

    def __repr__(self) -> str:
        done, running, idle, total = self.counts()
        return (
            f"{type(self).__name__} with {done} done + {running} ongoing + {idle} idle"
            f" = {total} job(s)"
        )

    # -- views ---------------------------------------------------------------------
    # One-line delegates to jobgraph.views, imported when called (the engine does not
    # depend on its views). Subclasses may override any of them; the views call these
    # methods, not the functions, where one view builds on another.
    def iterate_jobs(self, *, scan_schedulers: bool = False) -> Iterator[AbstractJob]:
        """Yield every job, descending into nested schedulers.

        Args:
            scan_schedulers: also yield nested schedulers (before their jobs).
        """
        from jobgraph import views

        return views.iterate_jobs(self, scan_schedulers=scan_schedulers)

    def topological_order(self) -> Iterator[AbstractJob]:
        """Yield this scheduler's jobs, requirements first (ties in insertion order).

        Requirements on jobs outside the scheduler are ignored.

        Raises:
            CycleError: the jobs form a cycle.
        """
        from jobgraph import views

        return views.topological_order(self)

    def check_cycles(self) -> bool:
        """True if neither this scheduler nor any nested one has a cycle."""
        from jobgraph import views

        return views.check_cycles(self)

    def sanitize(self) -> bool:
        """Drop requirements on jobs that are not in the same scheduler (at every level).

        Returns:
            True if nothing had to be dropped.
        """
        from jobgraph import views

        return views.sanitize(self)

    def entry_jobs(self) -> Iterator[AbstractJob]:
        """Yield the jobs that require no job of this scheduler, in insertion order."""
        from jobgraph import views

        return views.entry_jobs(self)

    def exit_jobs(self, *, discard_forever: bool = True) -> Iterator[AbstractJob]:
        """Yield the jobs that no job of this scheduler requires, in insertion order.

        Args:
            discard_forever: leave forever jobs out (the default): they seldom have
                dependents, and are seldom what one means by the end of a graph.
        """
        from jobgraph import views

        return views.exit_jobs(self, discard_forever=discard_forever)

    def predecessors(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """The jobs of this scheduler that any of ``jobs`` directly requires.

        Raises:
            JobDefinitionError: one of ``jobs`` is not a job.
        """
        from jobgraph import views

        return views.predecessors(self, *jobs)

    def successors(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """The jobs of this scheduler that directly require any of ``jobs``.

        Raises:
            JobDefinitionError: one of ``jobs`` is not a job.
        """
        from jobgraph import views

        return views.successors(self, *jobs)

    def predecessors_upstream(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """Every job of this scheduler that any of ``jobs`` requires, directly or not.

        The given jobs are included only when they require themselves through a cycle.

        Raises:
            JobDefinitionError: one of ``jobs`` is not a job.
        """
        from jobgraph import views

        return views.predecessors_upstream(self, *jobs)

    def successors_downstream(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """Every job of this scheduler that requires any of ``jobs``, directly or not.

        Raises:
            JobDefinitionError: one of ``jobs`` is not a job.
        """
        from jobgraph import views

        return views.successors_downstream(self, *jobs)

    def keep_only(self, jobs: Any) -> None:
        """Remove every job not in ``jobs`` (jobs or sequences; others are ignored),
        then drop the requirements on removed jobs (see :meth:`sanitize`).

        Raises:
            RunStateError: the scheduler is running.
        """
        from jobgraph import views

        views.keep_only(self, jobs)

    def keep_only_between(
        self,
        *,
        starts: Any = None,
        ends: Any = None,
        keep_starts: bool = True,
        keep_ends: bool = True,
    ) -> None:
        """Keep the jobs downstream of any of ``starts`` and upstream of any of ``ends``.

        Args:
            starts: jobs or sequences; empty or None sets no bound upstream.
            ends: jobs or sequences; empty or None sets no bound downstream.
            keep_starts: keep the starts themselves.
            keep_ends: keep the ends themselves.

        Raises:
            RunStateError: the scheduler is running.
        """
        from jobgraph import views

        views.keep_only_between(
            self, starts=starts, ends=ends, keep_starts=keep_starts, keep_ends=keep_ends
        )

    def bypass_and_remove(self, job: AbstractJob) -> None:
        """Remove ``job``, making each job that required it require what it required.

        Raises:
            ValueError: ``job`` is not one of this scheduler's own jobs (nested ones do
                not count).
            RunStateError: the scheduler is running.
        """
        from jobgraph import views

        views.bypass_and_remove(self, job)

    def repr_entries(self) -> str:
        """Like ``entries={3}``: the jobs of this scheduler that require nothing."""
        from jobgraph import views

        return views.entries_repr(self)

    def repr_exits(self) -> str:
        """Like ``exits={6}``: the (finite) jobs that no other job requires."""
        from jobgraph import views

        return views.exits_repr(self)

    def list_text(
        self,
        details: bool = False,
        silence_done_jobs: bool = False,
        *,
        ascii: bool | None = None,
    ) -> str:
        """The listing that :meth:`list` prints, as a string (one line per job).

        Args:
            details: add the text of each job's :meth:`~AbstractJob.details` under its line.
            silence_done_jobs: leave out jobs that are done.
            ascii: True or False forces the symbols; None uses unicode when stdout can
                print it.

        Raises:
            CycleError: the jobs form a cycle (see :meth:`list_safe_text`).
        """
        from jobgraph import views

        return views.list_text(self, details, silence_done_jobs, ascii=ascii)

    def list_safe_text(self, silence_done_jobs: bool = False, *, ascii: bool | None = None) -> str:
        """Like :meth:`list_text`, in insertion order, so it works on graphs with cycles.

        Jobs are numbered ``1``, ``2``... and the jobs of a nested scheduler numbered
        ``2`` are ``2.1``, ``2.2``...
        """
        from jobgraph import views

        return views.list_safe_text(self, silence_done_jobs, ascii=ascii)

    def list_safe(self, silence_done_jobs: bool = False) -> None:
        """Print :meth:`list_safe_text`."""
        print(self.list_safe_text(silence_done_jobs), end="")  # noqa: T201 - its purpose

    def stats(self) -> str:
        """Like ``2D + 3R + 4I = 9``: jobs done (finished, whatever the outcome),
        running, idle (or scheduled), and in total."""
        from jobgraph import views

        return views.stats(self)

    def debrief_text(
        self,
        details: bool = False,
        silence_done_jobs: bool = False,
        *,
        ascii: bool | None = None,
    ) -> str:
        """What :meth:`debrief` prints: why the run failed, the counts, the listing,
        then the traceback of every exception, critical ones first."""
        from jobgraph import views

        return views.debrief_text(self, details, silence_done_jobs, ascii=ascii)

    def debrief(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print :meth:`debrief_text`: meant for a scheduler whose run failed."""
        print(self.debrief_text(details, silence_done_jobs), end="")  # noqa: T201

    def report(self) -> dict[str, Any]:
        """A JSON-ready description of the scheduler and its last run (see
        :func:`jobgraph.views.report`)."""
        from jobgraph import views

        return views.report(self)

    def export_report(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`report` as JSON to ``path``; returns the path."""
        from jobgraph import views

        return views.export_report(self, path)

    def dot_format(self) -> str:
        """The graph of jobs in graphviz's DOT language (no graphviz needed).

        Raises:
            CycleError: the jobs form a cycle.
        """
        from jobgraph import views

        return views.dot_format(self)

    def export_as_dotfile(self, filename: str | os.PathLike[str]) -> str:
        """Write :meth:`dot_format` to ``filename``; returns a message saying so."""
        from jobgraph import views

        return views.export_as_dotfile(self, filename)

    def graph(self) -> Any:
        """The graph as a ``pydot.Dot`` (needs the ``pydot`` package)."""
        from jobgraph import views

        return views.pydot_graph(self)

    def export_as_graphic(self, filename: str | os.PathLike[str], suffix: str) -> str:
        """Render the graph with graphviz's ``dot`` into ``<filename>.<suffix>`` (``svg``,
        ``png``, ``pdf``...), next to ``<filename>.dot``; returns the file's name.

        Raises:
            FileNotFoundError: ``dot`` is not installed (Debian and Ubuntu:
                ``apt-get install graphviz``).
            RuntimeError: ``dot`` failed.
        """
        from jobgraph import views

        return views.export_as_graphic(self, filename, suffix)

    def export_as_svgfile(self, filename: str | os.PathLike[str]) -> str:
        """:meth:`export_as_graphic` with ``suffix="svg"``."""
        return self.export_as_graphic(filename, "svg")

    def export_as_pngfile(self, filename: str | os.PathLike[str]) -> str:
        """:meth:`export_as_graphic` with ``suffix="png"``."""
        return self.export_as_graphic(filename, "png")

    def _repr_svg_(self) -> str | None:
        """The graph as SVG for Jupyter, or None (text display) without graphviz."""
        from jobgraph import views

        return views.svg_text(self)

    def export_timeline_svg(self, path: str | os.PathLike[str]) -> Path:
        """Write a Gantt chart of the last run as an SVG file; returns the path.

        One bar per job from start to end, coloured by outcome, with the wait for a
        window slot (from ``scheduled_at`` to ``started_at``) drawn before it.
        """
        from jobgraph import views

        return views.export_timeline_svg(self, path)

    def timeline_svg(self) -> str:
        """The Gantt chart of :meth:`export_timeline_svg`, as SVG text."""
        from jobgraph import views

        return views.timeline_svg(self)

    # defined last: inside the class body, the name shadows the builtin ``list``
    def list(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print the jobs in topological order with their status (see :meth:`list_text`)."""
        print(self.list_text(details, silence_done_jobs), end="")  # noqa: T201
