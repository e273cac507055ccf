"""Reaching an asyncio-based client (Dask's) from any anyio backend.

Under asyncio the client lives in the run's own event loop and coroutines are simply
awaited. Under trio, a dedicated asyncio loop runs in a daemon thread: coroutines are
handed to it with :func:`asyncio.run_coroutine_threadsafe`, and the trio task sleeps
until a done-callback wakes it through trio's token (no thread blocks per call).
Cancelling the trio task cancels the coroutine in the asyncio loop, and the trio task
does not wait for it to wind down.

This is the one module of ``jobgraph.dask`` that imports asyncio and trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import sniffio

T = TypeVar("T")

__all__ = ["Portal", "open_portal"]


class Portal:
    """Runs coroutine functions in the loop where the client lives."""

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Stop the loop, if the portal runs one."""


class _SameLoop(Portal):
    """asyncio: the client shares the run's loop."""

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await function(*args)


class _LoopThread(Portal):
    """trio: an asyncio loop in a daemon thread."""

    def __init__(self) -> None:
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

    async def aclose(self) -> None:
        import trio

        self.loop.call_soon_threadsafe(self.loop.stop)
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._thread.join, 5)
        if not self._thread.is_alive():
            self.loop.close()


def open_portal() -> Portal:
    """A portal for the running backend."""
    backend = sniffio.current_async_library()
    if backend == "asyncio":
        return _SameLoop()
    if backend == "trio":
        return _LoopThread()
    raise RuntimeError(f"jobgraph.dask runs under asyncio or trio, not {backend}")
