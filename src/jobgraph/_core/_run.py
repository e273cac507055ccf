"""The run loop: one run of one scheduler, as one task group in a few cancel scopes.

A newcomer's map. Each feature of a run is one cancel scope, all opened in :meth:`_Run.orchestrate`
except the per-job one:

==========================  ===============================  ================================
feature                     scope                            where
==========================  ===============================  ================================
scheduler ``timeout``       ``scope`` (deadline)             ``_Run.orchestrate``
critical abort              ``scope.cancel()``               ``_Run.abort``
Ctrl-C, ``SystemExit``      ``scope.cancel()``, then raised  ``_Run.interrupted``
forever jobs                ``daemons.cancel_scope``         ``_Run.host_daemons``, cancelled
                                                             in ``_Run.orchestrate``
job ``timeout`` (attempt)   a scope per attempt              ``_Run.attempts``
``shutdown_timeout``        shielded ``move_on_after``       ``_Run.settle``
==========================  ===============================  ================================

Jobs do not each get a task. Ready jobs wait in a queue and an elastic pool of worker
tasks takes them: a worker about to run a job starts one spare worker if jobs remain
queued, so a job that blocks hands the queue to the spare, while jobs that finish
without blocking run back to back on one worker (with a checkpoint every
``_STREAK`` jobs, for fairness). The window is the number of workers allowed to hold a
job at once, so a failing job gives its slot back simply by returning. Readiness is
in-degree counting: each job's record holds its number of unmet requirements and the
list of jobs to notify (set up by :meth:`Scheduler._prepare`), so a run costs
O(jobs + edges). Forever jobs get a task each in the daemon task group, since they block
by definition.

The scheduler creates a :class:`_Run`, awaits :meth:`_Run.orchestrate`, and reads the
outcome back from the run (``failure``, ``stragglers``, ``interrupt``); the run reads
nothing of the scheduler but its options (window, run timeout, shutdown timeout).

A ``KeyboardInterrupt`` (Ctrl-C) or ``SystemExit`` that lands in a job, or in the run's
own code, cancels the run like an abort (:meth:`_Run.interrupted`); once the jobs are
cancelled and settled, :meth:`_Run.orchestrate` raises it as itself, never inside an
exception group, and keeps it in ``interrupt``.

The engine reads the fields behind the public names (``job._record``, ``job._retry``,
``job._on_failed_requirement``, ``job._owner``, ``scheduler._run_timeout``...), never the
names themselves: subclasses, the asynciojobs drop-in's above all, may own those names
(``self.record = ...``) without disturbing a run. Code outside ``_core`` reads the same
fields through the seam's functions (:func:`jobgraph.lowlevel.record_of`...).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel

from ._events import EventKind, JobEvent, Subscriber, deliver
from ._exceptions import CriticalJobError, JobTimeoutError, SchedulerTimeoutError
from ._executors import Executor
from ._job import AbstractJob, TaskStatusLike
from ._policy import OnFailedRequirement
from ._record import Attempt, JobRecord, JobState
from ._runtools import _IGNORED, _backend_clock, _Ready

if TYPE_CHECKING:
    from ._journal import _JournalRun
    from ._scheduler import Scheduler

__all__ = ["_Run"]

logger = logging.getLogger("jobgraph")

_STREAK = 256  # jobs a worker runs back to back before it yields to others
_CANCELLED = float("-inf")  # the effective deadline of a task whose scope is cancelled
_SKIP = OnFailedRequirement.SKIP
_IDLE, _SCHEDULED, _RUNNING, _DONE, _SKIPPED = (
    JobState.IDLE,
    JobState.SCHEDULED,
    JobState.RUNNING,
    JobState.DONE,
    JobState.SKIPPED,
)


class _Run:
    """The state of one scheduler run; dropped when the run ends."""

    __slots__ = (
        "cancelled_exc",
        "daemons",
        "deadline",
        "done",
        "executor",
        "failure",
        "finite_left",
        "forever_left",
        "interrupt",
        "jobs",
        "journal",
        "live",
        "now",
        "origin",
        "quiet",
        "ready",
        "running",
        "scheduler",
        "scope",
        "shutdown_timeout",
        "spare",
        "stopping",
        "stragglers",
        "subscribers",
        "tg",
        "timeout",
        "window",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        jobs: Collection[AbstractJob],
        subscribers: tuple[Subscriber, ...],
        origin: float | None = None,
        executor: Executor | None = None,
        *,
        journal: _JournalRun | None = None,
    ) -> None:
        self.scheduler = scheduler  # named in events and errors; its fields are not touched
        # where job bodies run unless a job says otherwise (None: the event loop)
        self.executor = executor
        self.jobs = jobs  # the scheduler's own jobs, prepared (see Scheduler._prepare)
        self.subscribers = subscribers
        # the run journal's writer, or None: then no journal code runs at all
        self.journal = journal
        self.window: int | None = scheduler.jobs_window
        self.timeout: float | None = scheduler._run_timeout
        self.shutdown_timeout: float | None = scheduler.shutdown_timeout
        # the outcome, read back by the scheduler when the run ends
        self.failure: BaseException | None = None
        self.stragglers: tuple[AbstractJob, ...] = ()
        self.interrupt: BaseException | None = None  # KeyboardInterrupt, SystemExit
        self.ready: deque[AbstractJob] = deque()
        self.running = 0  # finite jobs holding a window slot
        self.spare = 0  # workers started that have not yet taken a job
        self.live = 0  # job bodies running (finite and forever)
        self.finite_left = 0
        self.forever_left = 0
        self.stopping = False
        self.done = anyio.Event()
        self.quiet: anyio.Event | None = None
        self.cancelled_exc = anyio.get_cancelled_exc_class()
        self.now, self.deadline = _backend_clock()
        # when the outermost run started: events count their time from there
        self.origin = self.now() if origin is None else origin
        self.tg: anyio.abc.TaskGroup
        self.daemons: anyio.abc.TaskGroup | None = None
        self.scope: anyio.CancelScope

    def emit(self, kind: EventKind, job: AbstractJob, **fields: Any) -> None:
        now = self.now()
        event = JobEvent(kind, job, self.scheduler, now, elapsed=now - self.origin, **fields)
        try:
            deliver(self.subscribers, event)
        except (KeyboardInterrupt, SystemExit) as exc:
            # a subscriber's (rich exits this way when stdout's pipe closes), or Ctrl-C
            # landing in one: the run stops as for a job's, never from a worker task,
            # which under asyncio would stop the event loop with the run still pending
            self.interrupted(exc)

    # -- readiness ---------------------------------------------------------------
    def dispatch_initial(self) -> None:
        """Queue the jobs without requirements (the scheduler is prepared)."""
        finite = forever = 0
        roots = []
        for job in self.jobs:
            if job.forever:
                forever += 1
            else:
                finite += 1
            if job._record.pending == 0:
                roots.append(job)
        self.finite_left = finite
        self.forever_left = forever
        if not finite and not forever:
            self.done.set()
        when = self.now()
        for job in roots:
            self._make_ready(job, job._record, when)
        self.kick()

    def _make_ready(self, job: AbstractJob, record: JobRecord, when: float) -> bool:
        """A job whose requirements are all done (at time ``when``): skip it, start it
        or queue it. Returns True when the job was skipped (its dependents must then be
        released)."""
        if record.failed_requirement and job._on_failed_requirement is _SKIP:
            record.state = _SKIPPED
            record.ended_at = when
            if self.subscribers:
                self.emit(EventKind.SKIPPED, job)
            self.job_ended(job)
            return True
        if job.forever and (self.stopping or self.deadline() == _CANCELLED):
            # every finite job is done, or the run is being cancelled (its deadline
            # passed, or it was aborted) and the forever jobs' task group may already
            # be closed: too late to start a daemon
            return False
        record.state = _SCHEDULED
        record.scheduled_at = when
        if self.subscribers:
            self.emit(EventKind.SCHEDULED, job)
        if job.forever:
            assert self.daemons is not None
            self.daemons.start_soon(self.run_forever, job)
        else:
            self.ready.append(job)
        return False

    def release(self, job: AbstractJob, *, failed: bool, kick: bool = False) -> None:
        """Tell the dependents of ``job`` that it is done (or failed, or skipped).

        ``kick``: the caller is not a worker about to loop over the queue (a forever
        job, or its ``started()``), so make sure a worker takes what was queued.
        """
        record = job._record
        record.pending = -1
        successors = record.successors
        if successors is None:
            return
        record.successors = None
        # dependents became ready when this job ended (or, for a forever job, now)
        when = record.ended_at if record.ended_at is not None else self.now()
        stack: list[AbstractJob] | None = None
        while True:
            for successor in successors:
                srecord = successor._record
                if failed:
                    srecord.failed_requirement = True
                srecord.pending -= 1
                if srecord.pending == 0 and self._make_ready(successor, srecord, when):
                    # skipped: its own dependents see a failed requirement in turn
                    srecord.pending = -1
                    if srecord.successors:
                        if stack is None:
                            stack = []
                        stack.append(successor)
            if not stack:
                if kick:
                    self.kick()
                return
            skipped = stack.pop()._record
            successors = skipped.successors or []
            skipped.successors = None
            failed = True

    def job_ended(self, job: AbstractJob) -> None:
        if job.forever:
            self.forever_left -= 1
            if not self.forever_left and not self.finite_left:
                self.done.set()
        else:
            self.finite_left -= 1
            if not self.finite_left:
                self.stopping = True  # no daemon starts from now on
                self.done.set()

    def kick(self) -> None:
        """Make sure a worker will take the queued jobs, if the window allows."""
        if (
            self.ready
            and not self.spare
            and not self.stopping
            and (self.window is None or self.running < self.window)
        ):
            self.spare += 1
            self.tg.start_soon(self.worker)

    # -- execution ---------------------------------------------------------------
    async def worker(self) -> None:
        self.spare -= 1
        ready = self.ready
        window = self.window
        streak = 0
        while ready and not self.stopping:
            if window is not None and self.running >= window:
                return
            if self.deadline() == _CANCELLED:
                return  # an enclosing scope was cancelled (outer abort): start nothing
            job = ready.popleft()
            self.running += 1
            if ready and not self.spare and (window is None or self.running < window):
                self.spare += 1
                self.tg.start_soon(self.worker)
            try:
                await self.execute(job, _IGNORED)
            finally:
                self.running -= 1
            streak += 1
            if streak == _STREAK:
                streak = 0
                await anyio.lowlevel.checkpoint()

    async def run_forever(self, job: AbstractJob) -> None:
        if self.stopping or self.deadline() == _CANCELLED:
            return  # the run ended, or was cancelled, before this task got to start
        status: TaskStatusLike = _Ready(self, job) if job._accepts_status() else _IGNORED
        await self.execute(job, status)

    async def execute(self, job: AbstractJob, status: TaskStatusLike) -> None:
        record = job._record
        record.state = _RUNNING
        record.started_at = self.now()
        self.live += 1
        try:  # from here on (under trio, Ctrl-C may land in a subscriber)
            if self.subscribers:
                self.emit(EventKind.STARTED, job)
            if status is _IGNORED and job.forever:
                # nobody will say "ready": dependents may start now that it runs (after
                # its STARTED event, so that no dependent is scheduled before it started)
                self.release(job, failed=False, kick=True)
            if job._retry is None and job._timeout is None:
                record.attempts = 1
                result = await job._invoke(status, self)
            else:
                result = await self.attempts(job, record, status)
        except self.cancelled_exc:
            record.cancelled = True
            self._ended(job, record, EventKind.CANCELLED)
            raise
        except Exception as exc:  # noqa: BLE001 - a job's failure is recorded, not fatal
            record.exception = exc
            self._ended(job, record, EventKind.FAILED, exception=exc)
            if job.critical:
                self.abort(job, exc)
            else:
                self.release(job, failed=True, kick=job.forever)
        except (KeyboardInterrupt, SystemExit) as exc:
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C landed here: interrupted
                record.cancelled = True
                self._ended(job, record, EventKind.CANCELLED)
            else:  # SystemExit: the job's own doing
                record.exception = exc
                self._ended(job, record, EventKind.FAILED, exception=exc)
            # raised by the run's host task once the jobs are cancelled: raising it from
            # this task would wrap it in a group (or, under asyncio, stop the event loop
            # with the run still pending)
            self.interrupted(exc)
        except BaseException as exc:  # anything stranger: record, then let go
            record.exception = exc
            self._ended(job, record, EventKind.FAILED, exception=exc)
            raise
        else:
            record.result = result
            self._ended(job, record, EventKind.FINISHED)
            if self.journal is not None and not job.forever:
                self.journal.succeeded(self, job)  # its row, before dependents may start
            if record.pending != -1:
                self.release(job, failed=False, kick=job.forever)

    def _ended(self, job: AbstractJob, record: JobRecord, kind: EventKind, **fields: Any) -> None:
        record.state = _DONE
        record.ended_at = self.now()
        self.live -= 1
        if self.subscribers:
            self.emit(kind, job, **fields)
        if not self.live and self.quiet is not None:
            self.quiet.set()
        self.job_ended(job)

    # -- the run journal (only with one) --------------------------------------------------
    def dispatch_resumed(self, restored: set[AbstractJob]) -> None:
        """Like :meth:`dispatch_initial`, the ``restored`` jobs counting as done already
        (they are closed upstream: their requirements are restored too)."""
        finite = forever = 0
        for job in self.jobs:
            if job in restored:
                continue
            if job.forever:
                forever += 1
            else:
                finite += 1
        self.finite_left = finite
        self.forever_left = forever
        if self.subscribers:  # views count restored jobs as done
            for job in restored:
                self._announce_restored(job, self.scheduler)
        if not finite:
            # every finite job is restored: nothing for the forever jobs to serve
            self.stopping = True
            self.done.set()
            return
        for job in restored:
            record = job._record
            record.pending = -1
            for successor in record.successors or ():
                successor._record.pending -= 1
            record.successors = None
        when = self.now()
        for job in self.jobs:
            if job not in restored and job._record.pending == 0:
                self._make_ready(job, job._record, when)
        self.kick()

    def _announce_restored(self, job: AbstractJob, scheduler: Scheduler) -> None:
        """A FINISHED event for a restored job (and the jobs of a restored scheduler)."""
        if job._is_scheduler:
            for inner in job._jobs:  # type: ignore[attr-defined]
                self._announce_restored(inner, job)  # type: ignore[arg-type]
        now = self.now()
        event = JobEvent(EventKind.FINISHED, job, scheduler, now, elapsed=now - self.origin)
        deliver(self.subscribers, event)

    def journal_failed(self, exc: BaseException) -> None:
        """The journal cannot be written: the run fails (jobs are cancelled)."""
        if self.failure is None:
            self.failure = exc
        self.stopping = True
        self.scope.cancel()

    async def attempts(self, job: AbstractJob, record: JobRecord, status: TaskStatusLike) -> Any:
        """Run the job with its per-attempt timeout and its retry policy."""
        retry = job._retry
        timeout = job._timeout
        previous_delay = 0.0
        log: list[Attempt] | None = None if retry is None else []
        record.attempt_log = log
        while True:
            record.attempts += 1
            if log is not None:  # each attempt's times and exception, for the timeline
                log.append(Attempt(self.now(), None, None))
            try:
                if timeout is None:
                    return await job._invoke(status, self)
                with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
                    result = await job._invoke(status, self)
                if not scope.cancelled_caught:
                    return result
                raise JobTimeoutError(job, timeout)  # noqa: TRY301 - retried like any failure
            except self.cancelled_exc:
                raise
            except Exception as exc:
                if log is not None:
                    log[-1] = log[-1]._replace(ended_at=self.now(), exception=exc)
                if retry is None or record.attempts >= retry.attempts or not retry.retries(exc):
                    raise
                delay = max(previous_delay, retry.delay(record.attempts))
                previous_delay = delay
                if self.subscribers:
                    self.emit(
                        EventKind.RETRYING, job, exception=exc, attempt=record.attempts, delay=delay
                    )
                await anyio.sleep(delay)

    def abort(self, job: AbstractJob, exc: BaseException) -> None:
        """A critical job failed: stop starting jobs and cancel the whole run."""
        if self.failure is None:
            if isinstance(exc, CriticalJobError):  # from a nested scheduler: keep its culprit
                self.failure = exc
            else:
                self.failure = CriticalJobError(job, exc, self.scheduler)
                self.failure.__cause__ = exc
        self.stopping = True
        self.scope.cancel()

    def interrupted(self, exc: BaseException) -> None:
        """A KeyboardInterrupt or SystemExit: cancel the run, which then raises it."""
        if self.interrupt is None:
            self.interrupt = exc
        self.stopping = True
        self.scope.cancel()

    async def settle(self) -> None:
        """Wait (shielded, at most ``shutdown_timeout``) for cancelled jobs to end."""
        if not self.live:
            return
        self.quiet = anyio.Event()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self.shutdown_timeout):
                await self.quiet.wait()
        if self.live:
            self.stragglers = tuple(job for job in self.jobs if job._record.state is _RUNNING)
            for job in self.stragglers:
                logger.warning(
                    "job %r in scheduler %r ignores cancellation %gs after it was asked to stop",
                    job.label,
                    self.scheduler.label,
                    self.shutdown_timeout,
                )
                if self.subscribers:
                    self.emit(EventKind.STRAGGLING, job)

    async def host_daemons(self, *, task_status: anyio.abc.TaskStatus[anyio.abc.TaskGroup]) -> None:
        async with anyio.create_task_group() as daemons:
            task_status.started(daemons)
            await anyio.sleep_forever()

    async def orchestrate(self) -> None:
        """Run the jobs: the whole run, with every cancel scope of the module's table."""
        try:
            # the run's scope: its deadline is the scheduler's timeout, cancel() the critical abort
            with anyio.CancelScope() as scope:
                self.scope = scope
                if self.timeout is not None:
                    scope.deadline = anyio.current_time() + self.timeout
                async with anyio.create_task_group() as tg:
                    self.tg = tg
                    try:
                        if any(job.forever for job in self.jobs):
                            # the forever jobs' scope: daemons.cancel_scope
                            self.daemons = await tg.start(self.host_daemons)
                        restored = None if self.journal is None else self.journal.restored_in(self)
                        if restored is None:
                            self.dispatch_initial()
                        else:
                            self.dispatch_resumed(restored)
                        await self.done.wait()
                        self.stopping = True
                        # every finite job ended in time: winding down the forever jobs
                        # (their shielded cleanup) must not turn the run into a timeout
                        scope.deadline = float("inf")
                        if self.daemons is not None:
                            self.daemons.cancel_scope.cancel()  # the forever jobs' scope
                        await self.settle()
                    except self.cancelled_exc:
                        self.stopping = True
                        # an asyncio-native cancellation (task.cancel(), wait_for) reaches
                        # this task only: cancel the jobs now, before waiting for them
                        tg.cancel_scope.cancel()
                        await self.settle()
                        raise
                    except (KeyboardInterrupt, SystemExit) as exc:  # trio's Ctrl-C lands here
                        self.interrupted(exc)
                        tg.cancel_scope.cancel()
                        await self.settle()
                    finally:
                        if self.daemons is not None:
                            self.daemons.cancel_scope.cancel()
            if self.interrupt is not None:
                raise self.interrupt
            if self.failure is None and scope.cancelled_caught:
                assert self.timeout is not None
                self.failure = SchedulerTimeoutError(self.scheduler, self.timeout)
        except BaseExceptionGroup as group:
            # a Ctrl-C that trio delivered in the engine's own code, in a worker task
            interrupt = _interrupt_in(group)
            if interrupt is None:
                raise
            if self.interrupt is None:
                self.interrupt = interrupt
            raise interrupt from None
        finally:
            if self.journal is not None:
                self.journal.commit()  # successes not yet committed (a cancelled run)
            if self.finite_left or self.forever_left:
                for job in self.jobs:  # drop the bookkeeping of jobs that never ended
                    job._record.successors = None


def _interrupt_in(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The first KeyboardInterrupt or SystemExit in a (nested) exception group."""
    for exc in group.exceptions:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _interrupt_in(exc)
            if found is not None:
                return found
    return None
