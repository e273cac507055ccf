"""The synchronous entry point: run a scheduler from plain (non-async) code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from ._core._exceptions import InvalidOptionError, JobDefinitionError, RunStateError, require

if TYPE_CHECKING:
    import os
    from collections.abc import Awaitable, Callable

    from ._core._journal import Journal
    from ._core._scheduler import Scheduler

__all__ = ["run"]

_BACKENDS = ("asyncio", "trio")


def run(
    scheduler: Scheduler,
    *,
    backend: str = "asyncio",
    backend_options: dict[str, Any] | None = None,
    progress: bool = False,
    journal: Journal | str | os.PathLike[str] | None = None,
    resume: bool | int = False,
) -> bool:
    """Run ``scheduler`` in a new event loop of ``backend`` and return its outcome.

    This mirrors :func:`anyio.run`; inside async code, ``await scheduler.run()``
    instead.

    Args:
        scheduler: the scheduler to run.
        backend: ``"asyncio"`` or ``"trio"``.
        backend_options: passed to :func:`anyio.run` (e.g. ``{"clock": MockClock()}``
            for trio).
        progress: show the run live (see :class:`jobgraph.Progress`).
        journal: record the run in this journal file (a path or a
            :class:`~jobgraph.Journal`); see :meth:`Scheduler.run`.
        resume: with a journal, restore what succeeded last time instead of running it
            again (True: the latest run of the same pipeline; an int: that run id).

    Returns:
        True if the run succeeded (see :meth:`Scheduler.run`), False otherwise.

    Raises:
        CycleError: raised by :meth:`Scheduler.run` before anything runs, like
            :class:`~jobgraph.UnknownRequirementError` and
            :class:`~jobgraph.RunStateError`.
        JobDefinitionError: ``scheduler`` is not a :class:`~jobgraph.Scheduler`.
        InvalidOptionError: ``backend`` is neither ``"asyncio"`` nor ``"trio"``.
        RunStateError: an event loop already runs in this thread (inside async code,
            ``await scheduler.run()``).
        JournalError: the journal cannot be used (see :meth:`Scheduler.run`).
        MissingDependencyError: ``backend="trio"`` without trio installed
            (``pip install 'jobgraph[trio]'``), or ``progress=True`` without rich
            (``pip install 'jobgraph[progress]'``).

    Cancellation:
        Nothing outside can cancel a synchronous call: it returns when the run ends
        (the scheduler's ``timeout`` bounds it).
        A ``KeyboardInterrupt`` (Ctrl-C), or a ``SystemExit`` raised by a job, cancels
        the running jobs, waits for them (at most ``shutdown_timeout``), then propagates
        as itself, on both backends; :meth:`Scheduler.why` then says the run was
        interrupted.
    """
    from ._core._scheduler import Scheduler

    if not isinstance(scheduler, Scheduler):
        raise JobDefinitionError(
            f"jobgraph.run() takes a Scheduler, not {scheduler!r}; wrap jobs in Scheduler(...)"
        )
    if backend not in _BACKENDS:
        raise InvalidOptionError(f"backend must be one of {_BACKENDS}, not {backend!r}")
    if backend == "trio":
        require("trio", 'jobgraph.run(..., backend="trio")', "trio")
    try:
        running = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        pass
    else:
        raise RunStateError(
            f"jobgraph.run() starts an event loop, but {running} is already running in this "
            f"thread: inside async code, use 'await scheduler.run()' to run scheduler "
            f"{scheduler.label!r}"
        )
    if journal is None and not resume:
        main: Callable[[], Awaitable[bool]] = scheduler.run
    else:

        async def main() -> bool:
            return await Scheduler.run(scheduler, journal=journal, resume=resume)

    if progress:
        from .views import Progress

        with Progress(scheduler):
            return _run(scheduler, main, backend, backend_options)
    return _run(scheduler, main, backend, backend_options)


def _run(
    scheduler: Scheduler,
    main: Callable[[], Awaitable[bool]],
    backend: str,
    backend_options: dict[str, Any] | None,
) -> bool:
    try:
        return anyio.run(main, backend=backend, backend_options=backend_options)
    except KeyboardInterrupt as exc:
        # under asyncio, Ctrl-C cancels the run and only then becomes this exception
        scheduler._interrupted_by(exc)
        raise
