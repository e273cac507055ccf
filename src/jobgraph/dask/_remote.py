"""What runs on a Dask worker: a job's body, and the interruption of a cancelled one.

A task of jobgraph records the thread that runs it; when the controller cancels the job
(its timeout, an abort), :func:`interrupt` raises :class:`Interrupted` in that thread,
so that a busy pure-Python body stops and the worker is free again (a body blocked in C
code stops when it returns to Python).
"""

from __future__ import annotations

import ctypes
import pickle
import threading
from collections.abc import Callable, Sequence
from typing import Any

from jobgraph.lowlevel import call_body

__all__ = ["Interrupted", "Remote", "current_worker", "interrupt", "run_on_worker"]

_lock = threading.Lock()
_threads: dict[str, int] = {}  # task key -> ident of the thread running it


class Interrupted(BaseException):
    """Raised in a task's thread when the controller cancelled its job."""


def current_worker() -> str:
    """The address of the Dask worker running the caller, or "local"."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:  # not on a worker (a test calls it directly)
        return "local"


class Remote:
    """In a call's arguments: the result of an earlier task, passed along by Dask from
    worker to worker (``index`` into the task's extra inputs), then ``transform``."""

    __slots__ = ("index", "transform")

    def __init__(self, index: int, transform: Callable[[Any], Any] | None) -> None:
        self.index = index
        self.transform = transform


def _fill(value: Any, inputs: Sequence[tuple[str, bool, Any]]) -> Any:
    if isinstance(value, Remote):
        result = inputs[value.index][2]
        return result if value.transform is None else value.transform(result)
    if isinstance(value, dict):
        return type(value)((_fill(k, inputs), _fill(v, inputs)) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        items = [_fill(item, inputs) for item in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)(*items)
        return type(value)(items)
    return value


def run_on_worker(
    payload: bytes, backend: str, key: str, inputs: Sequence[tuple[str, bool, Any]] = ()
) -> tuple[str, bool, Any]:
    """Run a pickled call; return (worker address, succeeded, result or exception).

    ``inputs`` are the outcomes of earlier tasks whose results the call's arguments use
    (:class:`Remote` markers), which Dask brings here from the workers that hold them.
    """
    where = current_worker()
    with _lock:
        _threads[key] = threading.get_ident()
    try:
        try:
            function, args, kwargs = pickle.loads(payload)  # noqa: S301 - from our controller
            if inputs:
                args, kwargs = _fill(args, inputs), _fill(kwargs, inputs)
            value = call_body(function, args, kwargs, backend)
        except Exception as exc:  # noqa: BLE001 - the job's failure travels back
            outcome: tuple[str, bool, Any] = (where, False, exc)
        else:
            outcome = (where, True, value)
        finally:
            with _lock:
                _threads.pop(key, None)
    except Interrupted:
        return where, False, None  # nobody waits for it any more
    return outcome


def interrupt(key: str) -> bool:
    """Raise :class:`Interrupted` in the thread running task ``key``, if it runs here."""
    with _lock:
        ident = _threads.pop(key, None)
        if ident is None:
            return False
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(Interrupted)
        )
    return True
