"""The synchronous entry point: run a scheduler from plain (non-async) code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ._core._exceptions import InvalidOptionError, JobDefinitionError, require

if TYPE_CHECKING:
    from ._core._scheduler import Scheduler

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
    instead.

    Args:
        scheduler: the scheduler to run.
        backend: ``"asyncio"`` or ``"trio"``.
        backend_options: passed to :func:`anyio.run` (e.g. ``{"clock": MockClock()}``
            for trio).
        progress: show the run live (see :class:`jobgraph.Progress`).

    Returns:
        True if the run succeeded (see :meth:`Scheduler.run`), False otherwise.

    Raises:
        CycleError: raised by :meth:`Scheduler.run` before anything runs, like
            :class:`~jobgraph.UnknownRequirementError` and
            :class:`~jobgraph.RunStateError`.
        JobDefinitionError: ``scheduler`` is not a :class:`~jobgraph.Scheduler`.
        InvalidOptionError: ``backend`` is neither ``"asyncio"`` nor ``"trio"``.
        MissingDependencyError: ``backend="trio"`` without trio installed
            (``pip install 'jobgraph[trio]'``), or ``progress=True`` without rich
            (``pip install 'jobgraph[progress]'``).

    Cancellation:
        Nothing outside can cancel a synchronous call: it returns when the run ends
        (the scheduler's ``timeout`` bounds it). A ``KeyboardInterrupt`` reaches the
        run as :func:`anyio.run` delivers it on the chosen backend.
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
    if progress:
        from .views import Progress

        with Progress(scheduler):
            return anyio.run(scheduler.run, backend=backend, backend_options=backend_options)
    return anyio.run(scheduler.run, backend=backend, backend_options=backend_options)
