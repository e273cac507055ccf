"""The services that drawn :class:`~jobgraph.testing.CallService` jobs call.

Each run gets a fresh :func:`harness_pool`: three services whose methods leave notes
in the run's :class:`~jobgraph.testing.Recorder` (``call`` when a method starts for a
job's attempt, then ``served``, ``call-raised`` or ``call-cancelled``), so that the
oracle can check where and how often the service work happened.

- ``harness``: ``echo`` (sleep, return a value), ``fail`` (sleep, raise
  :class:`~jobgraph.testing.BehaviourError`) and ``secret``, whose policy refuses
  every job;
- ``serial``: ``work``, like ``echo`` but one call at a time (``concurrency = 1``);
- ``shared``: ``compute(key)``, a :class:`~jobgraph.services.DeduplicatingService`
  method, so that each key is computed once per run however many jobs ask.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

import anyio
import anyio.lowlevel

from jobgraph.services import (
    AllowAny,
    AllowCallers,
    DeduplicatingService,
    Service,
    ServicePool,
    arg_spec,
    expose,
)

from ._behaviours import BehaviourError, Recorder

__all__ = ["SHARED_DELAY", "harness_pool"]

SHARED_DELAY = 0.002
"""How long ``shared.compute(key)`` takes: ``SHARED_DELAY * (key + 1)`` seconds."""


async def _noted(
    recorder: Recorder, job: str, attempt: int, work: Callable[[], Awaitable[Any]]
) -> Any:
    recorder.note(job, "call", attempt)
    try:
        result = await work()
    except anyio.get_cancelled_exc_class():
        recorder.note(job, "call-cancelled", attempt)
        raise
    except Exception:
        recorder.note(job, "call-raised", attempt)
        raise
    recorder.note(job, "served", attempt)
    return result


async def _sleep_then(after: float, result: int) -> int:
    await anyio.sleep(after)
    return result


class HarnessService(Service):
    """Echoes, fails on purpose, or refuses: the plain calls a drawn job makes."""

    name = "harness"

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    @expose(AllowAny())
    @arg_spec(job=str, attempt=int, after=float, result=int)
    async def echo(self, job: str, attempt: int, after: float, result: int) -> int:
        return int(await _noted(self.recorder, job, attempt, lambda: _sleep_then(after, result)))

    @expose(AllowAny())
    @arg_spec(job=str, attempt=int, after=float)
    async def fail(self, job: str, attempt: int, after: float) -> None:
        async def work() -> None:
            await anyio.sleep(after)
            raise BehaviourError(job, attempt)

        await _noted(self.recorder, job, attempt, work)

    @expose(AllowCallers(["nobody"]))
    async def secret(self, job: str, attempt: int) -> None:
        await _noted(self.recorder, job, attempt, anyio.lowlevel.checkpoint)


class SerialService(Service):
    """Like ``harness.echo``, but the pool runs one call at a time."""

    name = "serial"
    concurrency = 1

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    @expose(AllowAny())
    @arg_spec(job=str, attempt=int, after=float, result=int)
    async def work(self, job: str, attempt: int, after: float, result: int) -> int:
        return int(await _noted(self.recorder, job, attempt, lambda: _sleep_then(after, result)))


class SharedService(DeduplicatingService):
    """``compute(key)`` runs once per key: concurrent and later calls share it."""

    name = "shared"

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def dedup_key(self, method: str, kwargs: Mapping[str, Any]) -> Hashable:
        return (method, kwargs.get("key"))  # who asks does not matter

    @expose(AllowAny())
    @arg_spec(job=str, attempt=int, key=int)
    async def compute(self, job: str, attempt: int, key: int) -> int:
        delay = SHARED_DELAY * (key + 1)
        return int(await _noted(self.recorder, job, attempt, lambda: _sleep_then(delay, key)))


def harness_pool(recorder: Recorder) -> ServicePool:
    """A new pool of the harness services, taking notes in ``recorder``.

    Args:
        recorder: where the services note each call.

    Returns:
        A stopped :class:`~jobgraph.services.ServicePool` labelled
        ``harness-services`` (services ``harness``, ``serial`` and ``shared``).
    """
    return ServicePool(
        [HarnessService(recorder), SerialService(recorder), SharedService(recorder)],
        stop_timeout=1.0,
        label="harness-services",
    )
