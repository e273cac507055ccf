"""asynciojobs-style schedulers: native schedulers with run() / co_run() on top."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, KeysView
from typing import Any, Self

import anyio

from jobgraph import _job as _native_job
from jobgraph._exceptions import CriticalJobError, SchedulerTimeoutError
from jobgraph._job import Requirement, TaskStatusLike
from jobgraph._run import JobState
from jobgraph._scheduler import Scheduler as _NativeScheduler

from ._jobs import AbstractJob, run_sync
from ._watch import Watch

__all__ = ["PureScheduler", "Scheduler", "set_debug"]

logger = logging.getLogger("jobgraph.compat.asynciojobs")

_DEBUG = False


def set_debug(debug: bool) -> None:
    """Turn on (or off) the progress messages of every scheduler, as ``verbose`` does."""
    global _DEBUG
    _DEBUG = bool(debug)


# -- schedulers --------------------------------------------------------------------------
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

    def default_label(self) -> str:
        text = self.text_label()
        return text if text is not None else "NOLABEL"

    def text_label(self) -> str | None:
        return None

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
        if self._record.state is not JobState.IDLE:
            self.reset()
        self._did_shutdown = False
        if self.check_cycles():
            self._set_sched_ids()
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
        from jobgraph._events import EventKind, JobEvent

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

        return self.subscribe(show)

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

        async def one(job: Any) -> None:
            nonlocal fine
            try:
                await job.co_shutdown()
            except Exception:
                logger.exception("co_shutdown() of job %r failed", job.label)
                fine = False

        with anyio.move_on_after(self.shutdown_timeout) as scope:
            async with anyio.create_task_group() as tg:
                for job in self._jobs:
                    if hasattr(job, "co_shutdown"):
                        tg.start_soon(one, job)
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
        # the scan in which a job is taken: after those of its requirements, and one
        # scan later for a requirement that comes after it in insertion order
        position = {job: index for index, job in enumerate(self._jobs)}
        scan: dict[Any, int] = {}
        for job in super().topological_order():  # raises CycleError
            here = position[job]
            scan[job] = max(
                (scan[r] + (position[r] > here) for r in job._requires if r in position),
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

    def graph(self) -> Any:
        """The graph of jobs: a ``graphviz.Source`` when the ``graphviz`` package is
        installed (as with asynciojobs), else a ``pydot.Dot``."""
        try:
            from graphviz import Source  # type: ignore[import-not-found, unused-ignore]
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

    def _counts(self) -> tuple[int, int, int, int]:
        done = running = 0
        for job in self._jobs:
            if isinstance(job, AbstractJob):
                is_done, is_running = job.is_done(), job.is_running()
            else:  # a native job or scheduler nested in a compat one
                is_done = job.state is JobState.DONE and not job.cancelled
                is_running = job.state in (JobState.RUNNING, JobState.DONE)
            done += is_done
            running += is_running
        total = len(self._jobs)
        return done, running - done, total - running, total

    # -- membership ------------------------------------------------------------------
    def remove(self, job: Any) -> Self:
        """Remove a job or a sequence's jobs; ``KeyError`` if one is not here."""
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
                members = scheduler._jobs
                for job in members:
                    foreign = sum(1 for required in job._requires if required not in members)
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
        for job in self.iterate_jobs():
            if isinstance(job, AbstractJob) and not job.is_running():
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
            critical=critical,
            forever=forever,
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
