"""Shard: a nested scheduler sent whole to a Dask worker, its events streamed back
while it runs, its outcome merged back when it ends.

On the worker, a subscriber of the shard's run collects its events (those of the inner
jobs) and sends them in batches (every ``STREAM_INTERVAL`` seconds, or as soon as
``STREAM_BATCH`` are waiting: never more in memory) as Dask events; on the controller
the shard relays each one to the subscribers of the enclosing run
(:func:`jobgraph.lowlevel.relay_event`) and updates the inner job's record. The records
merged at the end replace those; no event is delivered twice (each batch is sent once,
and batches still on their way when the shard's task ends are dropped).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import anyio
import cloudpickle
import sniffio

from jobgraph import (
    AbstractJob,
    CriticalJobError,
    EventKind,
    JobDefinitionError,
    JobEvent,
    JobRecord,
    Scheduler,
    SchedulerTimeoutError,
    TaskStatusLike,
)
from jobgraph.lowlevel import JobState, record_of, relay_event, set_record

from ._executor import DaskExecutor
from ._remote import current_worker, send

__all__ = ["Shard"]

STREAM_INTERVAL = 0.05  # seconds between two batches of a shard's events
STREAM_BATCH = 500  # events waiting on the worker that make a batch go at once

# one event on its way: kind, job index, scheduler index (-1: the shard), time on the
# worker's clock, exception, attempt, delay, note, data
_Wire = tuple[str, int, int, float, BaseException | None, int, float, str, dict[str, Any] | None]


@dataclass
class _Outcome:
    """What a shard's run on a worker sends back."""

    ok: bool
    started_at: float | None
    records: list[JobRecord] = field(default_factory=list)
    # the failure, with its jobs as indices into the shard's job list (-1: the shard)
    failure: BaseException | None = None
    failure_job: int | None = None
    failure_scheduler: int | None = None


def _tree(shard: Scheduler) -> list[AbstractJob]:
    """Every job of the shard at any depth (nested schedulers first): the same order on
    the controller and on the worker."""
    return list(shard.iterate_jobs(scan_schedulers=True))


class _Sender:
    """On the worker: collects the shard's events and sends them in batches."""

    def __init__(
        self, shard: Shard, jobs: list[AbstractJob], where: str, topic: str, stream: str
    ) -> None:
        self.shard = shard
        self.index = {job: number for number, job in enumerate(jobs)}
        self.index[shard] = -1
        self.where = where
        self.topic = topic
        self.stream = stream
        self.waiting: list[_Wire] = []

    def __call__(self, event: JobEvent) -> None:
        job = self.index.get(event.job)
        scheduler = self.index.get(event.scheduler)
        if job is None or scheduler is None or job == -1:
            return  # the shard's own run starting and ending: the enclosing run says it
        data = dict(event.data) if event.data else None
        self.waiting.append(
            (
                event.kind.value,
                job,
                scheduler,
                event.time,
                event.exception,
                event.attempt,
                event.delay,
                event.note,
                data,
            )
        )
        if len(self.waiting) >= STREAM_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.waiting:
            return
        batch, self.waiting = self.waiting, []
        try:
            pickled = cloudpickle.dumps(batch)
        except Exception:  # noqa: BLE001 - an exception or a note's data does not pickle
            pickled = cloudpickle.dumps([_plain(wire) for wire in batch])
        origin = record_of(self.shard).started_at
        send(self.topic, ["e", self.stream, self.where, origin, pickled])

    async def run(self) -> bool:
        unsubscribe = Scheduler.subscribe(self.shard, self)
        ok = False
        try:
            async with anyio.create_task_group() as tg:

                async def every() -> None:
                    while True:
                        await anyio.sleep(STREAM_INTERVAL)
                        self.flush()

                tg.start_soon(every)
                try:
                    ok = await self.shard.run()
                finally:
                    tg.cancel_scope.cancel()
        finally:
            unsubscribe()
            self.flush()
        return ok


def _plain(wire: _Wire) -> _Wire:
    """The event with what may not pickle replaced by text."""
    kind, job, scheduler, when, exception, attempt, delay, note, data = wire
    if exception is not None:
        try:
            cloudpickle.dumps(exception)
        except Exception:  # noqa: BLE001 - its text will do
            exception = RuntimeError(f"{type(exception).__name__}: {exception}")
    if data is not None:
        data = {str(name): repr(value) for name, value in data.items()}
    return kind, job, scheduler, when, exception, attempt, delay, note, data


def run_shard(
    shard: Shard, backend: str, topic: str | None = None, stream: str | None = None
) -> _Outcome:
    """On the worker: run the shard as a top-level scheduler (streaming its events to
    ``topic`` if given), return its records."""
    shard.reset()
    jobs = _tree(shard)
    where = current_worker()
    if topic is None or stream is None:
        ok = anyio.run(shard.run, backend=backend)
    else:
        ok = anyio.run(_Sender(shard, jobs, where, topic, stream).run, backend=backend)
    records = [record_of(job) for job in jobs]
    for record in records:
        if record.worker is None:
            record.worker = where
    outcome = _Outcome(ok, record_of(shard).started_at, records)
    failure = shard.failure
    if failure is not None:
        index = {job: number for number, job in enumerate(jobs)}
        index[shard] = -1
        outcome.failure = failure
        if isinstance(failure, CriticalJobError):
            outcome.failure_job = index.get(failure.job)
            outcome.failure_scheduler = index.get(failure.scheduler)
        elif isinstance(failure, SchedulerTimeoutError):
            outcome.failure_scheduler = index.get(failure.scheduler)
    return outcome


