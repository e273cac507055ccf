"""What a drawn job does when it runs, and the notes it leaves while doing it.

A behaviour is plain data (a frozen dataclass), so hypothesis can draw it, print it
and shrink it. :func:`make_body` turns one into the async callable a
:class:`~jobgraph.Job` runs; the body writes :class:`Observation` entries into a
:class:`Recorder` (entered, ready, returned, raised, cancelled, exited), which the
oracle compares with the engine's own events.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from jobgraph._job import TaskStatusLike

__all__ = [
    "Behaviour",
    "BehaviourError",
    "Flaky",
    "Hang",
    "Observation",
    "Raise",
    "Recorder",
    "Return",
    "Serve",
    "Stubborn",
    "make_body",
]


class BehaviourError(Exception):
    """What a drawn job raises on purpose; it names the job and the attempt."""

    def __init__(self, job: str, attempt: int) -> None:
        self.job = job
        self.attempt = attempt
        super().__init__(f"job {job!r} failed on purpose (attempt {attempt})")


@dataclass(frozen=True, slots=True)
class Observation:
    """One note left by a running body; ``seq`` orders notes and engine events together."""

    seq: int
    time: float
    job: str
    what: str  # enter, ready, return, raise, cancelled, exit
    attempt: int


@dataclass(slots=True)
class Recorder:
    """Collects the observations of every body of one run, in order.

    ``seq`` is shared with the runner's event subscriber, so that notes and engine
    events of the same run can be put in one total order.
    """

    seq: itertools.count[int] = field(default_factory=itertools.count)
    notes: list[Observation] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    open_bodies: int = 0

    def enter(self, job: str) -> int:
        attempt = self.attempts.get(job, 0) + 1
        self.attempts[job] = attempt
        self.open_bodies += 1
        self.note(job, "enter", attempt)
        return attempt

    def leave(self, job: str, attempt: int) -> None:
        self.open_bodies -= 1
        self.note(job, "exit", attempt)

    def note(self, job: str, what: str, attempt: int) -> None:
        self.notes.append(Observation(next(self.seq), anyio.current_time(), job, what, attempt))


class Behaviour:
    """Base of the drawn behaviours. ``forever`` says whether it suits a forever job."""

    __slots__ = ()
    forever: bool = False

    def can_fail(self) -> bool:
        """True if the body may raise on its own (not counting timeouts)."""
        return False

    def value(self) -> Any:
        """What the body returns when it completes, or None if it never completes."""
        return None

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Return(Behaviour):
    """Sleep ``after`` seconds, then return ``result``."""

    after: float = 0.0
    result: int = 0

    def value(self) -> Any:
        return self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.after)
        return self.result


@dataclass(frozen=True, slots=True)
class Raise(Behaviour):
    """Sleep ``after`` seconds, then raise :class:`BehaviourError`."""

    after: float = 0.0

    def can_fail(self) -> bool:
        return True

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.after)
        raise BehaviourError(job, attempt)


@dataclass(frozen=True, slots=True)
class Flaky(Behaviour):
    """Fail the first ``failures`` attempts (after ``after`` seconds), then return ``result``."""

    failures: int = 1
    after: float = 0.0
    result: int = 0

    def can_fail(self) -> bool:
        return True

    def value(self) -> Any:
        return self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.after)
        if attempt <= self.failures:
            raise BehaviourError(job, attempt)
        return self.result


@dataclass(frozen=True, slots=True)
class Hang(Behaviour):
    """Never return: sleep until cancelled."""

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep_forever()


@dataclass(frozen=True, slots=True)
class Stubborn(Behaviour):
    """Ignore cancellation for ``shielded`` seconds, then sleep ``after`` and return."""

    shielded: float = 0.0
    after: float = 0.0
    result: int = 0

    def value(self) -> Any:
        return self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(self.shielded)
        await anyio.sleep(self.after)
        return self.result


@dataclass(frozen=True, slots=True)
class Serve(Behaviour):
    """A forever job: get ready in ``ready_after`` seconds, then serve until cancelled.

    With ``signals_ready`` the body takes ``task_status`` and calls ``started()`` once
    ready; without it, its dependents may start as soon as it starts. With
    ``crash_after`` it raises that many seconds after being ready. When cancelled it
    cleans up for ``cleanup`` seconds, shielded.
    """

    forever = True
    ready_after: float = 0.0
    signals_ready: bool = True
    crash_after: float | None = None
    cleanup: float = 0.0

    def can_fail(self) -> bool:
        return self.crash_after is not None

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.ready_after)
        if status is not None:
            status.started()
        try:
            if self.crash_after is None:
                await anyio.sleep_forever()
            else:
                await anyio.sleep(self.crash_after)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.sleep(self.cleanup)
            raise
        raise BehaviourError(job, attempt)


def make_body(job: str, behaviour: Behaviour, recorder: Recorder) -> Callable[..., Awaitable[Any]]:
    """The async callable that performs ``behaviour`` as job ``job``, taking notes."""

    async def perform(status: TaskStatusLike | None) -> Any:
        attempt = recorder.enter(job)
        try:
            noting = None if status is None else _Noting(status, recorder, job, attempt)
            result = await behaviour.act(job, attempt, noting)
        except anyio.get_cancelled_exc_class():
            recorder.note(job, "cancelled", attempt)
            raise
        except Exception:
            recorder.note(job, "raise", attempt)
            raise
        else:
            recorder.note(job, "return", attempt)
            return result
        finally:
            recorder.leave(job, attempt)

    if isinstance(behaviour, Serve) and behaviour.signals_ready:

        async def serve(*, task_status: TaskStatusLike) -> Any:
            return await perform(task_status)

        return serve

    async def body() -> Any:
        return await perform(None)

    return body


class _Noting:
    """Wraps a task_status so that ``started()`` is noted before the engine hears it."""

    __slots__ = ("attempt", "job", "recorder", "status")

    def __init__(self, status: TaskStatusLike, recorder: Recorder, job: str, attempt: int) -> None:
        self.status = status
        self.recorder = recorder
        self.job = job
        self.attempt = attempt

    def started(self, value: object = None) -> None:
        self.recorder.note(self.job, "ready", self.attempt)
        self.status.started(value)
