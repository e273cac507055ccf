"""Reaching an asyncio-based client (Dask's) from any anyio backend.

Under asyncio the client lives in the run's own event loop: coroutines are simply
awaited and posted calls are plain calls. Under trio, a dedicated asyncio loop runs in a
daemon thread. :meth:`Portal.run` hands it a coroutine
(:func:`asyncio.run_coroutine_threadsafe`) and the trio task sleeps until a
done-callback wakes it through trio's token (no thread blocks); cancelling the trio task
cancels the coroutine, and the trio task does not wait for it to wind down. That costs
two thread hops per call, so the busy path does not use it: :meth:`Portal.post` and
:meth:`Portal.post_back` queue plain calls for the other side, and one hop carries
every call queued meanwhile (a thousand jobs submitted at once cost a few hops, not a
thousand).

This is the one module of ``jobgraph.dask`` that imports asyncio and trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import sniffio

T = TypeVar("T")

__all__ = ["Portal", "open_portal"]

logger = logging.getLogger("jobgraph.dask")


class Portal:
    """Runs code in the loop where the client lives, and back in the run's."""

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    def post(self, function: Callable[[T], object], arg: T) -> None:
        """Call ``function(arg)`` soon in the client's loop (from the run's)."""
        function(arg)

    def post_back(self, function: Callable[[T], object], arg: T) -> None:
        """Call ``function(arg)`` soon in the run's loop (from the client's)."""
        function(arg)

    async def aclose(self) -> None:
        """Stop the loop, if the portal runs one."""


class _SameLoop(Portal):
    """asyncio: the client shares the run's loop."""

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await function(*args)


class _LoopThread(Portal):
    """trio: an asyncio loop in a daemon thread."""

    def __init__(self) -> None:
        import trio

        self._token = trio.lowlevel.current_trio_token()
        # calls queued for the other side, and whether a hop to drain them is on its way
        self._out: deque[tuple[Callable[[Any], object], Any]] = deque()
        self._out_due = False
        self._in: deque[tuple[Callable[[Any], object], Any]] = deque()
        self._in_due = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="jobgraph-dask-asyncio", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        import trio

        async def wrapped() -> T:
            return await function(*args)

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: Future[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):  # the run is gone: nobody to wake
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()  # cancels the coroutine in the asyncio loop; not waited for
            raise
        return future.result()

    # Each side appends, then asks for a hop unless one is due; the drainer clears the
    # flag before draining. An item appended while a drain runs is either drained by it
    # or finds the flag cleared and asks for another hop: none is left behind.
    def post(self, function: Callable[[T], object], arg: T) -> None:
        self._out.append((function, arg))
        if not self._out_due:
            self._out_due = True
            self.loop.call_soon_threadsafe(self._drain_out)

    def post_back(self, function: Callable[[T], object], arg: T) -> None:
        # called in the asyncio loop: the hop waits for the end of this turn of it, so
        # that all the outcomes of a message from the scheduler go together
        self._in.append((function, arg))
        if not self._in_due:
            self._in_due = True
            self.loop.call_soon(self._hop_back)

    def _hop_back(self) -> None:
        import trio

        with contextlib.suppress(trio.RunFinishedError):  # the run is gone
            self._token.run_sync_soon(self._drain_in)

    def _drain_out(self) -> None:
        self._out_due = False
        _drain(self._out)

    def _drain_in(self) -> None:
        self._in_due = False
        _drain(self._in)

    async def aclose(self) -> None:
        import trio

        self.loop.call_soon_threadsafe(self.loop.stop)
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._thread.join, 5)
        if not self._thread.is_alive():
            self.loop.close()


def _drain(queue: deque[tuple[Callable[[Any], object], Any]]) -> None:
    while queue:
        function, arg = queue.popleft()
        try:
            function(arg)
        except Exception:
            logger.exception("jobgraph.dask: %r failed", function)


def open_portal() -> Portal:
    """A portal for the running backend."""
    backend = sniffio.current_async_library()
    if backend == "asyncio":
        return _SameLoop()
    if backend == "trio":
        return _LoopThread()
    raise RuntimeError(f"jobgraph.dask runs under asyncio or trio, not {backend}")
