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
    """What happened. ``RUN_STARTED`` / ``RUN_FINISHED`` concern a scheduler's run;
    ``NOTE`` is something a running job told (see :func:`jobgraph.lowlevel.emit_note`)."""

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

    ``time`` is the event loop's clock (``anyio.current_time()``); ``elapsed`` is the
    seconds since the start of the run (of the outermost scheduler, for the events of
    nested ones), which is what ``str(event)`` shows. ``exception`` is set for
    ``FAILED`` and ``RETRYING``; ``attempt`` counts tries from 1; ``delay`` is the wait
    before the next try for ``RETRYING``. ``note`` and ``data`` are set for ``NOTE``:
    what the job told (``"connecting"``...) and details (``{"host": ...}``).
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
    """Call every subscriber with the event; a failing subscriber is logged, not fatal."""
    for subscriber in subscribers:
        try:
            subscriber(event)
        except Exception:
            logger.exception("jobgraph event subscriber %r failed on %s", subscriber, event.kind)
