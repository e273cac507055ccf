"""The synchronous entry point: run a scheduler from plain (non-async) code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from ._exceptions import InvalidOptionError, JobDefinitionError, RunStateError

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = ["run"]

_BACKENDS = ("asyncio", "trio")


def run(
    scheduler: Scheduler,
    *,
    backend: str = "asyncio",
    backend_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> bool:
    """Run ``scheduler`` in a new event loop of ``backend`` and return its outcome.

    This mirrors :func:`anyio.run`; inside async code, ``await scheduler.run()``
    instead. Returns True if the run succeeded (see :meth:`Scheduler.run`).
    ``progress=True`` shows the run live (see :class:`jobgraph.Progress`).
    """
    from ._scheduler import Scheduler

    if not isinstance(scheduler, Scheduler):
        raise JobDefinitionError(
            f"jobgraph.run() takes a Scheduler, not {scheduler!r}; wrap jobs in Scheduler(...)"
        )
    if backend not in _BACKENDS:
        raise InvalidOptionError(f"backend must be one of {_BACKENDS}, not {backend!r}")
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
    if progress:
        from ._progress import Progress

        with Progress(scheduler):
            return _run(scheduler, backend, backend_options)
    return _run(scheduler, backend, backend_options)


def _run(scheduler: Scheduler, backend: str, backend_options: dict[str, Any] | None) -> bool:
    try:
        return anyio.run(scheduler.run, backend=backend, backend_options=backend_options)
    except KeyboardInterrupt as exc:
        # under asyncio, Ctrl-C cancels the run and only then becomes this exception
        scheduler._interrupted_by(exc)
        raise
