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
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._job import AbstractJob

__all__ = ["EventKind", "JobEvent", "Subscriber", "emit_note", "notes_of", "relay_event"]

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


def emit_note(job: AbstractJob, note: str, /, **data: Any) -> bool:
    """Tell the run that is running ``job`` something about it.

    The note is kept with the job's scheduler until its next run (:func:`notes_of`,
    the JSON report), and the run's subscribers receive a :class:`JobEvent` of kind
    ``NOTE`` with ``note`` and ``data`` (``emit_note(self, "connecting", host="h1")``),
    in the order of the other events of the run. A job kind calls it from its
    ``run()``; the engine does nothing more when nobody calls it.

    Args:
        job: the job telling (it must be running in a scheduler for the note to count).
        note: what it tells, a short word (``"connecting"``, ``"authenticated"``...).
        **data: details (``host="h1"``), passed on as the event's ``data``.

    Returns:
        Whether an event was sent (False: the job is not running in a scheduler, or
        nobody subscribes).
    """
    owner = job._owner
    scheduler = owner() if owner is not None else None
    run = scheduler._live_run if scheduler is not None else None
    if run is None:
        return False
    assert scheduler is not None
    frozen = MappingProxyType(dict(data))
    now = run.now()
    scheduler._job_notes.setdefault(job, []).append((now, str(note), frozen))
    if not run.subscribers:
        return False
    event = JobEvent(
        EventKind.NOTE,
        job,
        scheduler,
        now,
        elapsed=now - run.origin,
        note=str(note),
        data=frozen,
    )
    deliver(run.subscribers, event)
    return True


def relay_event(
    holder: AbstractJob,
    kind: EventKind,
    job: AbstractJob,
    scheduler: AbstractJob,
    when: float,
    /,
    **fields: Any,
) -> bool:
    """Deliver an event that happened away from the run, while ``holder`` runs in it.

    For job kinds that run a whole scheduler elsewhere (``jobgraph.dask.Shard`` runs
    one on a cluster worker): as the remote run reports its events, the job relays
    them, and the subscribers see the inner jobs start and end as they would for a
    nested scheduler run here. The subscribers called are those of the run that runs
    ``holder``, those of ``holder`` itself (a scheduler) and those of every scheduler
    from ``holder`` down to ``scheduler``, as for a nested run.

    Args:
        holder: the job running elsewhere (a scheduler), running in a local run.
        kind: what happened.
        job: the job concerned: ``holder``'s jobs at any depth, or a scheduler among them.
        scheduler: the scheduler that ran ``job`` (``holder`` or one nested in it).
        when: when it happened, on this run's clock (``anyio.current_time()``).
        **fields: the event's other fields (``exception``, ``attempt``, ``delay``,
            ``note``, ``data``).

    Returns:
        Whether an event was delivered (False: ``holder`` is not running in a local run,
        or nobody subscribes).
    """
    owner = holder._owner
    parent = owner() if owner is not None else None
    run = parent._live_run if parent is not None else None
    if run is None:
        return False
    subscribers = run.subscribers
    path: list[tuple[Subscriber, ...]] = []
    current: AbstractJob | None = scheduler
    while current is not None and current is not holder:
        path.append(getattr(current, "_subscribers", ()))
        up = current._owner
        current = up() if up is not None else None
    if current is None:  # not inside holder: nobody of holder's tree to tell
        return False
    subscribers += getattr(holder, "_subscribers", ())
    for more in reversed(path):
        subscribers += more
    if not subscribers:
        return False
    event = JobEvent(kind, job, scheduler, when, elapsed=when - run.origin, **fields)
    deliver(subscribers, event)
    return True


def notes_of(job: AbstractJob) -> tuple[tuple[float, str, Mapping[str, Any]], ...]:
    """What the job told in its scheduler's last run (see :func:`emit_note`).

    Args:
        job: the job whose notes to read.

    Returns:
        Tuples ``(time, note, data)``, in order; ``time`` is the event loop's clock.
        Empty when the job is in no scheduler, or its scheduler is gone.
    """
    owner = job._owner
    scheduler = owner() if owner is not None else None
    if scheduler is None:
        return ()
    return tuple(scheduler._job_notes.get(job, ()))
