"""Small helpers of the run loop: the backend's clock, looked up once per run, and the
``task_status`` objects given to jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ._events import EventKind

if TYPE_CHECKING:
    from ._job import AbstractJob
    from ._run import _Run

__all__ = ["_IGNORED", "_Ready", "_backend_clock"]


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
