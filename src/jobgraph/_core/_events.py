"""Events the engine emits while it runs, for views that must not touch the run loop.

Subscribe with :meth:`Scheduler.subscribe`; a subscriber is a plain callable taking one
:class:`JobEvent`. It is called synchronously from the run loop, so it must be quick
and must not block; an exception it raises is logged and otherwise ignored. Subscribers
of a scheduler also receive the events of its nested schedulers. When nobody
subscribes, no event object is ever built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._job import AbstractJob

__all__ = ["EventKind", "JobEvent", "Subscriber"]

logger = logging.getLogger("jobgraph")


class EventKind(StrEnum):
    """What happened. ``RUN_STARTED`` / ``RUN_FINISHED`` concern a scheduler's run.

    The others concern one job: ``SCHEDULED`` (its requirements are done, it waits for
    a window slot), ``STARTED``, ``READY`` (it called ``task_status.started()``),
    ``RETRYING`` (an attempt failed and another follows), then one of ``FINISHED``,
    ``FAILED``, ``CANCELLED`` or ``SKIPPED`` (its requirement failed under the ``skip``
    policy). ``STRAGGLING`` is for a job still running ``shutdown_timeout`` seconds
    after it was asked to stop. ``NOTE`` is something a running job told (see
    :func:`jobgraph.lowlevel.emit_note`).
    """

    RUN_STARTED = "run_started"
    SCHEDULED = "scheduled"
    STARTED = "started"
    READY = "ready"
    RETRYING = "retrying"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    STRAGGLING = "straggling"
    NOTE = "note"
    RUN_FINISHED = "run_finished"


@dataclass(frozen=True, slots=True, repr=False)
class JobEvent:
    """One event: its kind, the job concerned, the scheduler that ran it, and when.

    Events are made by the engine; subscribers only read them. ``str(event)`` shows the
    elapsed time, kind, job and (for failures) the exception.

    Attributes:
        kind: what happened.
        job: the job concerned (the scheduler itself for ``RUN_STARTED`` /
            ``RUN_FINISHED``).
        scheduler: the scheduler that ran the job.
        time: the event loop's clock (``anyio.current_time()``).
        exception: what was raised, for ``FAILED`` and ``RETRYING``; the run's failure
            for ``RUN_FINISHED`` (None if it succeeded); else None.
        attempt: counts tries from 1.
        delay: the wait before the next try, for ``RETRYING``.
        elapsed: seconds since the start of the run (of the outermost scheduler, for
            the events of nested ones).
        note: for ``NOTE``, what the job told (``"connecting"``...); else "".
        data: for ``NOTE``, its details (``{"host": ...}``); else None.
    """

    kind: EventKind
    job: AbstractJob
    scheduler: AbstractJob
    time: float
    exception: BaseException | None = None
    attempt: int = 0
    delay: float = 0.0
    elapsed: float = 0.0
    note: str = ""
    data: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        text = f"+{self.elapsed:.3f}s {self.kind} {self.job.label!r}"
        if self.job is not self.scheduler:
            text += f" in {self.scheduler.label!r}"
        if self.kind is EventKind.RETRYING:
            text += f" (attempt {self.attempt}, next in {self.delay:g}s)"
        if self.kind is EventKind.NOTE:
            text += f": {self.note}"
            if self.data:
                text += " (" + ", ".join(f"{k}={v}" for k, v in self.data.items()) + ")"
        if self.exception is not None:
            text += f": {type(self.exception).__name__}: {self.exception}"
        return text

    def __repr__(self) -> str:
        return f"<JobEvent {self}>"


Subscriber = Callable[[JobEvent], object]


def deliver(subscribers: tuple[Subscriber, ...], event: JobEvent) -> None:
    """Call every subscriber with the event, in order.

    A subscriber that raises an :class:`Exception` is logged (logger ``jobgraph``) and
    the others are still called; nothing propagates.

    Args:
        subscribers: the callables to notify.
        event: the event to hand them.
    """
    for subscriber in subscribers:
        try:
            subscriber(event)
        except Exception:
            logger.exception("jobgraph event subscriber %r failed on %s", subscriber, event.kind)
