"""asynciojobs-style schedulers: native schedulers with run() / co_run() on top."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator, KeysView
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc
import anyio.lowlevel

import jobgraph as _native_job
from jobgraph import (
    CriticalJobError,
    CycleError,
    JobState,
    OwnershipError,
    SchedulerTimeoutError,
    TaskStatusLike,
    views,
)
from jobgraph import Scheduler as _NativeScheduler
from jobgraph.lowlevel import Requirement, jobs_of, owner_of, record_of, requirements_of

from ._jobs import AbstractJob, compat_label, computed_label, free_names, run_sync
from ._watch import Watch

__all__ = ["PureScheduler", "Scheduler", "set_debug"]

logger = logging.getLogger("jobgraph.compat.asynciojobs")

_DEBUG = False
_STARTED = frozenset((JobState.RUNNING, JobState.DONE))
_STREAK = 256  # co_shutdown() calls a worker makes back to back before it lets others run


def set_debug(debug: bool) -> None:
    """Turn on (or off) the progress messages of every scheduler, as ``verbose`` does."""
    global _DEBUG
    _DEBUG = bool(debug)


# -- schedulers --------------------------------------------------------------------------
@free_names("failure", "stragglers")
class PureScheduler(_NativeScheduler):
    """A set of jobs run in an order that respects their requirements.

    ``jobs_window`` (None or 0: no limit) caps the jobs running at once; ``timeout``
    (seconds, None: none) bounds the whole run; ``shutdown_timeout`` bounds
    :meth:`co_shutdown`; ``watch`` (a :class:`Watch`) timestamps messages; ``verbose``
    prints the progress of the run. ``co_run()`` returns True or False, never raises
    because a job failed (see :class:`Scheduler` for that).
    """

    _did_shutdown = False
    _shutdown_outcome: bool | None = None

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
        failure: Any
        stragglers: Any

    def __init__(
        self,
        *jobs_or_sequences: Any,
        jobs_window: int | None = None,
        timeout: float | None = None,
        shutdown_timeout: float | None = 1,
        watch: Watch | None = None,
        verbose: bool = False,
    ) -> None:
        self.watch = watch
        self.verbose = verbose
        super().__init__(
            *jobs_or_sequences,
            jobs_window=_window(jobs_window),
            timeout=timeout,
            shutdown_timeout=shutdown_timeout,
        )

    @property
    def jobs_window(self) -> int | None:
        """At most this many jobs run at once; None (or 0 when set) means no limit."""
        return self._jobs_window

    @jobs_window.setter
    def jobs_window(self, value: int | None) -> None:
        self._jobs_window = _window(value)

    @property
    def jobs(self) -> KeysView[_native_job.AbstractJob]:  # type: ignore[override]
        """The scheduler's jobs, as a read-only, live set view."""
        return self._jobs.keys()

    @property
    def label(self) -> str:
        """The label given (or set later), else the one ``text_label()`` computes."""
        return compat_label(self)

    @label.setter
    def label(self, value: str | None) -> None:
        self._label = value

    def repr_entries(self) -> str:
        """Like ``entries={3}``: the jobs of this scheduler that require nothing."""
        return views.entries_repr(self)

    def repr_exits(self) -> str:
        """Like ``exits={6}``: the (finite) jobs that no other job requires."""
        return views.exits_repr(self)

    def default_label(self) -> str:
        return computed_label(self)

    def __repr__(self) -> str:  # asynciojobs' own, which never shows the label
        done, running, idle, total = self.counts()
        return (
            f"{type(self).__name__} with {done} done + {running} ongoing + {idle} idle"
            f" = {total} job(s)"
        )

    def text_label(self) -> str | None:
        return None

    # -- listings (through the native text methods, whose names subclasses own) --------
    def list(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print the jobs in topological order with their status."""
        print(_NativeScheduler.list_text(self, details, silence_done_jobs), end="")

    def list_safe(self, silence_done_jobs: bool = False) -> None:
        """Print the jobs in insertion order (works when the jobs form a cycle)."""
        print(_NativeScheduler.list_safe_text(self, silence_done_jobs), end="")

    def debrief(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print why the run failed, the counts, the listing and the exceptions."""
        print(_NativeScheduler.debrief_text(self, details, silence_done_jobs), end="")

    # -- running ---------------------------------------------------------------------
    def run(self, *args: Any, **kwds: Any) -> bool:  # type: ignore[override]
        """Run :meth:`co_run` in a new event loop and return what it returns."""
        return run_sync(lambda: self.co_run(*args, **kwds))

    orchestrate = run

    async def co_run(self) -> bool:
        """Run the jobs; True if every finite job completed in time and no critical
        job raised, False otherwise. Forever jobs are cancelled once the others are done.

        Running a scheduler again starts its jobs afresh (a :class:`Job` whose coroutine
        already ran then fails, since a coroutine runs once).
        """
        self._refuse_borrowed()
        if self._record.state is not JobState.IDLE:
            _NativeScheduler.reset(self)  # (reset is a name left to subclasses)
        self._did_shutdown = False
        with contextlib.suppress(CycleError):  # the run raises it, naming the cycle
            views.number_jobs(self)
        unsubscribe = self._subscribe_feedback()
        if self.verbose or _DEBUG:
            self._feedback(f"entering co_run() with {len(self._jobs)} jobs")
        try:
            ok = await _NativeScheduler.run(self)
        finally:
            unsubscribe()
        await self._after_run(ok)
        return ok

    async def _after_run(self, ok: bool) -> None:
        if not ok:
            if self.failed_time_out():
                self._feedback("PureScheduler.co_run: TIMEOUT occurred")
            elif self.failed_critical():
                self._feedback("Emergency exit upon exception in critical job")
        for job in self._jobs_not_started():
            job.close()  # its coroutine will never run: spare users Python's warning
        await self.co_shutdown()

    def _feedback(self, message: str) -> None:
        if self.watch is not None:
            self.watch.print_elapsed()
        else:
            Watch.print_wall_clock()
        print(f"SCHEDULER {self.stats()}: {message}")

    def _subscribe_feedback(self) -> Callable[[], None]:
        if not (self.verbose or _DEBUG):
            return lambda: None
        from jobgraph import EventKind, JobEvent

        words = {
            EventKind.SCHEDULED: "STARTING",
            EventKind.FINISHED: "DONE",
            EventKind.FAILED: "RAISED EXC.",
            EventKind.CANCELLED: "ABORTING",
        }

        def show(event: JobEvent) -> None:
            word = words.get(event.kind)
            job = event.job
            if word is None or not isinstance(job, AbstractJob):
                return
            if self.watch is not None:
                self.watch.print_elapsed()
            else:
                Watch.print_wall_clock()
            print(
                f"{self.stats()} {word:8s}: {job.repr_id()} {job.repr_short()} "
                f"{job.repr_main()} {job.repr_result()} {job.repr_requires()}"
            )

        return _NativeScheduler.subscribe(self, show)

    def shutdown(self) -> bool | None:  # type: ignore[override]
        """Run :meth:`co_shutdown` in a new event loop and return what it returns."""
        return run_sync(self.co_shutdown)

    async def co_shutdown(self) -> bool | None:
        """Call ``co_shutdown()`` on every job (nested schedulers pass it on).

        True if they all returned within ``shutdown_timeout``. As in asynciojobs
        0.21, ``co_run()`` shuts its scheduler down when it ends, once: later calls
        return the outcome of that first shutdown.
        """
        if self._did_shutdown:
            return self._shutdown_outcome
        self._did_shutdown = True
        fine = True
        if self._jobs and (self.verbose or _DEBUG):
            self._feedback("scheduler is shutting down...")

        # The jobs' co_shutdown() run concurrently, yet without a task per job (most
        # return at once): as the engine does with jobs, a worker about to call one
        # starts a spare worker unless one is pending, so one that blocks hands the
        # rest over. A Job without a coshutdown coroutine has nothing to do.
        queue: Iterator[Any] = iter(tuple(self._jobs))  # shared: each job taken once
        spare = 0

        async def worker(tg: anyio.abc.TaskGroup, *, started: bool) -> None:
            nonlocal fine, spare
            if started:
                spare -= 1
            streak = 0
            for job in queue:
                plain = getattr(job, "_plain_co_shutdown", None)
                if plain is None and not hasattr(job, "co_shutdown"):
                    continue  # a native job nested here
                if plain and job.coshutdown is None:
                    continue
                if not spare:
                    spare += 1
                    tg.start_soon(functools.partial(worker, tg, started=True))
                try:
                    await job.co_shutdown()
                except Exception:
                    logger.exception("co_shutdown() of job %r failed", job.label)
                    fine = False
                streak += 1
                if streak == _STREAK:  # jobs that never block: let others run now and then
                    streak = 0
                    await anyio.lowlevel.checkpoint()

        with anyio.move_on_after(self.shutdown_timeout) as scope:
            async with anyio.create_task_group() as tg:
                await worker(tg, started=False)
        self._shutdown_outcome = fine and not scope.cancelled_caught
        return self._shutdown_outcome

    # -- graph ---------------------------------------------------------------------
    def topological_order(self) -> Iterator[Any]:
        """Yield the jobs, requirements first, in asynciojobs' order.

        That order scans the jobs in insertion order, again and again, each time taking
        every job whose requirements were all taken before it (in this scan or an
        earlier one), so that listings number jobs as asynciojobs does; it is computed
        here in O(edges + jobs log jobs). Raises
        :class:`~jobgraph.CycleError` (a ``ValueError``) if the jobs form a cycle.
        """
        jobs = self._jobs
        taken: set[Any] = set()
        for job in jobs:
            for required in requirements_of(job):
                if required not in taken and required in jobs:
                    return self._scanned_order()
            taken.add(job)
        # every job comes after its requirements: the first scan takes them all
        return iter(tuple(jobs))

    def _scanned_order(self) -> Iterator[Any]:
        # the scan in which a job is taken: after those of its requirements, and one
        # scan later for a requirement that comes after it in insertion order
        position = {job: index for index, job in enumerate(self._jobs)}
        scan: dict[Any, int] = {}
        for job in super().topological_order():  # raises CycleError
            here = position[job]
            scan[job] = max(
                (scan[r] + (position[r] > here) for r in requirements_of(job) if r in position),
                default=0,
            )
        return iter(sorted(scan, key=lambda job: (scan[job], position[job])))

    def exit_jobs(
        self, *, discard_forever: bool = True, compute_backlinks: bool = True
    ) -> Iterator[Any]:
        """Yield the jobs no other job requires (forever ones only if not
        ``discard_forever``); ``compute_backlinks`` is accepted and not needed."""
        del compute_backlinks
        return super().exit_jobs(discard_forever=discard_forever)

    def successors(self, *starts: Any, compute_backlinks: bool = True) -> Iterator[Any]:  # type: ignore[override]
        """Yield the jobs that directly require any of ``starts``."""
        del compute_backlinks
        return iter(super().successors(*starts))

    def successors_downstream(self, *starts: Any, compute_backlinks: bool = True) -> set[Any]:
        """The jobs that require any of ``starts``, directly or not."""
        del compute_backlinks
        return super().successors_downstream(*starts)

    def export_as_graphic(self, filename: str | os.PathLike[str], suffix: str) -> str:
        """As asynciojobs: the DOT source is also left next to the picture, in
        ``<filename>.dot``."""
        return views.export_as_graphic(self, filename, suffix, keep_dot=True)

    def graph(self) -> Any:
        """The graph of jobs: a ``graphviz.Source`` when the ``graphviz`` package is
        installed (as with asynciojobs), else a ``pydot.Dot``."""
        try:
            from graphviz import Source
        except ImportError:
            return super().graph()
        return Source(source=self.dot_format())

    # -- outcome ---------------------------------------------------------------------
    def why(self) -> str:
        """Why the last run failed, or ``"FINE"``."""
        if self.failed_time_out():
            return f"TIMED OUT after {self.timeout}s"
        if self.failed_critical():
            return "a CRITICAL job has raised an exception"
        return "FINE"

    def counts(self) -> tuple[int, int, int, int]:
        done = running = 0
        for job in self._jobs:
            if isinstance(job, AbstractJob):
                is_done, is_running = job.is_done(), job.is_running()
            else:  # a native job or scheduler nested in a compat one
                record = record_of(job)
                is_done = record.state is JobState.DONE and not record.cancelled
                is_running = record.state in _STARTED
            done += is_done
            running += is_running
        total = len(self._jobs)
        return done, running - done, total - running, total

    # -- membership ------------------------------------------------------------------
    #: jobs added here while they belong to another scheduler (see update)
    _borrowed: tuple[_native_job.AbstractJob, ...] = ()

    def update(self, jobs: Any) -> Self:
        """Add jobs, sequences, or nested iterables of them (``None`` is ignored).

        As in asynciojobs, a job that already belongs to another scheduler may be added
        (apssh's tests build such graphs and run only one of the two schedulers): it
        stays in the first one, and running this one raises
        :class:`jobgraph.OwnershipError` naming it, before any job starts. The native
        :class:`jobgraph.Scheduler` refuses the add itself.

        Args:
            jobs: a job, a sequence, or an iterable of these.

        Returns:
            This scheduler.
        """
        members = list(jobs_of(jobs if isinstance(jobs, tuple) else (jobs,), "add()"))
        owners = [owner_of(job) for job in members]
        mine = tuple(
            job for job, owner in zip(members, owners, strict=True) if owner in (None, self)
        )
        super().update(mine)
        borrowed = [
            job for job, owner in zip(members, owners, strict=True) if owner not in (None, self)
        ]
        self._borrowed += tuple(job for job in borrowed if job not in self._borrowed)
        return self

    def _refuse_borrowed(self) -> None:
        """Running with a job that belongs to another scheduler: refused, naming it (one
        that the other scheduler gave up since is taken in now)."""
        for job in self._borrowed:
            owner = owner_of(job)
            if owner is not None and owner is not self:
                raise OwnershipError(
                    f"job {job.label!r} was added to scheduler {self.label!r} but belongs "
                    f"to scheduler {owner.label!r}: a job runs in one scheduler only"
                )
        free = tuple(job for job in self._borrowed if owner_of(job) is None)
        if free:
            super().update(free)
        self._borrowed = ()

    def remove(self, job: Any) -> Self:
        """Remove a job or a sequence's jobs; ``KeyError`` if one is not here."""
        if job in self._borrowed:
            self._borrowed = tuple(other for other in self._borrowed if other is not job)
            return self
        super().remove(job)
        return self

    def sanitize(self, verbose: bool | None = None) -> bool:
        """Drop requirements on jobs outside the same scheduler, at every depth.

        Returns True if there were none. ``verbose`` (default: the scheduler's own
        setting) prints each job that lost requirements.
        """
        if self.verbose if verbose is None else verbose:
            for scheduler in self.iterate_jobs(scan_schedulers=True):
                if not isinstance(scheduler, _NativeScheduler):
                    continue
                members = dict.fromkeys(scheduler.jobs)
                for job in members:
                    foreign = sum(1 for required in requirements_of(job) if required not in members)
                    if foreign:
                        print(
                            f"{10 * '*'} WARNING: job {job!r} in {scheduler.label} "
                            f"had {foreign} requirements removed"
                        )
        return super().sanitize()

    def close_idle_jobs(self) -> None:
        """Close the coroutines of the jobs (at any depth) that did not start."""
        for job in self.iterate_jobs():
            if isinstance(job, AbstractJob) and job.is_idle():
                job.close()

    def close_all_jobs(self) -> None:
        """Close the coroutines of every job (at any depth)."""
        for job in self.iterate_jobs():
            if isinstance(job, AbstractJob):
                job.close()

    def _jobs_not_started(self) -> Iterator[AbstractJob]:
        """The jobs (at any depth, nested schedulers excepted) that never started."""
        levels: list[Any] = [self]
        while levels:
            for job in levels.pop().jobs:
                if isinstance(job, _NativeScheduler):
                    levels.append(job)
                elif record_of(job).state not in _STARTED and isinstance(job, AbstractJob):
                    yield job

    def iterate_jobs(self, scan_schedulers: bool = False) -> Iterator[Any]:
        """Yield every job at any depth; nested schedulers too with ``scan_schedulers``.

        With ``scan_schedulers`` the scheduler itself comes first, as in asynciojobs.
        """
        if scan_schedulers:
            yield self
        yield from super().iterate_jobs(scan_schedulers=scan_schedulers)


def _window(value: int | None) -> int | None:
    """asynciojobs reads a window of None, 0 (or less) as "no limit"."""
    return value if value is not None and value > 0 else None


class Scheduler(PureScheduler, AbstractJob):
    """A :class:`PureScheduler` that is also a job, so it can be nested.

    Options of :class:`AbstractJob` (``critical=True``, ``forever``, ``label``,
    ``required``, ``scheduler``) go in ``kwds``. When a run fails, a critical scheduler
    raises from ``co_run()``: the exception of the critical job that failed, or a
    :class:`TimeoutError`; a non-critical one returns False. Nested, a failing critical
    scheduler thus fails as a job of its parent.
    """

    def __init__(
        self,
        *jobs_or_sequences: Any,
        jobs_window: int | None = None,
        timeout: float | None = None,
        shutdown_timeout: float | None = 1,
        watch: Watch | None = None,
        verbose: bool = False,
        forever: bool = False,
        critical: bool = True,
        label: str | None = None,
        required: Requirement = None,
        scheduler: _NativeScheduler | None = None,
    ) -> None:
        self.watch = watch
        self.verbose = verbose
        _NativeScheduler.__init__(
            self,
            *jobs_or_sequences,
            jobs_window=_window(jobs_window),
            timeout=timeout,
            shutdown_timeout=shutdown_timeout,
            label=label,
            critical=bool(critical),  # asynciojobs takes any truthy value
            forever=bool(forever),
            scheduler=scheduler,
        )
        if required is not None:
            self.requires(required)

    async def co_run(self) -> bool:
        """Like :meth:`PureScheduler.co_run`, but a critical scheduler raises rather
        than return False: the failed job's exception, or :class:`TimeoutError`."""
        ok = await PureScheduler.co_run(self)
        if ok or not self.critical:
            return ok
        raise self._compat_error()

    def _compat_error(self) -> BaseException:
        failure = self._failure
        if isinstance(failure, CriticalJobError):
            return failure.exception
        assert isinstance(failure, SchedulerTimeoutError)
        return failure

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        """Run nested in another scheduler."""
        self._refuse_borrowed()
        self._did_shutdown = False
        try:
            ok: bool = await _NativeScheduler._invoke(self, status, run)
        except (CriticalJobError, SchedulerTimeoutError) as exc:
            if exc is not self._failure:
                raise
            ok = False
        await self._after_run(ok)
        if ok or not self.critical:
            return ok
        raise self._compat_error()

    def _accepts_status(self) -> bool:
        return True

    async def co_shutdown(self) -> bool | None:
        return await PureScheduler.co_shutdown(self)

    def dot_cluster_name(self) -> str:
        """The name of the DOT cluster that draws this scheduler when nested."""
        return f"cluster_{self.repr_id()}"
