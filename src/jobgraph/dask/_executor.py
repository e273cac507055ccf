"""DaskExecutor: job bodies as tasks of a Dask cluster."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import cloudpickle
import sniffio

from jobgraph import ExecutorError, ExecutorUnavailableError, WorkerLostError
from jobgraph.lowlevel import (
    Executor,
    JobRecord,
    ResultOf,
    check_duration,
    emit_note,
    record_of,
    resolve_placeholders,
    serialize_call,
)

from ._bridge import Portal, open_portal
from ._remote import Remote, interrupt, run_on_worker

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

    from jobgraph import AbstractJob

__all__ = ["DaskExecutor"]

logger = logging.getLogger("jobgraph.dask")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SUBMIT_DELAY = 0.002  # seconds without a new task before those waiting are submitted
_SUBMIT_MAX = 0.02  # seconds a task waits at most to be submitted with others


class _Lost:
    def __init__(self, detail: str) -> None:
        self.detail = detail


class _Call:
    """One attempt of a job on the cluster, seen from both loops."""

    __slots__ = (
        "cancelled",
        "done",
        "future",
        "inputs",
        "job",
        "key",
        "outcome",
        "payload",
        "watcher",
    )

    def __init__(
        self, job: AbstractJob, key: str, payload: bytes, inputs: list[Future[Any]]
    ) -> None:
        self.job = job
        self.key = key
        self.payload = payload
        self.inputs = inputs
        self.done = anyio.Event()  # set in the run's loop
        self.cancelled = False  # set in the run's loop
        # set in the client's loop
        self.outcome: tuple[str, bool, Any] | None = None
        self.future: Future[Any] | None = None
        self.watcher: asyncio.Future[None] | None = None


class DaskExecutor(Executor):
    """Run job bodies as tasks of a Dask (``distributed``) cluster.

    Where the cluster comes from, in this order:

    - ``client``: a ``distributed.Client`` you made. Under asyncio an asynchronous
      client (``Client(..., asynchronous=True)``, made in the same event loop) is used
      as it is; a synchronous client tells the executor the scheduler's address, to
      which it connects a client of its own for the run;
    - ``address``: a Dask scheduler's address (``"tcp://10.0.0.5:8786"``), reached
      within ``connect_timeout`` seconds, else :class:`~jobgraph.ExecutorUnavailableError`;
    - neither: a ``LocalCluster`` started when the run starts and closed when it ends,
      built with ``cluster_options`` (default: loopback only, its HTTP server too on a
      free port, one thread per worker) and with the scheduler's ``allowed-failures``
      set to 0, so that a job whose worker dies fails at once with
      :class:`~jobgraph.WorkerLostError` and the job's own :class:`~jobgraph.Retry`
      policy decides.

    The body, its arguments and its result travel with ``cloudpickle``; a part that
    cannot be pickled fails the job with :class:`~jobgraph.SerializationError`. A
    cancelled job (its timeout, the scheduler's timeout, an abort) has its task
    cancelled on the cluster, and a busy pure-Python body is interrupted in its worker
    thread; the run does not wait for that. Under trio the (asyncio-based) client runs
    in an asyncio loop of its own in a thread.

    A :class:`~jobgraph.ResultOf` naming a job that ran on the same executor in the
    same run is passed from worker to worker by Dask (its ``transform`` applied on the
    worker); the result also comes back to the controller, for ``job.result()``.
    """

    resolves_placeholders = True

    def __init__(
        self,
        client: Client | None = None,
        address: str | None = None,
        *,
        connect_timeout: float = 10.0,
        **cluster_options: Any,
    ) -> None:
        super().__init__()
        if client is not None and address is not None:
            raise ExecutorError("DaskExecutor() takes a client or an address, not both")
        if address is not None and not isinstance(address, str):
            raise ExecutorError(f"DaskExecutor() address must be a string, not {address!r}")
        check_duration("DaskExecutor() connect_timeout", connect_timeout, allow_zero=False)
        self.given_client = client
        self.address = address
        self.connect_timeout = connect_timeout
        self.cluster_options: dict[str, Any] = {
            "host": "127.0.0.1",
            "dashboard_address": "127.0.0.1:0",  # loopback, a free port (None: 8787)
            "threads_per_worker": 1,
            "processes": True,
            **cluster_options,
        }
        self._portal: Portal | None = None
        self._client: Client | None = None
        self._own_client = False
        self._cluster: LocalCluster | None = None
        self._backend = "asyncio"
        self._cancelling: set[asyncio.Task[None]] = set()
        # results kept on the cluster for the jobs that use them (ResultOf), per record
        self._kept: dict[AbstractJob, tuple[JobRecord, Future[Any]]] = {}
        # finished tasks whose results are to be fetched, and the task fetching them
        self._to_fetch: list[_Call] = []
        self._fetcher: asyncio.Task[None] | None = None
        # calls to submit together, and the submitted ones by key, until their outcome
        self._prefix = uuid.uuid4().hex[:12]  # task keys: unique per executor, then counted
        self._count = itertools.count()
        self._to_submit: list[_Call] = []
        self._first_enqueued = self._last_enqueued = 0.0  # the client's loop clock
        self._calls: dict[str, _Call] = {}
        # where tasks send their messages (the client's id), and who listens to streams
        self._topic = ""
        self._streams: dict[str, Callable[[list[Any]], object]] = {}

    @property
    def client(self) -> Client:
        """The client in use (while a run uses the executor)."""
        if self._client is None:
            raise ExecutorError("DaskExecutor is not started: it starts with a run using it")
        return self._client

    @property
    def cluster(self) -> LocalCluster | None:
        """The LocalCluster the executor started, if it started one."""
        return self._cluster

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._backend = sniffio.current_async_library()
        portal = open_portal()
        try:
            await portal.run(self._open, self._backend == "trio")
        except BaseException:
            await portal.aclose()
            raise
        self._portal = portal

    async def _open(self, in_thread: bool) -> None:
        await self._connect(in_thread)
        self._subscribe()

    async def _connect(self, in_thread: bool) -> None:
        from distributed import Client, LocalCluster

        given = self.given_client
        if given is not None:
            if given.asynchronous:
                if in_thread:
                    raise ExecutorUnavailableError(
                        "DaskExecutor: an asynchronous Client belongs to an asyncio loop; "
                        "under trio give a synchronous Client or the scheduler's address"
                    )
                self._client, self._own_client = given, False
                return
            # (its address only: a blocking call on a synchronous client here would wait
            # for the loop we are running in)
            scheduler = given.scheduler
            if scheduler is None or scheduler.address is None:
                raise ExecutorUnavailableError(f"DaskExecutor: client {given!r} is not connected")
            address = str(scheduler.address)
        elif self.address is not None:
            address = self.address
        else:
            import dask

            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                try:
                    self._cluster = await LocalCluster(asynchronous=True, **self.cluster_options)
                except Exception as exc:
                    raise ExecutorUnavailableError(
                        f"DaskExecutor: cannot start a LocalCluster: {type(exc).__name__}: {exc}"
                    ) from exc
            self._client = await Client(self._cluster, asynchronous=True)
            self._own_client = True
            return
        try:
            self._client = await Client(address, asynchronous=True, timeout=self.connect_timeout)
        except Exception as exc:
            raise ExecutorUnavailableError(
                f"DaskExecutor: cannot reach the Dask scheduler at {address!r} within "
                f"{self.connect_timeout:g}s: {type(exc).__name__}: {exc}"
            ) from exc
        self._own_client = True

    def _subscribe(self) -> None:
        client = self.client
        self._topic = str(client.id)  # Dask drops a client's topic when the client goes
        client.subscribe_topic(self._topic, self._on_event)

    async def stop(self) -> None:
        portal, self._portal = self._portal, None
        if portal is None:
            return
        try:
            await portal.run(self._disconnect)
        finally:
            await portal.aclose()

    async def _disconnect(self) -> None:
        self._kept.clear()  # releases the results kept on the cluster
        self._calls.clear()
        self._streams.clear()
        if self._client is not None and self._topic:
            with contextlib.suppress(Exception):
                self._client.unsubscribe_topic(self._topic)
        if self._cancelling:  # let the cancellations reach the cluster first (at most 5 s)
            await asyncio.wait(set(self._cancelling), timeout=5)
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None and self._own_client:
                await client.close()
        finally:
            if cluster is not None:
                await cluster.close()  # type: ignore[misc]

    # -- running a body ------------------------------------------------------------------
    # The run's side (``call``, ``_started``, ``_wake``) and the client's side (the rest)
    # talk through the portal's post/post_back: plain calls under asyncio, batched
    # thread hops under trio.
    async def call(
        self,
        job: AbstractJob,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> Any:
        self.check_active(job)
        portal = self._portal
        assert portal is not None
        inputs: list[Future[Any]] = []

        def refer(placeholder: ResultOf) -> Any:
            # a result still on the cluster goes from worker to worker, not through here
            kept = self._kept.get(placeholder.job)
            if kept is not None and kept[0] is record_of(placeholder.job):
                inputs.append(kept[1])
                return Remote(len(inputs) - 1, placeholder.transform)
            return placeholder.resolve(job)

        args = resolve_placeholders(args, job, refer)
        kwargs = resolve_placeholders(dict(kwargs), job, refer)
        payload = serialize_call(job, function, args, kwargs, cloudpickle.dumps)
        key = f"jobgraph-{_UNSAFE.sub('_', job.label)[:40]}-{self._prefix}-{next(self._count)}"
        call = _Call(job, key, payload, inputs)
        portal.post(self._enqueue, call)
        try:
            await call.done.wait()
        except BaseException:  # cancelled (a timeout, an abort): cancel on the cluster
            if call.outcome is None:
                call.cancelled = True
                portal.post(self._cancel_call, call)
            raise
        assert call.outcome is not None
        where, ok, value = call.outcome
        record = record_of(job)
        record.worker = where
        if ok:
            future = call.future
            if record.successors and future is not None:  # jobs to come may use it: keep it
                self._kept[job] = (record, future)
            return value
        if isinstance(value, _Lost):
            raise WorkerLostError(job, where, value.detail)
        if isinstance(value, BaseException):
            raise value
        raise ExecutorError(f"job {job.label!r}: unexpected outcome from Dask: {value!r}")

    def _wake(self, call: _Call) -> None:
        """In the run's loop: the call has its outcome."""
        call.done.set()

    def _started(self, started: tuple[_Call, str]) -> None:
        """In the run's loop: the call's task runs on a worker (and still did lately)."""
        call, where = started
        if call.outcome is None and not call.cancelled:
            record_of(call.job).worker = where
            emit_note(call.job, "running", worker=where)

    def _enqueue(self, call: _Call) -> None:
        """Submit the call with the others enqueued within ``_SUBMIT_DELAY``: one
        ``client.map`` (one message to the scheduler) for all of them."""
        if call.cancelled:
            return
        loop = asyncio.get_running_loop()
        self._last_enqueued = loop.time()
        self._to_submit.append(call)
        if len(self._to_submit) == 1:
            # the run loop starts about one job per turn: a burst of jobs starting goes
            # in one message, sent once no job came for _SUBMIT_DELAY (or the burst
            # lasted _SUBMIT_MAX)
            self._first_enqueued = self._last_enqueued
            loop.call_later(_SUBMIT_DELAY, self._flush_when_quiet)

    def _flush_when_quiet(self) -> None:
        if not self._to_submit:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        quiet_at = self._last_enqueued + _SUBMIT_DELAY
        if now >= quiet_at or now >= self._first_enqueued + _SUBMIT_MAX:
            self._flush()
        else:
            loop.call_at(min(quiet_at, self._first_enqueued + _SUBMIT_MAX), self._flush_when_quiet)

    def _flush(self) -> None:
        batch, self._to_submit = self._to_submit, []
        live = [call for call in batch if not call.cancelled]
        if not live:
            return
        try:
            futures = self.client.map(
                run_on_worker,
                [call.payload for call in live],
                [self._backend] * len(live),
                [call.key for call in live],
                [call.inputs for call in live],  # Dask brings their results along
                [self._topic] * len(live),
                key=[call.key for call in live],
                pure=False,
            )
        except Exception as exc:  # noqa: BLE001 - handed to every job of the batch
            for call in live:
                self._resolve(call, ("a Dask worker", False, exc))
            return
        calls = self._calls
        for call, future in zip(live, futures, strict=True):
            call.future = future
            call.payload = b""  # sent: no need to hold it
            calls[call.key] = call
            call.watcher = asyncio.ensure_future(self._watch(call))

    def _resolve(self, call: _Call, outcome: tuple[str, bool, Any]) -> None:
        """In the client's loop: the call's outcome is known; wake its job."""
        if call.outcome is not None:
            return
        call.outcome = outcome
        self._calls.pop(call.key, None)
        portal = self._portal
        if portal is not None:
            portal.post_back(self._wake, call)

    def _on_event(self, event: tuple[float, Any]) -> None:
        """In the client's loop: a message from a task (see ``_remote.py``)."""
        message = event[1]
        if not isinstance(message, list | tuple) or not message:
            return  # the scheduler's own events about this client
        kind = message[0]
        if kind == "r":
            calls = self._calls
            for key, where, ok, pickled in message[1]:
                call = calls.get(key)
                if call is None or call.outcome is not None:
                    continue
                try:
                    value = cloudpickle.loads(pickled)
                except Exception:
                    logger.debug("outcome of %s does not unpickle here", key, exc_info=True)
                    continue  # fetched from Dask instead
                self._resolve(call, (where, ok, value))
        elif kind == "s":
            _, where, keys = message
            portal = self._portal
            for key in keys:
                call = self._calls.get(key)
                if call is not None and portal is not None:
                    portal.post_back(self._started, (call, where))
        elif kind == "e":
            listener = self._streams.get(message[1])
            portal = self._portal
            if listener is not None and portal is not None:
                portal.post_back(listener, list(message))

    async def _watch(self, call: _Call) -> None:
        """In the client's loop: the task's outcome, when no event brought it (a big
        result, a failure of Dask's own, a lost worker, a cancelled task)."""
        from distributed.client import FutureCancelledError, _wait
        from distributed.scheduler import KilledWorker

        future = call.future
        assert future is not None
        # distributed.wait() would pick the process's default client, which may be a
        # synchronous one: its coroutine waits on the future's own client
        with contextlib.suppress(Exception):  # a cancelled task raises: handled below
            await _wait([future])
        if call.outcome is not None:
            return
        if future.status == "finished":
            # fetched with the others that finished meanwhile (one gather for all, as
            # client.gather does for a list), rather than one request each
            self._to_fetch.append(call)
            if self._fetcher is None or self._fetcher.done():
                self._fetcher = asyncio.ensure_future(self._fetch())
            return
        try:
            await future  # raises what the task raised, or its cancellation
        except KilledWorker as exc:
            self._resolve(call, ("a Dask worker", False, _Lost(str(exc))))
        except FutureCancelledError as exc:
            self._resolve(call, ("a Dask worker", False, ExecutorError(f"Dask: {exc}")))
        except Exception as exc:  # noqa: BLE001 - Dask's own failure (not the body's)
            self._resolve(call, ("a Dask worker", False, exc))
        else:  # finished after all
            self._to_fetch.append(call)
            if self._fetcher is None or self._fetcher.done():
                self._fetcher = asyncio.ensure_future(self._fetch())

    async def _fetch(self) -> None:
        while self._to_fetch:
            batch, self._to_fetch = self._to_fetch, []
            batch = [call for call in batch if call.outcome is None]
            client = self._client
            if client is None or not batch:
                continue
            try:
                values = await client.gather([call.future for call in batch])
            except Exception:  # noqa: BLE001 - one of them failed: fetch them one by one
                for call in batch:
                    if call.outcome is not None or call.future is None:
                        continue
                    try:
                        self._resolve(call, await call.future)
                    except Exception as exc:  # noqa: BLE001 - handed to the job's caller
                        self._resolve(call, ("a Dask worker", False, exc))
                continue
            for call, value in zip(batch, values, strict=True):
                self._resolve(call, value)

    def _cancel_call(self, call: _Call) -> None:
        """In the client's loop: the job was cancelled; so is its task."""
        future = call.future
        if future is None:
            return  # not submitted yet: _flush skips it
        self._calls.pop(call.key, None)
        if call.watcher is not None:
            call.watcher.cancel()
        # cancel on the cluster in the background: the caller does not wait
        task = asyncio.ensure_future(self._cancel(future, call.key))
        self._cancelling.add(task)
        task.add_done_callback(self._cancelling.discard)

    # -- streams of events from tasks (Shard) ------------------------------------------
    def open_stream(self, listener: Callable[[list[Any]], object]) -> tuple[str, str]:
        """Have ``listener(message)`` called in the run's loop for every ``"e"`` message
        of the stream returned: ``(topic, stream id)``, for the task to send to."""
        stream = f"{self._prefix}-{next(self._count)}"
        self._streams[stream] = listener
        return self._topic, stream

    def close_stream(self, stream: str) -> None:
        """Stop listening to ``stream`` (messages still on their way are dropped)."""
        self._streams.pop(stream, None)

    async def _cancel(self, future: Future[Any], key: str) -> None:
        client = self._client
        if client is None:
            return
        try:
            await client.cancel([future], force=True)  # not started: it never will
            await client.run(interrupt, key, on_error="ignore")  # started: interrupt it
        except Exception:
            logger.debug("cancelling Dask task %s failed", key, exc_info=True)

    def __repr__(self) -> str:
        if self.address is not None:
            return f"DaskExecutor(address={self.address!r})"
        if self.given_client is not None:
            return f"DaskExecutor(client={self.given_client!r})"
        return "DaskExecutor()"
