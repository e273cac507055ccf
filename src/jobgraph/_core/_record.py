"""Per-run records: what happened to a job during one run of its scheduler.

A job describes work; its :class:`JobRecord` says what became of it. A scheduler makes
fresh records for all its jobs when the job is added and on :meth:`Scheduler.reset`,
so the description itself is never changed by running it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ._job import AbstractJob

__all__ = ["Attempt", "JobRecord", "JobState"]


class JobState(StrEnum):
    """Where a job is in its lifecycle: idle → scheduled → running → done (or skipped).

    ``SCHEDULED`` means every requirement is done and the job waits for a slot in its
    scheduler's ``jobs_window``. ``SKIPPED`` is for a job whose requirement failed and
    whose policy is ``on_failed_requirement="skip"``: it never ran.
    """

    IDLE = "idle"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"


class Attempt(NamedTuple):
    """One attempt of a job with a retry policy: when it started, when it failed and
    what it raised. The last attempt's ``ended_at`` is None unless it failed: it ends
    with the job (:attr:`JobRecord.ended_at`)."""

    started_at: float
    ended_at: float | None
    exception: BaseException | None


class JobRecord:
    """The outcome of one job in one run. Times come from the event loop's clock.

    The engine writes it; read it through :attr:`AbstractJob.record` (or
    :func:`~jobgraph.lowlevel.record_of`). A new run starts a fresh record.

    Attributes:
        state: where the job is (:class:`JobState`).
        result: what the job returned (None until it did).
        exception: what it raised, timeouts included (None if nothing).
        cancelled: True if the job was cancelled while it ran.
        scheduled_at: when every requirement was done.
        started_at: when its body started.
        ended_at: when it ended, whatever the way.
        attempts: how many times its body started.
        attempt_log: for a job with a retry policy, each :class:`Attempt`; else None.
        worker: where an executor ran the body (a thread, ``"pid 1234"``, a cluster
            worker's address); None in the event loop.
    """

    __slots__ = (
        "attempt_log",
        "attempts",
        "cancelled",
        "ended_at",
        "exception",
        "failed_requirement",
        "pending",
        "result",
        "scheduled_at",
        "started_at",
        "state",
        "successors",
        "worker",
    )

    def __init__(self) -> None:
        self.state = JobState.IDLE
        self.result: Any = None
        self.exception: BaseException | None = None
        self.cancelled = False
        self.scheduled_at: float | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.attempts = 0
        # for a job with a retry policy: every attempt, in order (see Attempt)
        self.attempt_log: list[Attempt] | None = None
        # where the body ran, when an executor ran it away from the event loop (a
        # thread, "pid 1234", a Dask worker's address); None: in the event loop
        self.worker: str | None = None
        # run-time bookkeeping of the scheduler: requirements not yet done, and the
        # jobs to notify when this one is; dropped when the run ends
        self.pending = 0
        self.failed_requirement = False
        self.successors: list[AbstractJob] | None = None

    @property
    def failed(self) -> bool:
        """True when the job ended by raising (timeouts included)."""
        return self.exception is not None

    @property
    def succeeded(self) -> bool:
        """True when the job ran to completion without raising and was not cancelled."""
        return self.state is JobState.DONE and self.exception is None and not self.cancelled

    @property
    def outcome(self) -> str:
        """One word: ``ok``, ``failed``, ``cancelled``, ``skipped``, ``running``,
        ``scheduled`` or ``idle`` (the last three: never finished in that run)."""
        if self.state is JobState.DONE:
            if self.exception is not None:
                return "failed"
            return "cancelled" if self.cancelled else "ok"
        return self.state.value

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None if the job has not both started and ended."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def __repr__(self) -> str:
        return f"<JobRecord {self.outcome} attempts={self.attempts}>"
