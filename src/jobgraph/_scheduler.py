"""The scheduler, and the run loop that executes one scheduler run.

One run is one anyio task group inside one cancel scope. The scopes are the features:

- ``run.scope``: the whole run; its deadline is the scheduler's global ``timeout``, and
  cancelling it is the critical abort;
- ``run.daemons.cancel_scope``: the task group that holds forever jobs, cancelled once
  every finite job is done;
- a per-job scope, only for jobs that have a ``timeout``.

Jobs do not each get a task. Ready jobs wait in a queue and an elastic pool of worker
tasks takes them: a worker about to run a job starts one spare worker if jobs remain
queued, so a job that blocks hands the queue to the spare, while jobs that finish
without blocking run back to back on one worker (with a checkpoint every
``_STREAK`` jobs, for fairness). The window is the number of workers allowed to hold a
job at once, so a failing job gives its slot back simply by returning. Readiness is
in-degree counting: each job's record holds its number of unmet requirements and the
list of jobs to notify, so a run costs O(jobs + edges). Forever jobs get a task each in
the daemon task group, since they block by definition.
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import anyio
import anyio.abc
import anyio.lowlevel

from ._events import EventKind, JobEvent, Subscriber, deliver
from ._exceptions import (
    CriticalJobError,
    InvalidOptionError,
    JobDefinitionError,
    JobTimeoutError,
    OwnershipError,
    RunStateError,
    SchedulerTimeoutError,
    UnknownRequirementError,
)
from ._graph import GraphMixin
from ._job import AbstractJob, Requirement, Schedulable, TaskStatusLike, flatten_schedulables
from ._policy import OnFailedRequirement, Retry, _check_duration
from ._report import SchedulerViewsMixin
from ._run import JobRecord, JobState

__all__ = ["Scheduler"]

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


def _backend_clock() -> tuple[Callable[[], float], Callable[[], float]]:
    """The running backend's ``current_time`` and ``current_effective_deadline``.

    anyio's public functions find the backend on every call, which costs about as much
    as running a no-op job; a run looks it up once. Falls back to the public functions
    if anyio's internals ever move.
    """
    try:
        from anyio._core._eventloop import get_async_backend

        backend = get_async_backend()
        clock, deadline = backend.current_time, backend.current_effective_deadline
        clock()
        deadline()
    except Exception:  # noqa: BLE001 - any change in anyio's internals: stay correct
        return anyio.current_time, anyio.current_effective_deadline
    return clock, deadline


class _Ignored:
    """The task_status given to finite jobs: there is nobody to tell."""

    __slots__ = ()

    def started(self, value: object = None) -> None:
        del value


_IGNORED = _Ignored()


class _Ready:
    """The task_status given to a forever job: ``started()`` releases its dependents."""

    __slots__ = ("job", "run")

    def __init__(self, run: _Run, job: AbstractJob) -> None:
        self.run = run
        self.job = job

    def started(self, value: object = None) -> None:
        del value
        run = self.run
        if self.job._record.pending != -1 and not run.stopping:
            if run.subscribers:
                run.emit(EventKind.READY, self.job)
            run.release(self.job, failed=False, kick=True)


class _Run:
    """The state of one scheduler run; dropped when the run ends."""

    __slots__ = (
        "cancelled_exc",
        "daemons",
        "deadline",
        "done",
        "failure",
        "finite_left",
        "forever_left",
        "interrupt",
        "live",
        "now",
        "origin",
        "quiet",
        "ready",
        "running",
        "scheduler",
        "scope",
        "spare",
        "stopping",
        "subscribers",
        "tg",
        "window",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        subscribers: tuple[Subscriber, ...],
        origin: float | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.subscribers = subscribers
        self.window: int | None = scheduler.jobs_window
        self.ready: deque[AbstractJob] = deque()
        self.running = 0  # finite jobs holding a window slot
        self.spare = 0  # workers started that have not yet taken a job
        self.live = 0  # job bodies running (finite and forever)
        self.finite_left = 0
        self.forever_left = 0
        self.stopping = False
        self.failure: BaseException | None = None
        self.interrupt: BaseException | None = None  # KeyboardInterrupt, SystemExit
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
        deliver(self.subscribers, event)

    # -- readiness ---------------------------------------------------------------
    def dispatch_initial(self) -> None:
        """Queue the jobs without requirements (the scheduler is prepared)."""
        finite = forever = 0
        roots = []
        for job in self.scheduler._jobs:
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
        if record.failed_requirement and job.on_failed_requirement is _SKIP:
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
            if job.retry is None and job._timeout is None:
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

    async def attempts(self, job: AbstractJob, record: JobRecord, status: TaskStatusLike) -> Any:
        """Run the job with its per-attempt timeout and its retry policy."""
        retry = job.retry
        timeout = job._timeout
        previous_delay = 0.0
        while True:
            record.attempts += 1
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
            with anyio.move_on_after(self.scheduler.shutdown_timeout):
                await self.quiet.wait()
        if self.live:
            stragglers = [job for job in self.scheduler._jobs if job._record.state is _RUNNING]
            self.scheduler._stragglers = tuple(stragglers)
            for job in stragglers:
                logger.warning(
                    "job %r in scheduler %r ignores cancellation %gs after it was asked to stop",
                    job.label,
                    self.scheduler.label,
                    self.scheduler.shutdown_timeout,
                )
                if self.subscribers:
                    self.emit(EventKind.STRAGGLING, job)

    async def host_daemons(self, *, task_status: anyio.abc.TaskStatus[anyio.abc.TaskGroup]) -> None:
        async with anyio.create_task_group() as daemons:
            task_status.started(daemons)
            await anyio.sleep_forever()

    async def orchestrate(self) -> None:
        scheduler = self.scheduler
        with anyio.CancelScope() as scope:
            self.scope = scope
            if scheduler.timeout is not None:
                scope.deadline = anyio.current_time() + scheduler.timeout
            async with anyio.create_task_group() as tg:
                self.tg = tg
                try:
                    if any(job.forever for job in scheduler._jobs):
                        self.daemons = await tg.start(self.host_daemons)
                    self.dispatch_initial()
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
            assert scheduler.timeout is not None
            self.failure = SchedulerTimeoutError(scheduler, scheduler.timeout)


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
        self._interrupt: BaseException | None = None
        self._running = False
        self._label = None if label is None else str(label)  # for the messages below
        self.jobs_window = jobs_window
        _check_duration(f"shutdown_timeout of scheduler {self.label!r}", shutdown_timeout)
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
        """Seconds the whole run may last; None for no limit."""
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

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        """Run as a job of another scheduler: raise on failure, so that the
        enclosing scheduler sees it (and aborts, if this scheduler is critical)."""
        del status
        if self._record.attempts > 1:  # retried: start afresh
            self._reset_jobs()
            self._prepare()
        ok = await self._orchestrate(run.subscribers + self._subscribers, run.origin)
        if not ok:
            assert self._failure is not None
            raise self._failure
        return ok

    async def _orchestrate(
        self, subscribers: tuple[Subscriber, ...], origin: float | None = None
    ) -> bool:
        run = _Run(self, subscribers, origin)
        self._failure = None
        self._stragglers = ()
        self._interrupt = None
        self._running = True
        if subscribers:
            run.emit(EventKind.RUN_STARTED, self)
        try:
            await run.orchestrate()
        except BaseExceptionGroup as group:
            # a Ctrl-C that trio delivered in the engine's own code, in a worker task
            interrupt = _interrupt_in(group)
            if interrupt is None:
                raise
            if run.interrupt is None:
                run.interrupt = interrupt
            raise interrupt from None
        finally:
            self._running = False
            if run.finite_left or run.forever_left:
                for job in self._jobs:  # drop the bookkeeping of jobs that never ended
                    job._record.successors = None
            self._failure = run.failure
            self._interrupt = run.interrupt
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
        self._interrupt = None
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
                elif job._is_scheduler and record.state is _DONE and not record.cancelled:
                    levels.append(job)  # type: ignore[arg-type]
        return failed, skipped

    def _why_interrupted(self, exc: BaseException) -> str:
        cause = type(exc).__name__
        cancelled: list[str] = []
        never_ran: list[str] = []
        for job in self.iterate_jobs():
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


def _jobs(count: int, kind: str = "") -> str:
    return f"{count} {kind}job" if count == 1 else f"{count} {kind}jobs"


def _some(names: list[str], shown: int = 10) -> str:
    """The first ``shown`` names, and how many more."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" and {len(names) - shown} more"


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
