"""The fence between anyio code and asyncssh, which runs on asyncio only.

:func:`call` runs an asyncio coroutine function from any anyio backend:

- under asyncio, it is awaited directly, in the running loop, unless its first
  argument (a node) has a true ``background_loop`` attribute: then it runs on the
  background loop below, as under trio (the apssh compat nodes do that, so that their
  connections outlive the event loop of a synchronous run, as apssh's do);
- under trio, it runs on a dedicated asyncio event loop in a background daemon
  thread (one per process, started on first use, stopped at exit). The trio task
  waits without holding a worker thread (the future's done callback wakes it
  through the trio token); if the trio side is cancelled, the asyncio task is
  cancelled too, and the caller waits (shielded, at most :data:`SETTLE_TIMEOUT`
  seconds) for it to settle, so remote commands are stopped before the trio scope
  exits.

This module is the only place that imports trio. asyncio and asyncssh are imported
only in its folder, ``jobgraph_ssh/_asyncssh/`` (the connection, the keys, the I/O
halves of the services' tunnel and transfer, the sandbox's hosts): the one path named in
pyproject's lint rules, and the one ``tests/ssh/test_layers.py`` allows.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sniffio

__all__ = ["SETTLE_TIMEOUT", "background_loop", "call", "running_loop", "stop_background_loop"]

T = TypeVar("T")

SETTLE_TIMEOUT = 2.0  # seconds a cancelled asyncio task gets to clean up (close channels)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's background asyncio loop, started (in a daemon thread) if needed."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    _drain(loop)
                    with contextlib.suppress(Exception):
                        loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.close()

            thread = threading.Thread(target=serve, name="jobgraph-ssh-asyncio", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a stopping loop and let it finish (bounded)."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.wait(tasks, timeout=SETTLE_TIMEOUT))


def stop_background_loop(close: Callable[[], Awaitable[None]] | None = None) -> None:
    """Stop the background loop, if started, after awaiting ``close()`` on it (bounded)."""
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
        _loop = _thread = None
    if loop is None or thread is None or not thread.is_alive():
        return
    if close is not None:
        future = asyncio.run_coroutine_threadsafe(_awaited(close), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=SETTLE_TIMEOUT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=SETTLE_TIMEOUT * 2)


async def _awaited(function: Callable[[], Awaitable[None]]) -> None:
    await function()


def background_thread() -> threading.Thread | None:
    """The background loop's thread if it runs (for tests and diagnostics)."""
    return _thread


def running_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop the caller runs in (the asyncio side of :func:`call`)."""
    return asyncio.get_running_loop()


async def call(function: Callable[..., Awaitable[T]], /, *args: Any) -> T:
    """Await ``function(*args)``, an asyncio coroutine function, from asyncio or trio."""
    if sniffio.current_async_library() == "asyncio":
        if (
            args
            and getattr(args[0], "background_loop", False)
            and asyncio.get_running_loop() is not _loop  # not there already
        ):
            return await _hand_over(function, *args)
        return await function(*args)
    return await _hand_over(function, *args)


def _waker() -> Callable[[Callable[[], object]], object]:
    """How another thread gets a callback run in the caller's event loop, soon."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    return asyncio.get_running_loop().call_soon_threadsafe


async def _hand_over(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``function(*args)`` on the background loop and wait for it without holding
    a thread; a cancelled caller cancels it there and waits (shielded, at most
    :data:`SETTLE_TIMEOUT`) for it to settle, so remote commands are stopped first."""
    import anyio

    loop = background_loop()
    wake = _waker()
    done = anyio.Event()
    tasks: list[asyncio.Task[T]] = []

    def finished(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop (or trio run) is over
            wake(done.set)

    # the caller's context variables go along, but not sniffio's "trio": on the asyncio
    # side, anyio and nested calls must see asyncio
    context = contextvars.copy_context()
    context.run(sniffio.current_async_library_cvar.set, None)

    def start() -> None:
        task = loop.create_task(_as_coroutine(function, *args), context=context)
        tasks.append(task)
        task.add_done_callback(finished)

    def cancel() -> None:
        tasks[0].cancel()  # start() ran before: callbacks run in order

    loop.call_soon_threadsafe(start)
    try:
        await done.wait()
    except BaseException:
        # wake only once the asyncio task has finished its clean-up (bounded)
        loop.call_soon_threadsafe(cancel)
        with anyio.move_on_after(SETTLE_TIMEOUT, shield=True):
            await done.wait()
        raise
    task = tasks[0]
    if task.cancelled():
        raise RuntimeError("the background asyncio loop of jobgraph_ssh stopped during a call")
    return task.result()


async def _as_coroutine(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    return await function(*args)


atexit.register(stop_background_loop)
