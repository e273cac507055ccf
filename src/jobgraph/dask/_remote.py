"""What runs on a Dask worker: a job's body, the interruption of a cancelled one, and
the messages a task sends its controller while it runs.

A task of jobgraph records the thread that runs it; when the controller cancels the job
(its timeout, an abort), :func:`interrupt` raises :class:`Interrupted` in that thread,
so that a busy pure-Python body stops and the worker is free again (a body blocked in C
code stops when it returns to Python).

Messages travel as Dask events (``Worker.log_event`` on a topic the controller's client
subscribed to): they ride the worker's and the scheduler's batched streams, with no
request of their own. Three kinds, each a list whose first item says which:

- ``["r", [[key, where, ok, pickled], ...]]``: outcomes of tasks that pickle small
  (``INLINE_LIMIT``), the controller need not fetch them; those that end while the
  worker's loop is busy go together;
- ``["s", where, keys]``: tasks still running ``START_DELAY`` seconds after they started
  on this worker (a task that ended sooner is never named: its outcome says where);
- ``["e", stream, where, origin, pickled]``: events of a shard's inner run (see
  ``_shard.py``).
"""

from __future__ import annotations

import ctypes
import pickle
import threading
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from jobgraph.lowlevel import call_body

__all__ = [
    "INLINE_LIMIT",
    "START_DELAY",
    "Interrupted",
    "Remote",
    "current_worker",
    "interrupt",
    "run_on_worker",
    "send",
]

INLINE_LIMIT = 4096  # bytes: a pickled outcome up to this size travels as an event
START_DELAY = 0.05  # seconds a task runs before its worker names it to the controller

_lock = threading.Lock()
_threads: dict[str, int] = {}  # task key -> ident of the thread running it
_starting: dict[str, tuple[str, str]] = {}  # task key -> (topic, worker), to announce
_announcing = False  # a flush of _starting is due
_outcomes: dict[str, list[list[Any]]] = {}  # topic -> small outcomes to send
_sending = False  # a flush of _outcomes is due


class Interrupted(BaseException):
    """Raised in a task's thread when the controller cancelled its job."""


def current_worker() -> str:
    """The address of the Dask worker running the caller, or "local"."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except ValueError:  # not on a worker (a test calls it directly)
        return "local"


def send(topic: str | None, message: list[Any]) -> bool:
    """Send ``message`` to the controller subscribed to ``topic`` (False: not on a
    worker, or no topic). Safe from any thread of the worker."""
    if topic is None:
        return False
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        return False
    worker.log_event(topic, message)
    return True


def _announce_later(topic: str, key: str, where: str) -> None:
    """Name the task to the controller if it still runs in ``START_DELAY`` seconds."""
    global _announcing
    with _lock:
        _starting[key] = (topic, where)
        if _announcing:
            return
        _announcing = True
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        with _lock:
            _announcing = False
        return
    worker.loop.add_callback(worker.loop.call_later, START_DELAY, _announce)


def _announce() -> None:
    """In the worker's loop: name the tasks that are still running."""
    global _announcing
    with _lock:
        due = dict(_starting)
        _starting.clear()
        _announcing = False
    grouped: dict[tuple[str, str], list[str]] = {}
    for key, (topic, where) in due.items():
        grouped.setdefault((topic, where), []).append(key)
    for (topic, where), keys in grouped.items():
        send(topic, ["s", where, keys])


def _send_outcome(topic: str, outcome: list[Any]) -> None:
    """Send a small outcome with those that end before the worker's loop sends it."""
    global _sending
    with _lock:
        _outcomes.setdefault(topic, []).append(outcome)
        if _sending:
            return
        _sending = True
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        with _lock:
            _outcomes.clear()
            _sending = False
        return
    # queued before the task returns: sent before the worker reports the task done
    worker.loop.add_callback(_send_outcomes)


def _send_outcomes() -> None:
    """In the worker's loop: send the small outcomes waiting."""
    global _sending
    with _lock:
        due = dict(_outcomes)
        _outcomes.clear()
        _sending = False
    for topic, outcomes in due.items():
        send(topic, ["r", outcomes])


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
    payload: bytes,
    backend: str,
    key: str,
    inputs: Sequence[tuple[str, bool, Any]] = (),
    topic: str | None = None,
) -> tuple[str, bool, Any]:
    """Run a pickled call; return (worker address, succeeded, result or exception).

    ``inputs`` are the outcomes of earlier tasks whose results the call's arguments use
    (:class:`Remote` markers), which Dask brings here from the workers that hold them.
    With a ``topic``, the task tells the controller where it runs (if it lasts) and
    sends a small outcome as an event, ahead of Dask's own report.
    """
    where = current_worker()
    with _lock:
        _threads[key] = threading.get_ident()
    try:
        try:
            if topic is not None:
                _announce_later(topic, key, where)
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
                _starting.pop(key, None)
    except Interrupted:
        return where, False, None  # nobody waits for it any more
    if topic is not None:
        try:
            pickled = cloudpickle.dumps(outcome[2])
        except Exception:  # noqa: BLE001, S110 - Dask's own report will say it
            pass
        else:
            if len(pickled) <= INLINE_LIMIT:
                _send_outcome(topic, [key, where, outcome[1], pickled])
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
