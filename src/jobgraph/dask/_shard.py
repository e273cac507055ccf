"""Shard: a nested scheduler sent whole to a Dask worker, its outcome merged back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import sniffio

from jobgraph import (
    AbstractJob,
    CriticalJobError,
    JobDefinitionError,
    JobRecord,
    Scheduler,
    SchedulerTimeoutError,
    TaskStatusLike,
)
from jobgraph.lowlevel import record_of, set_record

from ._executor import DaskExecutor
from ._remote import current_worker

__all__ = ["Shard"]


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


def run_shard(shard: Shard, backend: str) -> _Outcome:
    """On the worker: run the shard as a top-level scheduler, return its records."""
    shard.reset()
    ok = anyio.run(shard.run, backend=backend)
    jobs = _tree(shard)
    where = current_worker()
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

    Events of the inner jobs are not streamed back: subscribers see the shard start and
    end. Its jobs may not require jobs outside the shard.
    """

    def __init__(self, *jobs: Any, executor: DaskExecutor, **options: Any) -> None:
        if not isinstance(executor, DaskExecutor):
            raise JobDefinitionError(f"Shard() needs a DaskExecutor, not {executor!r}")
        super().__init__(*jobs, executor=executor, **options)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["executor"] = None  # on the worker, inner jobs run in its event loop
        state["_requires"] = {}  # requirements on the enclosing scheduler's jobs stay here
        return state

    async def _invoke(self, status: TaskStatusLike, run: Any) -> Any:
        del status, run
        executor = self.executor
        assert isinstance(executor, DaskExecutor)
        backend = sniffio.current_async_library()
        outcome: _Outcome = await executor.call(self, run_shard, (self, backend), {})
        self._merge(outcome)
        if outcome.failure is not None:
            raise outcome.failure
        return outcome.ok

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