class Shard(Scheduler):
    """A nested scheduler that runs whole on one worker of a Dask cluster.

    ``Shard(*jobs, executor=DaskExecutor(...), **scheduler_options)``: when the
    enclosing run reaches it, the shard and its jobs are pickled to a worker, which runs
    it as a scheduler of its own (its jobs in the worker's event loop, its window and
    timeout applied there); the records of every job come back and replace the local
    ones, so listings, reports, timelines and ``why()`` see every inner job, and each
    inner job's ``worker`` names the worker. If the inner run fails, the shard raises
    the same error as a nested scheduler would (naming the local jobs), so a critical
    shard aborts the enclosing run.

    While the shard runs, the events of its jobs stream back (in batches, every 50 ms
    or so): the subscribers of the enclosing run (a live progress view...) see the
    inner jobs start and end as they do, and the inner jobs' records follow. Its jobs
    may not require jobs outside the shard.
    """

    def __init__(self, *jobs: Any, executor: DaskExecutor, **options: Any) -> None:
        if not isinstance(executor, DaskExecutor):
            raise JobDefinitionError(f"Shard() needs a DaskExecutor, not {executor!r}")
        super().__init__(*jobs, executor=executor, **options)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["executor"] = None  # on the worker, inner jobs run in its event loop
        state["_requires"] = {}  # requirements on the enclosing scheduler's jobs stay here
        # its record stays too: it names the jobs of the enclosing run that follow it
        state["_record"] = JobRecord()
        return state

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        del status, run
        executor = self.executor
        assert isinstance(executor, DaskExecutor)
        backend = sniffio.current_async_library()
        jobs = _tree(self)
        if record_of(self).attempts > 1:  # retried: what the last attempt streamed goes
            for job in jobs:
                set_record(job, JobRecord())
        topic, stream = executor.open_stream(functools.partial(self._relay, jobs))
        try:
            outcome: _Outcome = await executor.call(
                self, run_shard, (self, backend, topic, stream), {}
            )
        finally:
            executor.close_stream(stream)
        self._merge(outcome)
        if outcome.failure is not None:
            raise outcome.failure
        return outcome.ok

    def _relay(self, jobs: list[AbstractJob], message: list[Any]) -> None:
        """In the run's loop: a batch of the inner run's events."""
        _, _, where, origin, pickled = message
        batch: list[_Wire] = cloudpickle.loads(pickled)
        here = record_of(self).started_at
        offset = 0.0 if here is None or origin is None else here - origin
        for kind_name, index, scheduler_index, then, exception, attempt, delay, note, data in batch:
            kind = EventKind(kind_name)
            job = jobs[index]
            scheduler = self if scheduler_index == -1 else jobs[scheduler_index]
            when = then + offset
            _follow(record_of(job), kind, when, where, exception)
            details: Mapping[str, Any] | None = None if data is None else MappingProxyType(data)
            relay_event(
                self,
                kind,
                job,
                scheduler,
                when,
                exception=exception,
                attempt=attempt,
                delay=delay,
                note=note,
                data=details,
            )

    def _merge(self, outcome: _Outcome) -> None:
        jobs = _tree(self)
        if len(jobs) != len(outcome.records):
            raise JobDefinitionError(
                f"shard {self.label!r} came back with {len(outcome.records)} records for "
                f"{len(jobs)} jobs"
            )
        # worker clock -> this run's clock, aligned on the shard's start
        here = self.record.started_at
        offset = 0.0 if here is None or outcome.started_at is None else here - outcome.started_at
        for job, record in zip(jobs, outcome.records, strict=True):
            for name in ("scheduled_at", "started_at", "ended_at"):
                when = getattr(record, name)
                if when is not None:
                    setattr(record, name, when + offset)
            set_record(job, record)
        failure = outcome.failure
        if failure is None:
            self._failure = None
            return

        def local(index: int | None) -> Any:
            return self if index is None or index == -1 else jobs[index]

        if isinstance(failure, CriticalJobError) and outcome.failure_job is not None:
            rebuilt: BaseException = CriticalJobError(
                jobs[outcome.failure_job], failure.exception, local(outcome.failure_scheduler)
            )
            rebuilt.__cause__ = failure.exception
        elif isinstance(failure, SchedulerTimeoutError):
            rebuilt = SchedulerTimeoutError(local(outcome.failure_scheduler), failure.timeout)
        else:
            rebuilt = failure
        outcome.failure = rebuilt
        self._failure = rebuilt


def _follow(
    record: JobRecord, kind: EventKind, when: float, where: str, exception: BaseException | None
) -> None:
    """Bring an inner job's local record up to an event of the remote run."""
    if kind is EventKind.SCHEDULED:
        record.state = JobState.SCHEDULED
        record.scheduled_at = when
    elif kind is EventKind.STARTED:
        record.state = JobState.RUNNING
        record.started_at = when
        record.worker = where
    elif kind in (EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED):
        record.state = JobState.DONE
        record.ended_at = when
        record.exception = exception
        record.cancelled = kind is EventKind.CANCELLED
    elif kind is EventKind.SKIPPED:
        record.state = JobState.SKIPPED
        record.ended_at = when
